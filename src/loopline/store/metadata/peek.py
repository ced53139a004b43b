"""Read-only answers from a SQLite metadata database with the stdlib `sqlite3` module alone, for a
command that must answer before SQLAlchemy could even be imported (`loopline add` of an unchanged
folder, cli/app.py). Each answer is the repository's or None: None whenever this cannot be sure
(another engine, no database yet, a schema not at HEAD_REVISION, mid-migration, locked), and the
caller then asks MetadataStore, which opens, migrates and reports errors as usual.

The row-to-Artifact conversion lives here so that both read the same columns the same way.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any
from urllib.parse import quote

from loopline.core.types import Artifact
from loopline.store.metadata.migrations import HEAD_REVISION
from loopline.store.metadata.times import as_aware

_SQLITE = "sqlite:///"

# MetadataStore._versions_query, in SQL.
_LATEST = """
SELECT a.id, a.kind, a.blob, a.size, a.rows, a.schema_json, a.created_at,
       v.name, v.version, v.created_at AS version_created_at, v.source, v.original_blob, v.original_name
FROM artifact_versions AS v JOIN artifacts AS a ON a.id = v.artifact_id
WHERE v.name = ? ORDER BY v.version DESC LIMIT 1
"""


def to_artifact(row: Any, versioned: bool = True) -> Artifact:
    """An artifacts row (joined with its artifact_versions row when `versioned`) as an Artifact."""
    return Artifact(
        id=row.id,
        kind=row.kind,
        blob=row.blob,
        size=row.size,
        rows=row.rows,
        schema=json.loads(row.schema_json) if row.schema_json else None,
        name=row.name if versioned else None,
        version=row.version if versioned else None,
        created_at=as_aware(row.version_created_at if versioned else row.created_at),
        source=row.source if versioned else None,
        original_blob=row.original_blob if versioned else None,
        original_name=row.original_name if versioned else None,
    )


class _Row:
    """A sqlite3 row read by attribute, times parsed as SQLAlchemy's DateTime does."""

    def __init__(self, cursor: sqlite3.Cursor, values: tuple[Any, ...]) -> None:
        for (column, *_), value in zip(cursor.description, values, strict=True):
            if column.endswith("created_at") and value is not None:
                value = datetime.fromisoformat(value)
            setattr(self, column, value)


def latest_version(url: str, name: str) -> Artifact | None:
    """MetadataStore(url).latest_version(name) for a SQLite URL at HEAD_REVISION; None when name
    has no version or this cannot tell (then the full store must answer)."""
    path = url.removeprefix(_SQLITE)
    if path == url or not path or path.startswith(":memory:") or "?" in path or "%" in path:
        return None  # not SQLite, or a URL whose query or escapes SQLAlchemy would read
    try:
        # Read-only: no journal mode change, no checkpoint on close; a WAL database is read as is.
        db = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error:
        return None
    try:
        db.execute("BEGIN")  # one snapshot for the revision and the version
        (revision,) = db.execute("SELECT version_num FROM alembic_version").fetchone() or (None,)
        if revision != HEAD_REVISION:
            return None
        cursor = db.execute(_LATEST, (name,))
        cursor.row_factory = _Row
        row = cursor.fetchone()
        return to_artifact(row) if row is not None else None
    except (sqlite3.Error, ValueError):
        return None
    finally:
        db.close()
