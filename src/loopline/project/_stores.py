"""What every facade of Project uses: the project's file, settings and stores (set by Project)."""

from __future__ import annotations

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
