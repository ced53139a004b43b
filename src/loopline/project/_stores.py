"""What every facade of Project uses: the project's file, settings and stores (set by Project)."""

from __future__ import annotations

import importlib
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loopline.core.settings import Settings
    from loopline.core.types import Artifact
    from loopline.pipeline.config import ProjectFile
    from loopline.pipeline.runner import Runner
    from loopline.store.blobs import FsspecBlobStore
    from loopline.store.metadata import MetadataStore


class Stores:
    """Mixed into each facade; Project sets these when it opens."""

    file: ProjectFile
    root: Path
    settings: Settings
    meta: MetadataStore
    blobs: FsspecBlobStore
    runner: Runner

    if TYPE_CHECKING:  # defined by DataFacade and Project, used by the others

        def _peeking(self) -> bool: ...
        def resolve(self, ref: str) -> Artifact: ...
        def load(self, ref: str) -> Any: ...


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
