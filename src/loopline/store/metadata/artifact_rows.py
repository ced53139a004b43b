"""Artifact and version rows, on a caller's connection.

Datasets, step runs, monitoring profiles and MLflow artifacts all insert artifacts: the rows are
written here once, on the connection of the write that needs them. The listings `datasets` and
`fsck` read are here too.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from loopline.core.errors import Conflict, NotFound
from loopline.core.types import Artifact
from loopline.store.metadata.peek import to_artifact
from loopline.store.metadata.tables import artifact_versions, artifacts, step_run_artifacts
from loopline.store.metadata.times import utc_now


def insert_artifact(conn: sa.Connection, art: Artifact) -> None:
    if conn.execute(sa.select(artifacts.c.id).where(artifacts.c.id == art.id)).first():
        return
    conn.execute(
        artifacts.insert().values(
            id=art.id,
            kind=art.kind,
            blob=art.blob,
            size=art.size,
            rows=art.rows,
            schema_json=json.dumps(art.schema) if art.schema is not None else None,
            created_at=utc_now(),
        )
    )


def latest_row(conn: sa.Connection, name: str) -> Any:
    """(version, artifact_id) of the latest version of name, or None."""
    return conn.execute(
        sa.select(artifact_versions.c.version, artifact_versions.c.artifact_id)
        .where(artifact_versions.c.name == name)
        .order_by(artifact_versions.c.version.desc())
        .limit(1)
    ).first()


def next_version(conn: sa.Connection, name: str, artifact_id: str, **extra: Any) -> int | None:
    """Add artifact_id as the next version of name, unless it already is the latest."""
    latest = latest_row(conn, name)
    if latest is not None and latest.artifact_id == artifact_id:
        return None
    version = 1 if latest is None else latest.version + 1
    conn.execute(
        artifact_versions.insert().values(
            name=name, version=version, artifact_id=artifact_id, created_at=utc_now(), **extra
        )
    )
    return int(version)


def versions_query() -> sa.Select[Any]:
    """Artifacts seen through their versions (the columns `to_artifact` reads)."""
    return sa.select(
        artifacts,
        artifact_versions.c.name,
        artifact_versions.c.version,
        artifact_versions.c.created_at.label("version_created_at"),
        artifact_versions.c.source,
        artifact_versions.c.original_blob,
        artifact_versions.c.original_name,
    ).join(artifacts, artifacts.c.id == artifact_versions.c.artifact_id)


def find_artifact(conn: sa.Connection, id_or_prefix: str) -> Artifact:
    """The artifact with this id (or unique id prefix), seen through its latest version if any."""
    rows = conn.execute(sa.select(artifacts).where(artifacts.c.id.startswith(id_or_prefix)).limit(2)).all()
    if len(rows) > 1:
        raise Conflict(f"artifact id prefix {id_or_prefix!r} is ambiguous", hint="give more digits")
    if not rows:
        raise NotFound(f"no artifact with id {id_or_prefix!r}")
    version = conn.execute(
        versions_query()
        .where(artifact_versions.c.artifact_id == rows[0].id)
        .order_by(artifact_versions.c.created_at.desc())
        .limit(1)
    ).first()
    return to_artifact(version) if version else to_artifact(rows[0], versioned=False)


def latest_of_each(conn: sa.Connection) -> list[tuple[Artifact, int]]:
    """The latest version of every name, with the number of versions, by name."""
    latest = (
        sa.select(
            artifact_versions.c.name,
            sa.func.max(artifact_versions.c.version).label("top"),
            sa.func.count().label("n"),
        )
        .group_by(artifact_versions.c.name)
        .subquery()
    )
    query = (
        versions_query()
        .add_columns(latest.c.n)
        .join(
            latest,
            sa.and_(latest.c.name == artifact_versions.c.name, latest.c.top == artifact_versions.c.version),
        )
        .order_by(artifact_versions.c.name)
    )
    return [(to_artifact(row), row.n) for row in conn.execute(query)]


def blob_references(conn: sa.Connection) -> list[tuple[str, str]]:
    """(what refers, blob key) for every blob the artifact rows point at."""
    refs = [(f"artifact {r.id[:12]}", r.blob) for r in conn.execute(sa.select(artifacts))]
    as_added = sa.select(artifact_versions).where(artifact_versions.c.original_blob.is_not(None))
    refs += [(f"{r.name}@{r.version} (as added)", r.original_blob) for r in conn.execute(as_added)]
    return refs


def dangling_references(conn: sa.Connection) -> list[str]:
    """Version and lineage rows that point to an artifact that does not exist."""
    found: list[str] = []
    known = set(conn.execute(sa.select(artifacts.c.id)).scalars())
    for row in conn.execute(sa.select(artifact_versions)):
        if row.artifact_id not in known:
            found.append(f"{row.name}@{row.version} points to missing artifact {row.artifact_id[:12]}")
    for row in conn.execute(sa.select(step_run_artifacts)):
        if row.artifact_id not in known:
            found.append(
                f"step run {row.step_run_id} {row.role}put {row.slot} points to missing "
                f"artifact {row.artifact_id[:12]}"
            )
    return found
