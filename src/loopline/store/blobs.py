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
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from loopline.core.errors import Integrity, NotFound, StorageError
from loopline.core.hashing import hash_bytes, hash_file

_TMP = "tmp"
_HEX = frozenset("0123456789abcdef")
_BATCH_MIN = 32  # from this many new blobs, one filesystem sync beats an fsync per file
_STAGE_WORKERS = 4
_COPY_CHUNK = 1024 * 1024
_REPAIR_HINT = (
    "write its original bytes back (storing them again, or re-running the step that made it with"
    " --no-cache, replaces the damaged file); `loopline fsck` lists every such blob"
)


class BlobStore(Protocol):
    url: str

    def put_bytes(self, data: bytes) -> str: ...
    def put_file(self, path: str | os.PathLike[str], digest: str | None = None) -> str: ...
    def put_files(self, items: Iterable[tuple[str, str]]) -> int: ...
    def get_bytes(self, digest: str) -> bytes: ...
    def local_path(self, digest: str) -> str | None: ...
    def checked_path(self, digest: str) -> str: ...
    def exists(self, digest: str) -> bool: ...
    def verify(self, digest: str) -> bool: ...
    def digests(self) -> Iterator[str]: ...
    def export(self, digest: str, target: str | os.PathLike[str]) -> None: ...


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@cache
def _syncfs() -> Callable[[int], int] | None:
    """libc's syncfs(2) (Linux), or None where there is none."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.syncfs
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn  # type: ignore[no-any-return]


def _sync_filesystem(path: str, syncfs: Callable[[int], int]) -> None:
    """Flush every written page and inode of the filesystem holding path to disk."""
    import ctypes

    fd = os.open(path, os.O_RDONLY)
    try:
        if syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), path)
    finally:
        os.close(fd)


def _copy_to_fd(source: str, out: int) -> None:
    """Copy a file's bytes into an open descriptor, in the kernel where it can."""
    with open(source, "rb", buffering=0) as src:
        fd = src.fileno()
        size = os.fstat(fd).st_size
        copied = 0
        if size > _COPY_CHUNK and hasattr(os, "copy_file_range"):
            try:
                while n := os.copy_file_range(fd, out, _COPY_CHUNK * 64):
                    copied += n
            except OSError:
                pass  # not across these filesystems: both offsets moved together, go on below
            if copied >= size:
                return
        while chunk := os.read(fd, _COPY_CHUNK):
            view = memoryview(chunk)
            while view:
                view = view[os.write(out, view) :]


def _check_copy(tmp: str, digest: str, source: str) -> None:
    """Refuse a copy whose bytes do not hash to the key the caller gave: the source changed after
    it was hashed (or a stat cache vouched for it wrongly). Keeping it would store a blob under
    another blob's name; the temp copy is in the page cache, so this check costs no disk read."""
    if hash_file(tmp) != digest:
        raise Integrity(
            f"{source} changed while it was being stored: its bytes no longer hash to {digest[:12]}",
            where=source,
            hint="store it again once nothing is writing to it",
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
            os.makedirs(os.path.join(self._root, _TMP), exist_ok=True)

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
    def _write_local(self, digest: str, source: str | None, data: bytes | None) -> None:
        final = self._path(digest)
        if os.path.exists(final) and self.verify(digest):
            return  # a damaged blob of that name is replaced below, atomically
        os.makedirs(os.path.dirname(final), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.join(self._root, _TMP), prefix=digest[:16])
        try:
            with os.fdopen(fd, "wb") as out:
                if data is not None:
                    out.write(data)
                else:
                    assert source is not None
                    _copy_to_fd(source, out.fileno())
                    _check_copy(tmp, digest, source)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, final)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def put_bytes(self, data: bytes) -> str:
        digest = hash_bytes(data)
        try:
            if self._local:
                self._write_local(digest, None, data)
            elif not self._fs.exists(self._path(digest)):
                self._fs.pipe_file(self._path(digest), data)
        except OSError as exc:
            raise StorageError(f"cannot write blob {digest[:12]}: {exc}", where=self.url) from exc
        return digest

    def put_file(self, path: str | os.PathLike[str], digest: str | None = None) -> str:
        digest = digest or hash_file(path)
        try:
            if self._local:
                self._write_local(digest, os.fspath(path), None)
            elif not self._fs.exists(self._path(digest)):
                self._fs.put_file(os.fspath(path), self._path(digest))
        except OSError as exc:
            raise StorageError(f"cannot store {path}: {exc}", where=self.url) from exc
        return digest

    def put_files(self, items: Iterable[tuple[str, str]]) -> int:
        """Store many (path, digest) pairs; returns how many were new."""
        todo = [(path, digest) for path, digest in items if not self.exists(digest)]
        unique = list({digest: path for path, digest in todo}.items())
        if not unique:
            return 0
        syncfs = _syncfs() if self._local and len(unique) >= _BATCH_MIN else None
        if syncfs is not None:
            try:
                self._put_batch(unique, syncfs)
            except OSError as exc:
                raise StorageError(f"cannot store files: {exc}", where=self.url) from exc
            return len(unique)
        # Elsewhere, an fsync per file (threads overlap them) and one per folder.
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(lambda pair: self.put_file(pair[1], pair[0]), unique))
        if self._local:
            for directory in {os.path.dirname(self._path(digest)) for digest, _ in unique}:
                _fsync_dir(directory)
        return len(unique)

    def _put_batch(self, unique: list[tuple[str, str]], syncfs: Callable[[int], int]) -> None:
        """Stage every blob as a temp file, sync the filesystem, rename them all, sync again.

        Each blob is durable before its rename and each rename is durable on return; a killed
        process leaves only temp files, never a half blob under its key.
        """
        tmp_dir = os.path.join(self._root, _TMP)
        staged: list[tuple[str, str]] = []  # (temp, final), appended before the temp is written

        def stage(part: list[tuple[str, str]]) -> None:
            for digest, source in part:
                fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix=digest[:16])
                staged.append((tmp, self._path(digest)))
                try:
                    _copy_to_fd(source, fd)
                finally:
                    os.close(fd)
                _check_copy(tmp, digest, source)

        try:
            for folder in {final.rsplit("/", 1)[0] for final in map(self._path, dict(unique))}:
                os.makedirs(folder, exist_ok=True)
            parts = [unique[i::_STAGE_WORKERS] for i in range(_STAGE_WORKERS)]
            with ThreadPoolExecutor(max_workers=_STAGE_WORKERS) as pool:
                list(pool.map(stage, parts))
            _sync_filesystem(tmp_dir, syncfs)  # every temp's bytes (and new folders) on disk
            while staged:
                tmp, final = staged[-1]
                os.replace(tmp, final)
                staged.pop()
            _sync_filesystem(self._root, syncfs)  # every rename on disk
        finally:
            for tmp, _ in staged:
                if os.path.exists(tmp):
                    os.unlink(tmp)

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
            raise Integrity(
                f"blob {digest[:12]} does not match its hash: its bytes were changed on disk",
                where=path,
                hint=_REPAIR_HINT,
            )
        return data

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
            raise Integrity(
                f"blob {digest[:12]} does not match its hash: its bytes were changed on disk",
                where=path,
                hint=_REPAIR_HINT,
            )
        return path

    def leftover_temp_files(self, older_than: float) -> list[str]:
        """Temp files of writes that never finished (a killed process), older than `older_than` s.

        Harmless (no blob or metadata points at them) but they take space; `fsck --repair` removes them.
        """
        if not self._local:
            return []
        tmp_dir = os.path.join(self._root, _TMP)
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
