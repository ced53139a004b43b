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
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import blake3

from loopline.core.errors import Integrity, NotFound
from loopline.core.hashing import hash_bytes, hash_file
from loopline.store.blob_packs import PackIndex, plan
from loopline.store.blob_writes import _changed
from loopline.store.blobs import _READ, LocalBlobStore, blob_path
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
        self._packs = PackIndex(self._fs, self._root, url)  # small blobs pushed together (blob_packs.py)

    # -- paths -----------------------------------------------------------------------------
    def _path(self, digest: str) -> str:
        return blob_path(self._root, digest)

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
        path = self._path(digest)
        if self._packs.locate(digest, refresh=False) is not None:
            return True
        with remote_errors(self.url):
            if self._fs.exists(path):
                return True
        return self._packs.locate(digest) is not None

    def _read(self, digest: str) -> bytes:
        """A blob's bytes, loose or out of its pack; not yet checked against the key."""
        at = self._packs.locate(digest, refresh=False)
        if at is None:
            with remote_errors(self.url):
                try:
                    return bytes(self._fs.cat_file(self._path(digest)))
                except FileNotFoundError:
                    at = self._packs.locate(digest)
            if at is None:
                raise self._missing(digest)
        return self._packs.read(at)

    # -- writes ----------------------------------------------------------------------------
    def put_bytes(self, data: bytes) -> str:
        digest = hash_bytes(data)
        if not self.exists(digest):
            with remote_errors(self.url):
                self._fs.pipe_file(self._path(digest), data)
        return digest

    def put_file(self, path: str | os.PathLike[str], digest: str | None = None) -> str:
        actual = hash_file(path)
        if digest is not None:
            self._path(digest)
            if actual != digest:
                raise _not_hashing_to(os.fspath(path), digest)
        self.put_files([(os.fspath(path), actual)])
        return actual

    def put_files(self, items: Iterable[tuple[str, str]], progress: Progress | None = None) -> int:
        """Upload the files whose keys the remote lacks, concurrently, small ones together in
        packs; how many were new. Each file sent is checked against its digest as it is read: one
        that no longer hashes to it is refused (Integrity) and sent nowhere."""
        unique = {digest: path for path, digest in items}
        for digest in unique:
            self._path(digest)
        present = self.present(list(unique))
        todo = {d: unique[d] for d in unique if d not in present}
        packs = plan({d: os.path.getsize(path) for d, path in todo.items()})
        packed = {d for pack in packs for d in pack}
        loose = [d for d in todo if d not in packed]

        def send_pack(pack: list[str]) -> None:
            blobs = [(d, _checked_bytes(todo[d], d)) for d in pack]
            self._packs.upload(blobs)
            if progress is not None:
                progress(len(blobs), sum(len(data) for _, data in blobs))

        def send_loose(digest: str) -> None:
            if hash_file(todo[digest]) != digest:
                raise _not_hashing_to(todo[digest], digest)
            with remote_errors(self.url):
                self._fs.put_file(todo[digest], self._path(digest))
            if progress is not None:
                progress(1, os.path.getsize(todo[digest]))

        with ThreadPoolExecutor(max_workers=_JOBS) as pool:
            jobs = [pool.submit(send_pack, pack) for pack in packs]
            jobs += [pool.submit(send_loose, digest) for digest in loose]
            for job in jobs:
                job.result()
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
            if not self.exists(digest):
                with remote_errors(self.url):
                    self._fs.put_file(spool.name, self._path(digest))
        return digest, length

    # -- transfers ---------------------------------------------------------------------------
    def present(self, digests: Sequence[str]) -> set[str]:
        """Which of digests the remote holds: a HEAD each for a few, one listing for many."""
        if not digests:
            return set()
        self._packs.refresh()
        packed = {d for d in digests if self._packs.locate(d, refresh=False) is not None}
        rest = [d for d in digests if d not in packed]
        if len(rest) > _LIST_OVER:
            return packed | (set(self._loose()) & set(rest))

        def head(digest: str) -> bool:
            with remote_errors(self.url):
                return bool(self._fs.exists(self._path(digest)))

        with ThreadPoolExecutor(max_workers=_JOBS) as pool:
            return packed | {d for d, found in zip(rest, pool.map(head, rest), strict=True) if found}

    def fetch(self, digests: Sequence[str], target: LocalBlobStore, progress: Progress | None = None) -> int:
        """Download the blobs `target` lacks into it, verified, concurrently (a pack in one GET);
        how many came. They land a batch at a time, so a pull that is killed keeps the batches
        it finished."""
        todo = [d for d in dict.fromkeys(digests) if not target.exists(d)]
        if todo:
            self._packs.refresh()
        by_pack: dict[str, list[str]] = {}
        loose = []
        for digest in todo:
            at = self._packs.locate(digest, refresh=False)
            if at is None:
                loose.append(digest)
            else:
                by_pack.setdefault(at.pack, []).append(digest)

        def counted(write: Callable[[str, str], None]) -> Callable[[str, str], None]:
            def write_and_count(digest: str, path: str) -> None:
                write(digest, path)
                if progress is not None:
                    progress(1, os.path.getsize(path))

            return write_and_count

        def unpack(pack: str) -> int:
            body = memoryview(self._packs.whole(pack))

            def write(digest: str, path: str) -> None:
                at = self._packs.locate(digest, refresh=False)
                self._write_checked(digest, body[at.offset : at.offset + at.length] if at else b"", path)

            return target.receive(by_pack[pack], counted(write), 4)

        with ThreadPoolExecutor(max_workers=4) as pool:  # a pack is up to 32 MiB in memory
            got = sum(pool.map(unpack, by_pack))
        return got + sum(
            target.receive(loose[i : i + _BATCH], counted(self._get), _JOBS)
            for i in range(0, len(loose), _BATCH)
        )

    def _get(self, digest: str, path: str) -> None:
        """One blob's bytes into a local file, refused unless they hash to its key."""
        if self._packs.locate(digest, refresh=False) is not None:
            self._write_checked(digest, self._read(digest), path)
            return
        with remote_errors(self.url):
            try:
                self._fs.get_file(self._path(digest), path)
            except FileNotFoundError as exc:
                if self._packs.locate(digest) is None:
                    raise self._missing(digest) from exc
                return self._get(digest, path)
        if hash_file(path) != digest:
            raise self._damaged(digest)

    def _write_checked(self, digest: str, data: bytes | memoryview, path: str) -> None:
        if hash_bytes(data) != digest:
            raise self._damaged(digest)
        with open(path, "wb") as out:
            out.write(data)

    # -- reads -----------------------------------------------------------------------------
    def get_bytes(self, digest: str) -> bytes:
        self._path(digest)
        data = self._read(digest)
        if hash_bytes(data) != digest:
            raise self._damaged(digest)
        return data

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
        """The blob exists and hashes to its key (a loose one streamed: bounded memory)."""
        self._path(digest)
        if self._packs.locate(digest, refresh=False) is not None:
            return hash_bytes(self._read(digest)) == digest
        hasher = blake3.blake3()
        with remote_errors(self.url):
            try:
                with self._fs.open(self._path(digest), "rb", block_size=_READ * 8) as handle:
                    while chunk := handle.read(_READ * 8):
                        hasher.update(chunk)
            except FileNotFoundError:
                return self._packs.locate(digest) is not None and self.verify(digest)
        return hasher.hexdigest() == digest

    def leftover_temp_files(self, older_than: float) -> list[str]:
        """None on the remote: an unfinished upload is no object at all."""
        return []

    def _loose(self) -> Iterator[str]:
        """The keys stored as objects of their own (one listing of the root)."""
        with remote_errors(self.url):
            found = self._fs.find(self._root) if self._fs.exists(self._root) else []
        for path in found:
            name = path.rsplit("/", 1)[-1]
            if len(name) == 64 and path.endswith(f"/{name[:2]}/{name}"):
                yield name

    def digests(self) -> Iterator[str]:
        yield from sorted(set(self._loose()) | self._packs.keys())

    def export(self, digest: str, target: str | os.PathLike[str]) -> None:
        target = Path(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.loopline-tmp")
        shutil.copyfile(self.checked_path(digest), tmp)
        os.replace(tmp, target)


def _checked_bytes(path: str, digest: str) -> bytes:
    with open(path, "rb") as handle:
        data = handle.read()
    if hash_bytes(data) != digest:
        raise _not_hashing_to(path, digest)
    return data


def _not_hashing_to(path: str, digest: str) -> Integrity:
    """A file to send whose bytes are no longer the ones its key was computed from."""
    return _changed(path, f"its bytes no longer hash to {digest[:12]}")
