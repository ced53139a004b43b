"""Content-addressed blob store in a local folder; `open_blob_store` picks it or the remote one
(blobs_remote.py, S3 through s3fs) by URL.

A blob's key is the BLAKE3 hash of its bytes, stored at `ab/abcd…` under the root (one level of
256 folders, as DVC does: far fewer folders to create than two levels). Writes are atomic (temp
file in the same folder tree, made durable, then renamed), so a killed process leaves no half
blob; reads verify the hash, so a blob changed on disk is detected and never served.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import blake3

from loopline.core.errors import Integrity, NotFound, StorageError
from loopline.core.hashing import hash_bytes, hash_file
from loopline.store.blob_writes import TMP_DIR, WriteBatch

# The Protocol lives with the other stores' contracts; importers of this module keep finding it here.
from loopline.store.contracts.blobs import BlobStore as BlobStore
from loopline.store.contracts.blobs import StatKey as StatKey

if TYPE_CHECKING:
    from loopline.store.blobs_remote import RemoteBlobStore

_HEX = frozenset("0123456789abcdef")
_READ = 1 << 20  # a streamed read hands out chunks of this size
_REPAIR_HINT = (
    "write its original bytes back (storing them again, or re-running the step that made it with"
    " --no-cache, replaces the damaged file); `loopline fsck` lists every such blob"
)


def local_root(url: str) -> str | None:
    """The absolute folder of a local path or file:// URL, else None (a remote URL)."""
    path = url.removeprefix("file://")
    if "::" in path or "://" in path or os.sep != "/":
        return None
    return os.path.abspath(path).rstrip("/") or "/"


def blob_path(root: str, digest: str) -> str:
    """Where a key lives under a store's root (`ab/abcd…`, in a folder or a bucket); a malformed
    key is NotFound."""
    if len(digest) != 64 or not _HEX.issuperset(digest):
        raise NotFound(f"{digest!r} is not a blob key", hint="blob keys are 64 hex digits")
    return f"{root}/{digest[:2]}/{digest}"


class LocalBlobStore:
    """Blob store in a local folder (a path or file:// URL)."""

    def __init__(self, url: str) -> None:
        self.url = url
        root = local_root(url)
        if root is None:
            raise StorageError(f"{url!r} is not a local folder", hint="open it with open_blob_store")
        self._root = root
        os.makedirs(os.path.join(self._root, TMP_DIR), exist_ok=True)

    # -- paths -----------------------------------------------------------------------------
    def _path(self, digest: str) -> str:
        return blob_path(self._root, digest)

    def local_path(self, digest: str) -> str:
        return self._path(digest)

    def exists(self, digest: str) -> bool:
        return os.path.exists(self._path(digest))

    def _missing(self, digest: str) -> NotFound:
        return NotFound(f"blob {digest[:12]} is missing", where=self.url, hint="run `loopline fsck`")

    # -- writes ----------------------------------------------------------------------------
    def put_bytes(self, data: bytes) -> str:
        digest = hash_bytes(data)
        try:
            with WriteBatch(self._root, self.verify, repair=True) as batch:
                batch.stage_bytes(digest, data)
        except OSError as exc:
            raise StorageError(f"cannot write blob {digest[:12]}: {exc}", where=self.url) from exc
        return digest

    def put_file(self, path: str | os.PathLike[str], digest: str | None = None) -> str:
        try:
            if digest is not None:
                self._path(digest)  # a malformed key is refused before anything is read
            with WriteBatch(self._root, self.verify, repair=True) as batch:
                return batch.stage(os.fspath(path), digest, None)
        except OSError as exc:
            raise StorageError(f"cannot store {path}: {exc}", where=self.url) from exc

    def put_stream(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        """Store the bytes of chunks (an upload as it arrives) in bounded memory: written to a temp
        file and hashed as they come, then renamed under their key. Returns (key, length)."""
        try:
            with WriteBatch(self._root, self.verify, repair=True) as batch:
                return batch.stage_chunks(chunks)
        except OSError as exc:
            raise StorageError(f"cannot write a blob: {exc}", where=self.url) from exc

    def put_files(self, items: Iterable[tuple[str, str]]) -> int:
        """Store many (path, digest) pairs; returns how many were new. A file whose bytes do not
        hash to its digest (it changed after it was hashed) is refused with Integrity."""
        unique = {digest: path for path, digest in items}
        for digest in unique:
            self._path(digest)  # every key well formed before any is written
        try:
            with WriteBatch(self._root, self.verify) as batch:
                batch.run([(path, digest, None) for digest, path in unique.items()])
            return batch.written
        except OSError as exc:
            raise StorageError(f"cannot store files: {exc}", where=self.url) from exc

    def ingest(self, items: Sequence[tuple[str, StatKey]]) -> list[str]:
        """Store files whose keys are not known yet; returns their keys, in order.

        items are (path, (inode, size, mtime_ns) the caller saw when it listed the file). Each
        file is read once and its key is the hash of exactly the bytes stored. A file whose stat
        once read is not the one given is refused with Integrity: it changed while being stored,
        and a key recorded against the stat the caller saw (a stat cache) could otherwise
        describe other bytes. Every blob is durable on return.
        """
        try:
            with WriteBatch(self._root, self.verify) as batch:
                keys = batch.run([(path, None, seen) for path, seen in items])
        except OSError as exc:
            raise StorageError(f"cannot store files: {exc}", where=self.url) from exc
        return keys

    def receive(
        self,
        digests: Sequence[str],
        write: Callable[[str, str], None],
        jobs: int = 16,
        *,
        repair: bool = False,
    ) -> int:
        """Store blobs whose bytes come from elsewhere (a pull): write(digest, path) fills a temp
        file with one blob's bytes and raises unless they hash to it. The blobs are made durable
        and renamed together; how many were new. On an error none of them is stored. `repair`:
        a stored blob that fails verification is fetched again."""
        for digest in digests:
            self._path(digest)
        try:
            with (
                WriteBatch(self._root, self.verify, repair=repair) as batch,
                ThreadPoolExecutor(jobs) as pool,
            ):
                filled = list(pool.map(lambda d: batch.fill(d, lambda path: write(d, path)), digests))
            return sum(filled)
        except OSError as exc:
            raise StorageError(f"cannot store fetched blobs: {exc}", where=self.url) from exc

    # -- reads -----------------------------------------------------------------------------
    def get_bytes(self, digest: str) -> bytes:
        try:
            with open(self._path(digest), "rb") as handle:
                data = handle.read()
        except FileNotFoundError as exc:
            raise self._missing(digest) from exc
        if hash_bytes(data) != digest:
            raise self._damaged(digest)
        return data

    def iter_bytes(self, digest: str, chunk_size: int = _READ) -> Iterator[bytes]:
        """The blob's bytes in chunks, in bounded memory. The blob is verified before the first
        chunk (Integrity, NotFound raised then), and the chunks are hashed again as they are read:
        bytes changed meanwhile end the iteration with Integrity."""
        self.checked_path(digest)
        return self._chunks(digest, chunk_size)

    def _chunks(self, digest: str, chunk_size: int) -> Iterator[bytes]:
        hasher = blake3.blake3()
        with open(self._path(digest), "rb") as handle:
            while chunk := handle.read(chunk_size):
                hasher.update(chunk)
                yield chunk
        if hasher.hexdigest() != digest:
            raise self._damaged(digest)

    def _damaged(self, digest: str) -> Integrity:
        return Integrity(
            f"blob {digest[:12]} does not match its hash: its bytes were changed on disk",
            where=self._path(digest),
            hint=_REPAIR_HINT,
        )

    def verify(self, digest: str) -> bool:
        """True when the blob exists and its bytes hash to its key."""
        try:
            return hash_file(self._path(digest)) == digest
        except FileNotFoundError:
            return False

    def checked_path(self, digest: str) -> str:
        """Local path of a blob after verifying it (for readers that want a file, like Parquet)."""
        path = self._path(digest)
        if not os.path.exists(path):
            raise self._missing(digest)
        if not self.verify(digest):
            raise self._damaged(digest)
        return path

    def leftover_temp_files(self, older_than: float) -> list[str]:
        """Temp files of writes that never finished (a killed process), older than `older_than` s.

        Harmless (no blob or metadata points at them) but they take space; `fsck --repair` removes them.
        """
        tmp_dir = os.path.join(self._root, TMP_DIR)
        cutoff = time.time() - older_than
        with os.scandir(tmp_dir) as found:
            return [e.path for e in found if e.is_file() and e.stat().st_mtime < cutoff]

    def digests(self) -> Iterator[str]:
        for shard in sorted(os.listdir(self._root)):
            if len(shard) != 2 or not _HEX.issuperset(shard):
                continue
            with os.scandir(os.path.join(self._root, shard)) as found:
                for entry in found:
                    if len(entry.name) == 64 and entry.name.startswith(shard) and entry.is_file():
                        yield entry.name

    def export(self, digest: str, target: str | os.PathLike[str]) -> None:
        """Write a verified copy of a blob to a local path, atomically."""
        target = Path(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.loopline-tmp")
        shutil.copyfile(self.checked_path(digest), tmp)
        os.replace(tmp, target)


def open_blob_store(url: str, cache: str | os.PathLike[str] | None = None) -> BlobStore:
    """The blob store at url: a local folder, or a remote one (s3://…) reading through a local
    cache folder (`cache`; a temp folder of this machine when None)."""
    if local_root(url) is not None:
        return LocalBlobStore(url)
    return remote_store(url, cache)


def remote_store(url: str, cache: str | os.PathLike[str] | None = None) -> RemoteBlobStore:
    from loopline.store.blobs_remote import RemoteBlobStore

    return RemoteBlobStore(url, cache)
