"""Consistency check of a project's stores: every referenced blob present and intact, every row
pointing at a row that exists."""

from __future__ import annotations

import contextlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from loopline.core.errors import LooplineError
from loopline.store.artifacts import load_manifest
from loopline.store.blobs import BlobStore
from loopline.store.metadata import MetadataStore


@dataclass
class FsckReport:
    blobs_checked: int = 0
    missing: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)
    dangling: list[str] = field(default_factory=list)
    temp_files: list[str] = field(default_factory=list)  # leftovers of killed writes: not damage
    removed_temp_files: int = 0

    @property
    def ok(self) -> bool:
        return not (self.missing or self.corrupt or self.dangling)

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "blobs_checked": self.blobs_checked,
            "missing": self.missing,
            "corrupt": self.corrupt,
            "dangling": self.dangling,
            "temp_files": len(self.temp_files),
            "removed_temp_files": self.removed_temp_files,
        }


# A temp file younger than this may belong to a write in progress in another process.
TEMP_GRACE_SECONDS = 600


def referenced(meta: MetadataStore, blobs: BlobStore, unreadable: list[str]) -> list[tuple[str, str]]:
    """(what refers, blob key) for every blob the metadata points at, the members of blob sets
    included (their manifests read from `blobs`); a manifest that cannot be read goes to
    unreadable."""
    refs = meta.blob_references()
    for art in meta.all_artifacts():
        if art.kind == "blobs" and blobs.verify(art.blob):
            try:
                refs += [(f"{e.path} in blob set {art.id[:12]}", e.blob) for e in load_manifest(blobs, art)]
            except LooplineError as exc:
                unreadable.append(f"manifest of {art.id[:12]}: {exc.message}")
    return refs


def fsck(meta: MetadataStore, blobs: BlobStore, *, repair: bool = False) -> FsckReport:
    """Check every reference; with `repair`, remove temp files left by killed writes."""
    report = FsckReport(dangling=meta.dangling_references())
    report.temp_files = blobs.leftover_temp_files(TEMP_GRACE_SECONDS)
    if repair:
        for path in report.temp_files:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
                report.removed_temp_files += 1
    refs = referenced(meta, blobs, report.corrupt)
    unique = list(dict.fromkeys(digest for _, digest in refs))
    with ThreadPoolExecutor(max_workers=16) as pool:  # a remote store's round trips overlap
        intact = dict(zip(unique, pool.map(blobs.verify, unique), strict=True))
    report.blobs_checked = len(unique)
    present = {d: blobs.exists(d) for d, ok in intact.items() if not ok}
    for owner, digest in refs:
        if not intact[digest]:
            (report.corrupt if present[digest] else report.missing).append(f"blob {digest[:12]} of {owner}")
    return report
