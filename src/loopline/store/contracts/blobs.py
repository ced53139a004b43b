"""The contract of the blob store: content-addressed bytes (local folder, any fsspec URL)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

StatKey = tuple[int, int, int]  # inode, size, mtime_ns: what a stat cache keys a file on


class BlobStore(Protocol):
    """Content-addressed bytes: a blob's key is the BLAKE3 hex digest of its bytes. Storing the
    same bytes twice is a no-op returning the same key; a read returns exactly the stored bytes or
    raises (NotFound when missing, Integrity when they no longer hash to the key); a malformed key
    is NotFound; a failed or interrupted write leaves no blob under the key."""

    url: str

    def put_bytes(self, data: bytes) -> str: ...
    def put_file(self, path: str | os.PathLike[str], digest: str | None = None) -> str:
        """The key of the file's bytes (`digest` when the caller hashed them already)."""

    def put_files(self, items: Iterable[tuple[str, str]]) -> int:
        """(path, digest) pairs; how many were new. Integrity when a file's bytes do not hash to
        its digest."""

    def ingest(self, items: Sequence[tuple[str, StatKey]]) -> list[str]:
        """Store (path, stat seen) files; their keys in order, each the hash of the bytes stored."""

    def put_stream(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        """Store the concatenated chunks holding one at a time; (key, length)."""

    def get_bytes(self, digest: str) -> bytes: ...
    def iter_bytes(self, digest: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """The bytes in chunks of at most chunk_size, in bounded memory; NotFound or Integrity
        raised by the call itself when the blob is missing or damaged."""

    def local_path(self, digest: str) -> str | None:
        """Where the blob's file is on this machine, or None for a remote store."""

    def checked_path(self, digest: str) -> str:
        """A local file holding the blob's bytes, verified: local_path, or a remote store's copy
        in its local read cache."""

    def exists(self, digest: str) -> bool: ...
    def verify(self, digest: str) -> bool:
        """True when the blob exists and its bytes hash to its key."""

    def leftover_temp_files(self, older_than: float) -> list[str]:
        """Temp files of writes a killed process never finished, older than older_than seconds
        (none on a store where an unfinished write is no object at all)."""

    def digests(self) -> Iterator[str]:
        """Every stored key, once each."""

    def export(self, digest: str, target: str | os.PathLike[str]) -> None:
        """A verified copy at a local path, written atomically."""
