"""Walking a folder and hashing its files fast: shared by `loopline add` and the folder and files
sources, so an unchanged folder costs one directory walk and one stat-cache query, whoever asks.

The walk works on strings and the stat results `os.scandir` already holds (no `Path` per file);
on 10,000 files these are most of what a no-change pass costs.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from loopline.core.hashing import hash_file
from loopline.store.statcache import Key, StatCache, stat_key

if TYPE_CHECKING:
    from loopline.store.blobs import BlobStore

_HASH_WORKERS = 4

# (relative posix path, absolute path, stat key) of one file
FileInfo = tuple[str, str, Key]


def scan_files(
    root: str, *, links: list[tuple[str, str]] | None = None, skip_hidden: bool = False
) -> list[FileInfo]:
    """Every file under root, sorted by relative path; as `os.walk`: symlinked folders are not
    entered, symlinked files are followed, unreadable folders and dangling links are skipped.

    When `links` is given, every symbolic link met (file or folder, dangling or not) is appended
    to it as (relative path, absolute path), so a caller can refuse the ones leaving root.
    `skip_hidden` leaves out names starting with a dot (and everything under them).
    """
    found: list[FileInfo] = []
    pending = [(root, "")]
    while pending:
        folder, rel = pending.pop()
        try:
            with os.scandir(folder) as listing:
                entries = list(listing)
        except OSError:
            continue
        for entry in entries:
            if skip_hidden and entry.name.startswith("."):
                continue
            name = f"{rel}{entry.name}"
            try:
                is_link = entry.is_symlink()
                is_dir = entry.is_dir()
            except OSError:
                is_link, is_dir = False, False
            if is_link and links is not None:
                links.append((name, entry.path))
            if is_dir:
                if not is_link:
                    pending.append((entry.path, f"{name}/"))
                continue
            try:
                found.append((name, entry.path, stat_key(entry.stat())))
            except OSError:  # a dangling link, or a file removed while we walked
                continue
    found.sort()
    return found


def hash_files(
    files: list[FileInfo], cache: StatCache, root: str, *, store: BlobStore | None = None
) -> tuple[list[str], int]:
    """Digests of files, in order, hashing only those the stat cache cannot vouch for; returns
    (digests, how many files were read). With a store, the files read are stored by that same
    read (BlobStore.ingest: no second pass over them), durable on return; the others are not."""
    vouched = cache.vouched(files, root)
    digests = [digest or "" for digest in vouched]
    todo = [i for i, digest in enumerate(vouched) if digest is None]
    if todo and store is not None:
        for i, digest in zip(todo, store.ingest([files[i][1:] for i in todo]), strict=True):
            digests[i] = digest
    elif todo:
        from concurrent.futures import ThreadPoolExecutor  # (with logging, threading) only to hash

        def work(part: list[int]) -> list[tuple[int, str]]:
            return [(i, hash_file(files[i][1])) for i in part]

        parts = [todo[w::_HASH_WORKERS] for w in range(_HASH_WORKERS)]
        with ThreadPoolExecutor(max_workers=_HASH_WORKERS) as pool:
            for done in pool.map(work, parts):
                for i, digest in done:
                    digests[i] = digest
    if todo:
        cache.update((files[i][1], files[i][2], digests[i]) for i in todo)
    return digests, len(todo)
