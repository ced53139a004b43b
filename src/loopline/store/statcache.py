"""A machine-local cache of file hashes keyed on (path, inode, size, mtime), like DVC's state db.

It lives beside the project (never in a shared PostgreSQL store) because inodes mean nothing on
another machine. Losing it costs only re-hashing.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

_SCHEMA = """CREATE TABLE IF NOT EXISTS stat (
  path TEXT PRIMARY KEY, inode INTEGER, size INTEGER, mtime_ns INTEGER, digest TEXT)"""

Key = tuple[int, int, int]  # inode, size, mtime_ns


def stat_key(st: os.stat_result) -> Key:
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class StatCache:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=60, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)

    def vouched(self, files: Sequence[tuple[str, str, Key]], root: str) -> list[str | None]:
        """For each (relative path, absolute path, stat key) under root (a folder, or the file
        itself): its cached digest while the file keeps the inode, size and mtime it was hashed
        with, else None (it must be read). One query for the whole of root."""
        prefix = root.rstrip("/") + "/"
        rows = self._db.execute(
            "SELECT path, inode, size, mtime_ns, digest FROM stat WHERE path = ? OR (path >= ? AND path < ?)",
            (root, prefix, prefix[:-1] + "0"),  # "0" sorts right after "/"
        )
        known = {path: ((ino, size, mtime), digest) for path, ino, size, mtime, digest in rows}
        return [
            hit[1] if (hit := known.get(full)) is not None and hit[0] == key else None
            for _, full, key in files
        ]

    def update(self, entries: Iterable[tuple[str, Key, str]]) -> None:
        rows = [(path, *key, digest) for path, key, digest in entries]
        if not rows:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany("INSERT OR REPLACE INTO stat VALUES (?, ?, ?, ?, ?)", rows)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self._db.close()
