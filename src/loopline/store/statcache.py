"""A machine-local cache of file hashes keyed on (path, inode, size, mtime), like DVC's state db.

It lives beside the project (never in a shared PostgreSQL store) because inodes mean nothing on
another machine. Losing it costs only re-hashing.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
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

    def lookup_under(self, root: str) -> dict[str, tuple[Key, str]]:
        """Cached entries for every path under root (a folder) or equal to it (a file)."""
        prefix = root.rstrip("/") + "/"
        rows = self._db.execute(
            "SELECT path, inode, size, mtime_ns, digest FROM stat WHERE path = ? OR (path >= ? AND path < ?)",
            (root, prefix, prefix[:-1] + "0"),  # "0" sorts right after "/"
        )
        return {path: ((ino, size, mtime), digest) for path, ino, size, mtime, digest in rows}

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
