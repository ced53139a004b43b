"""The two stages the engine must ask while it runs, handed in by whoever builds the Runner (the
Project, from loopline.wiring): the wiring sits above the engine, so the engine never imports it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from loopline.collect.spec import SourceSpec
    from loopline.core.types import Artifact
    from loopline.store.blobs import BlobStore
    from loopline.store.metadata import MetadataStore


class CollectSource(Protocol):
    """Collect one source: (values per output, new source state, report figures, details);
    loopline.wiring.collect.run_source."""

    def __call__(
        self,
        spec: SourceSpec,
        meta: MetadataStore,
        blobs: BlobStore,
        root: Path,
        stat_cache: Path,
        run_id: str,
        scratch: Path,
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, float], dict[str, Any]]: ...


class FindBaseline(Protocol):
    """An evaluate step's `no_regression` baseline as (slot, model artifact), or None;
    loopline.wiring.evaluate.baseline_input."""

    def __call__(
        self,
        meta: MetadataStore,
        uses: str,
        params: Mapping[str, Any],
        inputs: Mapping[str, Artifact],
        args: Mapping[str, str],
    ) -> tuple[str, Artifact] | None: ...
