"""Content-addressed blobs on a remote fsspec filesystem: S3 through s3fs for teams (memory:// in
tests). The layout is the local store's (`ab/abcd…` under the root), so a folder and a bucket
hold the same keys and `loopline push` / `pull` copy between them by name.

No visible partial object: an S3 PUT (and a multipart upload, which s3fs uses above its block
size) makes the object appear whole or not at all, so a killed upload leaves nothing under its
key. Every read is checked against the key: bytes changed on the remote side are never served.
Readers that want a file (Parquet scans, exports) get a verified copy in a local read cache, so a
blob crosses the network once per machine.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import blake3

from loopline.core.errors import Integrity, NotFound
from loopline.core.hashing import hash_bytes, hash_file
from loopline.store.blobs import _HEX, _READ, LocalBlobStore
from loopline.store.contracts.blobs import StatKey
from loopline.store.remote_fs import open_remote, remote_errors

Progress = Callable[[int, int], None]  # (objects done, bytes done) since the last call
_JOBS = 16  # concurrent transfers: round trips overlap, the event loop of s3fs does the rest
_BATCH = 256  # blobs a pull makes durable together
_LIST_OVER = 64  # above this many keys to check, one listing of the root beats a HEAD per key


def _cache_for(url: str) -> str:
    """The default read cache of a remote store on this machine (a worker with no project)."""
    return os.path.join(tempfile.gettempdir(), f"loopline-cache-{hash_bytes(url.encode())[:16]}")


class RemoteBlobStore:
    """Blob store at a remote fsspec URL, with a local read cache (default: under the temp dir)."""

    def __init__(self, url: str, cache: str | os.PathLike[str] | None = None) -> None:
        self.url = url
        self._fs, root = open_remote(url)
        self._root = root.rstrip("/")
        self._cache = LocalBlobStore(os.fspath(cache) if cache is not None else _cache_for(url))

    # -- paths -----------------------------------------------------------------------------
    def _path(self, digest: str) -> str:
        if len(digest) != 64 or not _HEX.issuperset(digest):
            raise NotFound(f"{digest!r} is not a blob key", hint="blob keys are 64 hex digits")
        return f"{self._root}/{digest[:2]}/{digest}"

    def _missing(self, digest: str) -> NotFound:
        return NotFound(
            f"blob {digest[:12]} is missing from {self.url}",
            where=self._path(digest),
            hint="push it from a project that has it (`loopline push`), or run `loopline fsck`",
        )

    def _damaged(self, digest: str) -> Integrity:
        return Integrity(
            f"blob {digest[:12]} does not match its hash: its bytes were changed in {self.url}",
            where=self._path(digest),
            hint="store its original bytes again (`loopline push` from a project that has them "
            "replaces the object); `loopline fsck` lists every such blob",
        )

    def local_path(self, digest: str) -> str | None:
        self._path(digest)
        return None

    def exists(self, digest: str) -> bool:
        with remote_errors(self.url):
            return bool(self._fs.exists(self._path(digest)))

    # -- writes ----------------------------------------------------------------------------
    def put_bytes(self, data: bytes) -> str:
        digest = hash_bytes(data)
        with remote_errors(self.url):
            if not self._fs.exists(self._path(digest)):
                self._fs.pipe_file(self._path(digest), data)
        return digest

    def put_file(self, path: str | os.PathLike[str], digest: str | None = None) -> str:
        actual = hash_file(path)
        if digest is not None:
            self._path(digest)
            if actual != digest:
                raise _changed(os.fspath(path), digest)
        self.put_files([(os.fspath(path), actual)])
        return actual

    def put_files(self, items: Iterable[tuple[str, str]], progress: Progress | None = None) -> int:
        """Upload the files whose keys the remote lacks, concurrently; how many were new. Each
        file to send is hashed first: one that no longer hashes to its digest is refused
        (Integrity) before anything is sent."""
        unique = {digest: path for path, digest in items}
        for digest in unique:
            self._path(digest)
        present = self.present(list(unique))
        todo = [digest for digest in unique if digest not in present]
        with ThreadPoolExecutor(max_workers=_JOBS) as pool:
            for digest, actual in zip(todo, pool.map(hash_file, [unique[d] for d in todo]), strict=True):
                if actual != digest:
                    raise _changed(unique[digest], digest)
        self._transfer([(unique[d], self._path(d)) for d in todo], self._fs.put_file, progress, upload=True)
        return len(todo)

    def ingest(self, items: Sequence[tuple[str, StatKey]]) -> list[str]:
        keys = [hash_file(path) for path, _ in items]
        self.put_files(zip((path for path, _ in items), keys, strict=True))
        return keys

    def put_stream(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        """Spool the chunks to a local temp file, hashing as they come, then upload it."""
        with tempfile.NamedTemporaryFile(prefix="loopline-upload-") as spool:
            hasher, length = blake3.blake3(), 0
            for chunk in chunks:
                hasher.update(chunk)
                spool.write(chunk)
                length += len(chunk)
            spool.flush()
            digest = hasher.hexdigest()
            with remote_errors(self.url):
                if not self._fs.exists(self._path(digest)):
                    self._fs.put_file(spool.name, self._path(digest))
        return digest, length

    # -- transfers ---------------------------------------------------------------------------
    def present(self, digests: Sequence[str]) -> set[str]:
        """Which of digests the remote holds: a HEAD each for a few, one listing for many."""
        if len(digests) <= _LIST_OVER:
            with ThreadPoolExecutor(max_workers=_JOBS) as pool:
                return {d for d, found in zip(digests, pool.map(self.exists, digests), strict=True) if found}
        return set(self.digests()) & set(digests)

    def _transfer(
        self,
        pairs: list[tuple[str, str]],
        move: Callable[[str, str], Any],
        progress: Progress | None,
        *,
        upload: bool,
    ) -> None:
        def one(pair: tuple[str, str]) -> None:
            with remote_errors(self.url):
                move(*pair)
            if progress is not None:
                progress(1, os.path.getsize(pair[0] if upload else pair[1]))

        with ThreadPoolExecutor(max_workers=_JOBS) as pool:
            list(pool.map(one, pairs))

    def fetch(self, digests: Sequence[str], target: LocalBlobStore, progress: Progress | None = None) -> int:
        """Download the blobs `target` lacks into it, verified, concurrently; how many came. They
        land a batch at a time, so a pull that is killed keeps the batches it finished."""
        todo = [d for d in dict.fromkeys(digests) if not target.exists(d)]

        def get(digest: str, path: str) -> None:
            self._get(digest, path)
            if progress is not None:
                progress(1, os.path.getsize(path))

        return sum(target.receive(todo[i : i + _BATCH], get, _JOBS) for i in range(0, len(todo), _BATCH))

    def _get(self, digest: str, path: str) -> None:
        """One blob's bytes into a local file, refused unless they hash to its key."""
        with remote_errors(self.url):
            try:
                self._fs.get_file(self._path(digest), path)
            except FileNotFoundError as exc:
                raise self._missing(digest) from exc
        if hash_file(path) != digest:
            raise self._damaged(digest)

    # -- reads -----------------------------------------------------------------------------
    def get_bytes(self, digest: str) -> bytes:
        with remote_errors(self.url):
            try:
                data = self._fs.cat_file(self._path(digest))
            except FileNotFoundError as exc:
                raise self._missing(digest) from exc
        if hash_bytes(data) != digest:
            raise self._damaged(digest)
        return bytes(data)

    def checked_path(self, digest: str) -> str:
        """A verified copy in the local read cache (downloaded on first use)."""
        self._path(digest)
        if self._cache.exists(digest):
            try:
                return self._cache.checked_path(digest)
            except Integrity:
                pass  # the cached copy was damaged: fetch it again
        self._cache.receive([digest], self._get, 1, repair=True)
        return self._cache.checked_path(digest)

    def iter_bytes(self, digest: str, chunk_size: int = _READ) -> Iterator[bytes]:
        """Streamed from the verified cached copy, so a damaged or missing object is refused at
        the call and the bytes handed out are the key's."""
        self.checked_path(digest)
        return self._cache.iter_bytes(digest, chunk_size)

    def verify(self, digest: str) -> bool:
        """The object exists and hashes to its key (streamed: bounded memory)."""
        hasher = blake3.blake3()
        with remote_errors(self.url):
            try:
                with self._fs.open(self._path(digest), "rb", block_size=_READ * 8) as handle:
                    while chunk := handle.read(_READ * 8):
                        hasher.update(chunk)
            except FileNotFoundError:
                return False
        return hasher.hexdigest() == digest

    def leftover_temp_files(self, older_than: float) -> list[str]:
        """None on the remote: an unfinished upload is no object at all."""
        return []

    def digests(self) -> Iterator[str]:
        with remote_errors(self.url):
            found = self._fs.find(self._root) if self._fs.exists(self._root) else []
        for path in found:
            name = path.rsplit("/", 1)[-1]
            if len(name) == 64 and path.endswith(f"/{name[:2]}/{name}"):
                yield name

    def export(self, digest: str, target: str | os.PathLike[str]) -> None:
        target = Path(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.loopline-tmp")
        with open(self.checked_path(digest), "rb") as src, open(tmp, "wb") as out:
            while chunk := src.read(_READ):
                out.write(chunk)
        os.replace(tmp, target)


def _changed(path: str, digest: str) -> Integrity:
    return Integrity(
        f"{path} no longer hashes to {digest[:12]}: it changed after it was hashed",
        where=path,
        hint="add it again once it stops changing",
    )
