"""`loopline push` and `pull`: a project's blobs copied to and from a remote blob store by content
hash, as DVC's push and pull do. Only what the other side lacks moves; every blob is checked
against its key on the way; each lands whole or not at all, so a transfer that is killed is
resumed by running it again (what arrived is not sent twice).

Push sends every blob the project's metadata points at; pull fetches the ones missing here, which
makes sense for a project whose metadata is shared (a team's PostgreSQL) while its blobs folder
is this machine's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from loopline.core.errors import InvalidInput
from loopline.store.blobs import BlobStore, LocalBlobStore
from loopline.store.blobs_remote import Progress, RemoteBlobStore
from loopline.store.fsck import referenced
from loopline.store.metadata import MetadataStore


@dataclass
class TransferReport:
    direction: str  # "push" or "pull"
    remote: str
    referenced: int = 0  # distinct blobs the metadata points at
    copied: int = 0
    bytes: int = 0
    already: int = 0  # on the receiving side before the transfer
    missing: list[str] = field(default_factory=list)  # wanted, but the sending side lacks them
    unreadable: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unreadable)

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "direction": self.direction,
            "remote": self.remote,
            "referenced": self.referenced,
            "copied": self.copied,
            "bytes": self.bytes,
            "already": self.already,
            "missing": self.missing,
            "unreadable": self.unreadable,
            "seconds": round(self.seconds, 3),
        }


def _local(blobs: BlobStore, what: str) -> LocalBlobStore:
    if not isinstance(blobs, LocalBlobStore):
        raise InvalidInput(
            f"{what} blobs are at {blobs.url}, not in a local folder: there is nothing to push or pull",
            hint="push and pull move blobs between a project's local folder and a shared store",
        )
    return blobs


def push(
    meta: MetadataStore, blobs: BlobStore, remote: BlobStore, on_progress: Progress | None = None
) -> TransferReport:
    """Send the referenced blobs the remote lacks."""
    started = time.perf_counter()
    local = _local(blobs, "this project's")
    report = TransferReport("push", remote.url)
    refs = referenced(meta, local, report.unreadable)
    wanted = list(dict.fromkeys(digest for _, digest in refs))
    report.referenced = len(wanted)
    here = [d for d in wanted if local.exists(d)]
    report.missing = _missing(refs, set(wanted) - set(here))
    counter = _Counter(report, on_progress)
    items = [(local.local_path(d), d) for d in here]
    if isinstance(remote, RemoteBlobStore):
        remote.put_files(items, progress=counter)
    else:
        counter(remote.put_files(items), 0)
    report.already = len(here) - report.copied
    report.seconds = time.perf_counter() - started
    return report


def pull(
    meta: MetadataStore, blobs: BlobStore, remote: BlobStore, on_progress: Progress | None = None
) -> TransferReport:
    """Fetch the referenced blobs missing here (blob-set manifests first, then their members)."""
    started = time.perf_counter()
    local = _local(blobs, "this project's")
    report = TransferReport("pull", remote.url)
    counter = _Counter(report, on_progress)
    # The manifests of blob sets name their members: fetch them first, then read them here.
    manifests = [a.blob for a in meta.all_artifacts() if a.kind == "blobs"]
    there = _present(remote, manifests)
    _fetch(remote, local, [d for d in manifests if d in there], counter)
    refs = referenced(meta, local, report.unreadable)
    wanted = list(dict.fromkeys(digest for _, digest in refs))
    report.referenced = len(wanted)
    absent = [d for d in wanted if not local.exists(d)]
    report.already = len(wanted) - len(absent) - report.copied
    on_remote = _present(remote, absent)
    report.missing = _missing(refs, set(absent) - on_remote)
    _fetch(remote, local, [d for d in absent if d in on_remote], counter)
    report.seconds = time.perf_counter() - started
    return report


def _missing(refs: list[tuple[str, str]], lacking: set[str]) -> list[str]:
    """A line for each blob the sending side lacks, naming its first holder, in reference order."""
    first: dict[str, str] = {}
    for owner, digest in refs:
        first.setdefault(digest, owner)
    return [f"blob {d[:12]} of {owner}" for d, owner in first.items() if d in lacking]


def _present(remote: BlobStore, digests: list[str]) -> set[str]:
    if isinstance(remote, RemoteBlobStore):
        return remote.present(digests)
    return {d for d in digests if remote.exists(d)}


def _fetch(remote: BlobStore, local: LocalBlobStore, digests: list[str], counter: _Counter) -> None:
    if isinstance(remote, RemoteBlobStore):
        remote.fetch(digests, local, progress=counter)
    elif isinstance(remote, LocalBlobStore):
        # put_files checks each file against its key as it copies it: no verification first
        counter(local.put_files([(remote.local_path(d), d) for d in digests]), 0)


class _Counter:
    """Counts what arrived into the report and passes it on to the caller's progress display."""

    def __init__(self, report: TransferReport, on_progress: Progress | None) -> None:
        self.report, self.on_progress = report, on_progress

    def __call__(self, objects: int, size: int) -> None:
        self.report.copied += objects
        self.report.bytes += size
        if self.on_progress is not None:
            self.on_progress(objects, size)
