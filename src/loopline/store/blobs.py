"""Content-addressed blob store over fsspec.

A blob's key is the BLAKE3 hash of its bytes, stored at `ab/abcd…` under the root (one level of
256 folders, as DVC does: far fewer folders to create than two levels). Local writes are atomic
(temp file in the same folder tree, made durable, then renamed), so a killed process leaves no
half blob; reads verify the hash, so a blob changed on disk is detected and never served.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import blake3

from loopline.core.errors import Integrity, NotFound, StorageError
from loopline.core.hashing import hash_bytes, hash_file
from loopline.store.blob_writes import TMP_DIR, WriteBatch

# The Protocol lives with the other stores' contracts; importers of this module keep finding it here.
from loopline.store.contracts.blobs import BlobStore as BlobStore
from loopline.store.contracts.blobs import StatKey as StatKey

_HEX = frozenset("0123456789abcdef")
_READ = 1 << 20  # a streamed read hands out chunks of this size
_REPAIR_HINT = (
    "write its original bytes back (storing them again, or re-running the step that made it with"
    " --no-cache, replaces the damaged file); `loopline fsck` lists every such blob"
)


def _local_root(url: str) -> str | None:
    """The root folder of a plain absolute local path (or file:// URL), else None (use fsspec)."""
    path = url.removeprefix("file://")
    if "::" in path or "://" in path or not path.startswith("/") or os.sep != "/":
        return None
    return path.rstrip("/") or "/"


class FsspecBlobStore:
    """Blob store at any fsspec URL; a plain path or file:// gets the atomic local path."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._fs_cached: Any = None
        root = _local_root(url)
        if root is None:
            import fsspec

            self._fs_cached, self._root = fsspec.core.url_to_fs(url)
            protocol = self._fs_cached.protocol
            self._local = "file" in (protocol if isinstance(protocol, tuple) else (protocol,))
        else:
            self._root, self._local = root, True
        if self._local:
            os.makedirs(os.path.join(self._root, TMP_DIR), exist_ok=True)

    @property
    def _fs(self) -> Any:
        if self._fs_cached is None:
            import fsspec

            self._fs_cached = fsspec.filesystem("file")
        return self._fs_cached

    # -- paths -----------------------------------------------------------------------------
    def _path(self, digest: str) -> str:
        if len(digest) != 64 or not _HEX.issuperset(digest):
            raise NotFound(f"{digest!r} is not a blob key", hint="blob keys are 64 hex digits")
        return f"{self._root}/{digest[:2]}/{digest}"

    def local_path(self, digest: str) -> str | None:
        return self._path(digest) if self._local else None

    def exists(self, digest: str) -> bool:
        path = self._path(digest)
        return os.path.exists(path) if self._local else bool(self._fs.exists(path))

    # -- writes ----------------------------------------------------------------------------
    def put_bytes(self, data: bytes) -> str:
        digest = hash_bytes(data)
        try:
            if self._local:
                with WriteBatch(self._root, self.verify, repair=True) as batch:
                    batch.stage_bytes(digest, data)
            elif not self._fs.exists(self._path(digest)):
                self._fs.pipe_file(self._path(digest), data)
        except OSError as exc:
            raise StorageError(f"cannot write blob {digest[:12]}: {exc}", where=self.url) from exc
        return digest

    def put_file(self, path: str | os.PathLike[str], digest: str | None = None) -> str:
        try:
            if self._local:
                if digest is not None:
                    self._path(digest)  # a malformed key is refused before anything is read
                with WriteBatch(self._root, self.verify, repair=True) as batch:
                    return batch.stage(os.fspath(path), digest, None)
            digest = digest or hash_file(path)
            if not self._fs.exists(self._path(digest)):
                self._fs.put_file(os.fspath(path), self._path(digest))
        except OSError as exc:
            raise StorageError(f"cannot store {path}: {exc}", where=self.url) from exc
        return digest

    def put_stream(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        """Store the bytes of chunks (an upload as it arrives) in bounded memory: written to a temp
        file and hashed as they come, then renamed under their key. Returns (key, length)."""
        try:
            if self._local:
                with WriteBatch(self._root, self.verify, repair=True) as batch:
                    return batch.stage_chunks(chunks)
            with tempfile.TemporaryFile() as spool:  # a remote store gets the finished file
                hasher, length = blake3.blake3(), 0
                for chunk in chunks:
                    hasher.update(chunk)
                    spool.write(chunk)
                    length += len(chunk)
                digest = hasher.hexdigest()
                if not self._fs.exists(self._path(digest)):
                    spool.seek(0)
                    with self._fs.open(self._path(digest), "wb") as out:
                        shutil.copyfileobj(spool, out, _READ)
                return digest, length
        except OSError as exc:
            raise StorageError(f"cannot write a blob: {exc}", where=self.url) from exc

    def put_files(self, items: Iterable[tuple[str, str]]) -> int:
        """Store many (path, digest) pairs; returns how many were new. A file whose bytes do not
        hash to its digest (it changed after it was hashed) is refused with Integrity."""
        unique = {digest: path for path, digest in items}
        if not self._local:
            todo = [(path, digest) for digest, path in unique.items() if not self.exists(digest)]
            with ThreadPoolExecutor(max_workers=16) as pool:  # threads overlap the round trips
                list(pool.map(lambda pair: self.put_file(*pair), todo))
            return len(todo)
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
        if not self._local:
            keys = [hash_file(path) for path, _ in items]
            self.put_files(zip((path for path, _ in items), keys, strict=True))
            return keys
        try:
            with WriteBatch(self._root, self.verify) as batch:
                keys = batch.run([(path, None, seen) for path, seen in items])
        except OSError as exc:
            raise StorageError(f"cannot store files: {exc}", where=self.url) from exc
        return keys

    # -- reads -----------------------------------------------------------------------------
    def get_bytes(self, digest: str) -> bytes:
        path = self._path(digest)
        try:
            if self._local:
                with open(path, "rb") as handle:
                    data = handle.read()
            else:
                data = self._fs.cat_file(path)
        except FileNotFoundError as exc:
            raise NotFound(
                f"blob {digest[:12]} is missing", where=self.url, hint="run `loopline fsck`"
            ) from exc
        if hash_bytes(data) != digest:
            raise self._damaged(digest)
        return data

    def iter_bytes(self, digest: str, chunk_size: int = _READ) -> Iterator[bytes]:
        """The blob's bytes in chunks, in bounded memory. The blob is verified before the first
        chunk (Integrity, NotFound raised then), and the chunks are hashed again as they are read:
        bytes changed meanwhile end the iteration with Integrity."""
        self._path(digest)  # a malformed key is NotFound at the call, not at the first next()
        if not self.exists(digest):
            raise NotFound(f"blob {digest[:12]} is missing", where=self.url, hint="run `loopline fsck`")
        if not self.verify(digest):
            raise self._damaged(digest)
        return self._chunks(digest, chunk_size)

    def _chunks(self, digest: str, chunk_size: int) -> Iterator[bytes]:
        path = self._path(digest)
        hasher = blake3.blake3()
        with open(path, "rb") if self._local else self._fs.open(path, "rb") as handle:
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
        path = self._path(digest)
        try:
            actual = hash_file(path) if self._local else hash_bytes(self._fs.cat_file(path))
        except FileNotFoundError:
            return False
        return actual == digest

    def checked_path(self, digest: str) -> str:
        """Local path of a blob after verifying it (for readers that want a file, like Parquet)."""
        path = self._path(digest)
        if not os.path.exists(path):
            raise NotFound(f"blob {digest[:12]} is missing", where=self.url, hint="run `loopline fsck`")
        if not self.verify(digest):
            raise self._damaged(digest)
        return path

    def leftover_temp_files(self, older_than: float) -> list[str]:
        """Temp files of writes that never finished (a killed process), older than `older_than` s.

        Harmless (no blob or metadata points at them) but they take space; `fsck --repair` removes them.
        """
        if not self._local:
            return []
        tmp_dir = os.path.join(self._root, TMP_DIR)
        cutoff = time.time() - older_than
        with os.scandir(tmp_dir) as found:
            return [e.path for e in found if e.is_file() and e.stat().st_mtime < cutoff]

    def digests(self) -> Iterator[str]:
        # Match the layout below the root only: the root itself may well sit under some /tmp/.
        for path in self._fs.find(self._root):
            name = path.rsplit("/", 1)[-1]
            if len(name) == 64 and path.endswith(f"/{name[:2]}/{name}"):
                yield name

    def export(self, digest: str, target: str | os.PathLike[str]) -> None:
        """Write a verified copy of a blob to a local path, atomically."""
        target = Path(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.loopline-tmp")
        if self._local:
            shutil.copyfile(self.checked_path(digest), tmp)
        else:
            tmp.write_bytes(self.get_bytes(digest))
        os.replace(tmp, target)


def open_blob_store(url: str) -> FsspecBlobStore:
    return FsspecBlobStore(url)
