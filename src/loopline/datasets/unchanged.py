"""`loopline add` of a path that still holds the latest version of its name, answered with no
write and no hashing: a directory walk, one stat-cache query and the manifest id, as add_path
does them (its pieces are shared, not copied), so the command costs little more than starting
the command line.

It answers only when sure and then returns the very AddResult add_path would; otherwise None,
and the caller runs add_path: a file the stat cache cannot vouch for, a change, an empty or
missing path, a file that is not a table. It lives in datasets/ beside add_path; Project.add
calls it before opening the metadata store (and so before SQLAlchemy is imported).
"""

from __future__ import annotations

from pathlib import Path

from loopline.core.ids import check_name
from loopline.core.types import Artifact
from loopline.datasets.snapshot import TABLE_SUFFIXES, AddResult, manifest_id
from loopline.store.filescan import scan_files
from loopline.store.statcache import StatCache, stat_key


def unchanged(path: Path, name: str, latest: Artifact, cache: StatCache) -> AddResult | None:
    """add_path(path, name, …)'s result when it would find nothing changed and hash no file;
    `latest` is the latest version of name."""
    check_name(name, "dataset name")
    path = path.absolute()
    root = str(path)
    if path.is_dir():
        files = scan_files(root)
        digests = [digest for digest in cache.vouched(files, root) if digest is not None]
        if not files or len(digests) < len(files) or manifest_id(files, digests) != latest.id:
            return None
    elif path.is_file() and path.suffix.lower() in TABLE_SUFFIXES:
        files = [(path.name, root, stat_key(path.stat()))]
        (digest,) = cache.vouched(files, root)
        if digest is None or digest != latest.original_blob:
            return None
    else:
        return None
    return AddResult(name, latest.version or 0, False, latest, len(files), 0)
