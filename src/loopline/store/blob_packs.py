"""Packs: many small blobs in one remote object, so that sending 10,000 files of 1 KB is a few
requests, not 10,000 (an S3 request costs a round trip and money; per-object overhead, not
bandwidth, is what makes pushing many small files slow). git, restic and borg pack for the same
reason; DVC does not.

A pack is two objects under `packs/`: `ID.pack`, the blobs' bytes back to back, and `ID.idx`, a
JSON list of [key, offset, length]. The index is written after the pack, so a pack becomes
visible only once both are whole; a killed push leaves at most an index-less pack nobody reads.
ID is the BLAKE3 hash of the pack's bytes. Every blob read out of a pack is checked against its
own key, as any other read.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from loopline.core.errors import Integrity
from loopline.core.hashing import hash_bytes
from loopline.store.remote_fs import remote_errors

PACK_DIR = "packs"
PACK_BELOW = 1 << 20  # blobs up to this size go into packs
PACK_SIZE = 32 << 20  # a pack grows to about this many bytes
PACK_FROM = 16  # fewer small blobs than this in one put_files go up one by one


@dataclass(frozen=True)
class Packed:
    """Where a blob is inside a pack."""

    pack: str  # the pack's ID
    offset: int
    length: int


def plan(sizes: dict[str, int]) -> list[list[str]]:
    """The small keys of {key: size} grouped into packs of about PACK_SIZE bytes, in the order
    given (an empty list when there are too few to pack)."""
    small = [key for key, size in sizes.items() if size <= PACK_BELOW]
    if len(small) < PACK_FROM:
        return []
    packs: list[list[str]] = [[]]
    filled = 0
    for key in small:
        if filled + sizes[key] > PACK_SIZE and packs[-1]:
            packs.append([])
            filled = 0
        packs[-1].append(key)
        filled += sizes[key]
    return packs


def build(blobs: Sequence[tuple[str, bytes]]) -> tuple[str, bytes, bytes]:
    """(pack ID, pack bytes, index bytes) of (key, bytes) pairs already checked against their keys."""
    entries, offset = [], 0
    for key, data in blobs:
        entries.append([key, offset, len(data)])
        offset += len(data)
    body = b"".join(data for _, data in blobs)
    return hash_bytes(body), body, json.dumps(entries, separators=(",", ":")).encode()


def read_index(pack: str, data: bytes, where: str) -> dict[str, Packed]:
    """{key: Packed} of a pack's index; Integrity when it is not one."""
    try:
        entries = json.loads(data)
        return {str(key): Packed(pack, int(offset), int(length)) for key, offset, length in entries}
    except (ValueError, TypeError) as exc:
        raise Integrity(
            f"the index of pack {pack[:12]} is damaged: {exc}",
            where=where,
            hint="push again from a project that has the blobs; `loopline fsck` lists what is affected",
        ) from exc


class PackIndex:
    """The packs of one remote store: which blob is where, loaded from their indexes on first
    use and again when a blob is not found (another process may have pushed a pack since)."""

    def __init__(self, fs: Any, root: str, url: str) -> None:
        self._fs, self._dir, self._url = fs, f"{root}/{PACK_DIR}", url
        self._where: dict[str, Packed] = {}
        self._loaded: set[str] = set()
        self._listed = False
        self._lock = threading.Lock()

    def _path(self, pack: str, suffix: str) -> str:
        return f"{self._dir}/{pack}.{suffix}"

    def refresh(self) -> None:
        """Read the indexes of packs not seen yet."""
        with remote_errors(self._url):
            try:
                names = [p.rsplit("/", 1)[-1] for p in self._fs.ls(self._dir, detail=False, refresh=True)]
            except FileNotFoundError:
                names = []
            new = [n.removesuffix(".idx") for n in names if n.endswith(".idx")]
            new = [pack for pack in new if pack not in self._loaded]
            for pack in new:
                where = self._path(pack, "idx")
                found = read_index(pack, self._fs.cat_file(where), where)
                with self._lock:
                    self._where.update(found)
                    self._loaded.add(pack)
        self._listed = True

    def locate(self, digest: str, *, refresh: bool = True) -> Packed | None:
        """Where digest is packed, or None; the indexes are read again once when it is unknown."""
        if not self._listed or (digest not in self._where and refresh):
            self.refresh()
        return self._where.get(digest)

    def keys(self) -> set[str]:
        self.refresh()
        return set(self._where)

    def read(self, at: Packed) -> bytes:
        """The bytes at a packed place (one ranged GET); not yet checked against the key."""
        with remote_errors(self._url):
            data = self._fs.cat_file(self._path(at.pack, "pack"), start=at.offset, end=at.offset + at.length)
        return bytes(data)

    def whole(self, pack: str) -> bytes:
        with remote_errors(self._url):
            return bytes(self._fs.cat_file(self._path(pack, "pack")))

    def upload(self, blobs: Sequence[tuple[str, bytes]]) -> None:
        """Write one pack, then its index (which makes it visible)."""
        pack, body, index = build(blobs)
        with remote_errors(self._url):
            self._fs.pipe_file(self._path(pack, "pack"), body)
            self._fs.pipe_file(self._path(pack, "idx"), index)
        with self._lock:
            self._where.update(read_index(pack, index, self._path(pack, "idx")))
            self._loaded.add(pack)
