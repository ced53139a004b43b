"""What every part of a Project shares: its loopline.yaml, settings and stores, opened when first
used. The stores, the runner and what they import (SQLAlchemy, fsspec, the pipeline) load
lazily: a listing answered by peek.py never needs them, and `loopline runs` must start fast."""

from __future__ import annotations

import importlib
import threading
from functools import cached_property
from typing import TYPE_CHECKING, Any

from loopline.core.errors import NotFound
from loopline.core.ids import ArtifactRef
from loopline.core.settings import Settings

if TYPE_CHECKING:
    from loopline.core.types import Artifact
    from loopline.pipeline.config import ProjectFile
    from loopline.pipeline.runner import Runner
    from loopline.registry import Registry
    from loopline.store.blobs import BlobStore
    from loopline.store.metadata import MetadataStore
    from loopline.store.predictions import PredictionLog


class Stores:
    """One per Project, handed to each of its parts (runs, data, models, monitor, annotate)."""

    def __init__(self, file: ProjectFile, environ: dict[str, str]) -> None:
        self.file = file
        self.root = file.path.parent
        self.settings = Settings.build(self.root, file.project, environ)

    @cached_property
    def meta(self) -> MetadataStore:
        from loopline.store.metadata import MetadataStore
        from loopline.store.metadata.audit import append

        # Every write also appends its audit event, in the same transaction (docs/audit.md).
        return MetadataStore(self.settings.store_url, actor=self.settings.user, journal=append)

    @cached_property
    def blobs(self) -> BlobStore:
        """The project's blobs: a local folder, or a shared remote store (s3://…) read through a
        cache folder beside the project."""
        from loopline.store.blobs import open_blob_store

        return open_blob_store(self.settings.blobs_url, cache=self.settings.blob_cache)

    @cached_property
    def runner(self) -> Runner:
        return self.runner_on(self.meta)

    def runner_on(self, meta: MetadataStore) -> Runner:
        """A Runner on these blobs and `meta` (the store, or a peek.Snapshot standing in for it),
        handed the stage wiring the engine asks while it runs."""
        from loopline.pipeline.runner import Runner
        from loopline.wiring.collect import run_source
        from loopline.wiring.evaluate import baseline_input

        return Runner(
            meta, self.blobs, self.root, self.settings.stat_cache, collect=run_source, baseline=baseline_input
        )

    @cached_property
    def registry(self) -> Registry:
        """Model versions, aliases and the promotion policy of loopline.yaml's `registry:`."""
        from loopline.registry import Policy, Registry

        policy = Policy.from_config(self.file.registry, self.file.where("registry"))
        return Registry(self.meta, self.blobs, policy, self.settings.user)

    @cached_property
    def predictions(self) -> PredictionLog:
        """Served predictions and their ground truth (serve writes, monitor reads)."""
        from loopline.store.predictions import PredictionLog

        return PredictionLog(self.meta, self.blobs)

    def peeking(self) -> bool:
        """Whether a listing may be read with peek.py: only while the full store is not open (a
        process that has it, like the server, asks it)."""
        return "meta" not in self.__dict__

    def close(self) -> None:
        if "meta" in self.__dict__:
            self.meta.close()

    def resolve(self, ref: str) -> Artifact:
        """An artifact by id (or prefix), NAME (its latest version) or NAME@VERSION."""
        parsed = ArtifactRef.parse(ref)
        if parsed.id_prefix:
            try:
                return self.meta.get_artifact(parsed.id_prefix)
            except NotFound:
                if self.meta.latest_version(parsed.id_prefix) is None:
                    raise
                return self.meta.get_version(parsed.id_prefix)
        assert parsed.name is not None
        return self.meta.get_version(parsed.name, parsed.version)

    def load(self, ref: str) -> Any:
        from loopline.store.artifacts import load_value

        return load_value(self.blobs, self.resolve(ref))


def preload(*modules: str) -> None:
    """Import modules in a thread, for a caller that will need them after work waiting on the
    disk (a first `add` copies its files for seconds; SQLAlchemy and Polars take a good part of
    a second to import, which then costs nothing). Not a daemon: the interpreter lets an import
    finish rather than stop it halfway; an import error is left to the caller's own import."""

    def load() -> None:
        for module in modules:
            try:
                importlib.import_module(module)
            except Exception:  # the caller's import raises it again, where it is handled
                return

    threading.Thread(target=load, name="loopline-preload").start()
