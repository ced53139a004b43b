"""Content-addressed blob store over fsspec.

A blob's key is the BLAKE3 hash of its bytes, stored at `ab/cd/abcd…` under the root. Local
writes are atomic (temp file in the same folder tree, fsync, rename), so a killed process leaves
no half blob; reads verify the hash, so a blob changed on disk is detected and never served.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import fsspec

from loopline.core.errors import Integrity, NotFound, StorageError
from loopline.core.hashing import hash_bytes, hash_file

_TMP = "tmp"


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


class FsspecBlobStore:
    """Blob store at any fsspec URL; a plain path or file:// gets the atomic local path."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._fs, self._root = fsspec.core.url_to_fs(url)
        self._local = "file" in (
            self._fs.protocol if isinstance(self._fs.protocol, tuple) else (self._fs.protocol,)
        )
        if self._local:
            os.makedirs(os.path.join(self._root, _TMP), exist_ok=True)

    # -- paths -----------------------------------------------------------------------------
    def _path(self, digest: str) -> str:
        if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
            raise NotFound(f"{digest!r} is not a blob key", hint="blob keys are 64 hex digits")
        return f"{self._root}/{digest[:2]}/{digest[2:4]}/{digest}"

    def local_path(self, digest: str) -> str | None:
        return self._path(digest) if self._local else None

    def exists(self, digest: str) -> bool:
        path = self._path(digest)
        return os.path.exists(path) if self._local else bool(self._fs.exists(path))

    # -- writes ----------------------------------------------------------------------------
    def _write_local(self, digest: str, source: str | None, data: bytes | None) -> None:
        final = self._path(digest)
        if os.path.exists(final):
            return
        os.makedirs(os.path.dirname(final), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.join(self._root, _TMP), prefix=digest[:16])
        try:
            with os.fdopen(fd, "wb") as out:
                if data is not None:
                    out.write(data)
                else:
                    assert source is not None
                    with open(source, "rb") as src:
                        shutil.copyfileobj(src, out, 1024 * 1024)
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
        """Store many (path, digest) pairs; returns how many were new. Threads overlap the fsyncs."""
        todo = [(path, digest) for path, digest in items if not self.exists(digest)]
        unique = list({digest: path for path, digest in todo}.items())
        if not unique:
            return 0
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(lambda pair: self.put_file(pair[1], pair[0]), unique))
        if self._local:
            for directory in {os.path.dirname(self._path(digest)) for digest, _ in unique}:
                _fsync_dir(directory)
        return len(unique)

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
                hint="restore it from a copy or re-add the data; `loopline fsck` lists all such blobs",
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
                hint="restore it from a copy or re-add the data; `loopline fsck` lists all such blobs",
            )
        return path

    def digests(self) -> Iterator[str]:
        # Match the layout below the root only: the root itself may well sit under some /tmp/.
        for path in self._fs.find(self._root):
            name = path.rsplit("/", 1)[-1]
            if len(name) == 64 and path.endswith(f"/{name[:2]}/{name[2:4]}/{name}"):
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
