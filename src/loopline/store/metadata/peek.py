"""Read-only answers from a SQLite metadata database with the stdlib `sqlite3` module alone, for a
command that must answer before SQLAlchemy could even be imported: `loopline add` of an unchanged
folder, `status` and the listings `runs`, `datasets` and `models`, which Project answers here
while its full store is not open (importing SQLAlchemy costs about as much as the 0.3 s they may
take in all).
Each answer is the repository's or None: None whenever this cannot be sure (another engine, no
database yet, a schema not at HEAD_REVISION, mid-migration, locked), and the caller then asks
MetadataStore, which opens, migrates and reports errors as usual.

The row-to-record conversions live here so that both read the same columns the same way; the
queries are the repository's (repository.py, registry.py), in SQL.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from urllib.parse import quote

from loopline.core.types import Artifact, Run, StepRun
from loopline.store.metadata.migrations import HEAD_REVISION
from loopline.store.metadata.summaries import RegisteredModel, VersionSummary
from loopline.store.metadata.times import as_aware

_SQLITE = "sqlite:///"

# artifact_rows.versions_query, in SQL.
_LATEST = """
SELECT a.id, a.kind, a.blob, a.size, a.rows, a.schema_json, a.created_at,
       v.name, v.version, v.created_at AS version_created_at, v.source, v.original_blob, v.original_name
FROM artifact_versions AS v JOIN artifacts AS a ON a.id = v.artifact_id
WHERE v.name = ? ORDER BY v.version DESC LIMIT 1
"""
_VERSION = _LATEST.replace("ORDER BY v.version DESC LIMIT 1", "AND v.version = ?")

# MetadataStore.datasets: the latest version of every name, with the number of versions.
_DATASETS = """
SELECT a.id, a.kind, a.blob, a.size, a.rows, a.schema_json, a.created_at,
       v.name, v.version, v.created_at AS version_created_at, v.source, v.original_blob, v.original_name,
       top.n
FROM artifact_versions AS v JOIN artifacts AS a ON a.id = v.artifact_id
JOIN (SELECT name, max(version) AS top, count(*) AS n FROM artifact_versions GROUP BY name) AS top
  ON top.name = v.name AND top.top = v.version
ORDER BY v.name
"""

# MetadataStore.list_runs: a page of runs (ix_runs_started), then their steps (ix_step_runs_run)
# and the steps' lineage edges (the primary key), each for exactly the ids of the page.
_RUNS = """
SELECT id, status, started_at, finished_at, executor, environment_id, git_commit, git_dirty,
       reproduce_of, host, pid
FROM runs WHERE lifecycle = 'active' ORDER BY started_at DESC LIMIT ?
"""
PARENT_TAG = "loopline.parent_run"  # tables.PARENT_TAG: a tuning trial's tag (no SQLAlchemy here)
_TOP_RUNS = _RUNS.replace(
    "WHERE lifecycle = 'active'",
    f"WHERE lifecycle = 'active' AND id NOT IN (SELECT run_id FROM run_tags WHERE key = '{PARENT_TAG}')",
)
_CHILD_COUNTS = f"""
SELECT value, count(*) FROM run_tags WHERE key = '{PARENT_TAG}' AND value IN (SELECT value FROM json_each(?))
GROUP BY value
"""
_STEPS = """
SELECT id, run_id, name, status, fingerprint, code_hash, params_json, uses, bindings_json, seconds, error
FROM step_runs WHERE run_id IN (SELECT value FROM json_each(?)) ORDER BY id
"""
_EDGES = """
SELECT e.step_run_id, e.role, e.slot, e.artifact_id
FROM step_run_artifacts AS e JOIN step_runs AS s ON s.id = e.step_run_id
WHERE s.run_id IN (SELECT value FROM json_each(?))
"""
_RUNNING = "SELECT pid FROM runs WHERE status = 'running' AND host = ?"

# ModelRegistry.list_models: every model with its latest version and number of versions (deleted
# models and versions left out, as registry_rows.list_models leaves them).
_MODELS = """
SELECT m.name, m.description, m.created_at, m.updated_at, m.tags_json, top.n,
       v.version, v.artifact_id, v.run_id, v.status, v.gates_passed, v.metrics_json,
       v.created_at AS version_created_at
FROM registered_models AS m
LEFT JOIN (SELECT name, max(version) AS top, count(*) AS n FROM model_versions
           WHERE lifecycle = 'active' GROUP BY name) AS top
  ON top.name = m.name
LEFT JOIN model_versions AS v ON v.name = m.name AND v.version = top.top
WHERE m.lifecycle = 'active'
ORDER BY m.name
"""
_ALIASES = "SELECT name, alias, version FROM model_aliases"


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


def to_step_run(row: Any, edges: dict[str, dict[str, str]]) -> StepRun:
    """A step_runs row, with its lineage edges ({"in": {slot: id}, "out": {slot: id}})."""
    return StepRun(
        id=row.id,
        run_id=row.run_id,
        name=row.name,
        status=row.status,
        fingerprint=row.fingerprint,
        code_hash=row.code_hash,
        params=json.loads(row.params_json),
        uses=row.uses,
        inputs=edges["in"],
        outputs=edges["out"],
        seconds=row.seconds,
        error=row.error,
        bindings=json.loads(row.bindings_json) if row.bindings_json else {},
    )


def to_run(row: Any, steps: list[StepRun]) -> Run:
    return Run(
        id=row.id,
        status=row.status,
        started_at=as_aware(row.started_at),
        finished_at=as_aware(row.finished_at),
        executor=row.executor,
        environment_id=row.environment_id,
        git_commit=row.git_commit,
        git_dirty=None if row.git_dirty is None else bool(row.git_dirty),
        reproduce_of=row.reproduce_of,
        steps=steps,
        host=row.host,
        pid=row.pid,
    )


def alive(pid: int) -> bool:
    """Whether a process of this host still runs (a run whose process died was interrupted)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Row:
    """A sqlite3 row read by attribute, times parsed as SQLAlchemy's DateTime does."""

    def __init__(self, cursor: sqlite3.Cursor, values: tuple[Any, ...]) -> None:
        for (column, *_), value in zip(cursor.description, values, strict=True):
            if column.endswith("_at") and value is not None:
                value = datetime.fromisoformat(value)
            setattr(self, column, value)


@contextmanager
def _snapshot(url: str) -> Iterator[sqlite3.Connection | None]:
    """A read-only connection in one read transaction, or None when this cannot answer: not
    SQLite, no database yet, another schema revision, locked."""
    path = url.removeprefix(_SQLITE)
    if path == url or not path or path.startswith(":memory:") or "?" in path or "%" in path:
        yield None  # not SQLite, or a URL whose query or escapes SQLAlchemy would read
        return
    try:
        # Read-only: no journal mode change, no checkpoint on close; a WAL database is read as is.
        db = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error:
        yield None
        return
    try:
        try:
            db.execute("BEGIN")  # one snapshot for the revision and what is read
            (revision,) = db.execute("SELECT version_num FROM alembic_version").fetchone() or (None,)
        except sqlite3.Error:
            revision = None
        yield db if revision == HEAD_REVISION else None  # the caller's errors pass through
    finally:
        db.close()


def _rows(db: sqlite3.Connection, sql: str, *params: Any) -> list[Any]:
    cursor = db.execute(sql, params)
    cursor.row_factory = _Row
    return cursor.fetchall()


def latest_version(url: str, name: str) -> Artifact | None:
    """MetadataStore(url).latest_version(name) for a SQLite URL at HEAD_REVISION; None when name
    has no version or this cannot tell (then the full store must answer)."""
    try:
        with _snapshot(url) as db:
            found = _rows(db, _LATEST, name) if db is not None else []
            return to_artifact(found[0]) if found else None
    except (sqlite3.Error, ValueError):
        return None


def datasets(url: str) -> list[tuple[Artifact, int]] | None:
    """MetadataStore(url).datasets(), or None when this cannot tell."""
    try:
        with _snapshot(url) as db:
            return None if db is None else [(to_artifact(r), r.n) for r in _rows(db, _DATASETS)]
    except (sqlite3.Error, ValueError):
        return None


def list_runs(
    url: str, limit: int, host: str, is_alive: Callable[[int], bool] = alive, *, top_level: bool = False
) -> list[Run] | None:
    """MetadataStore(url).list_runs(limit, top_level=...), or None when this cannot tell, or when
    a run of this host is still marked running though its process is gone (the full store marks
    it interrupted, a write this reader does not make)."""
    try:
        with _snapshot(url) as db:
            if db is None or any(p is not None and not is_alive(p) for (p,) in db.execute(_RUNNING, (host,))):
                return None
            found = _rows(db, _TOP_RUNS if top_level else _RUNS, limit)
            ids = json.dumps([r.id for r in found])
            steps = _rows(db, _STEPS, ids)
            edges: dict[int, dict[str, dict[str, str]]] = {s.id: {"in": {}, "out": {}} for s in steps}
            for step_id, role, slot, artifact_id in db.execute(_EDGES, (ids,)):
                edges[step_id][role][slot] = artifact_id
    except (sqlite3.Error, ValueError, KeyError):
        return None
    by_run: dict[str, list[StepRun]] = {}
    for s in steps:
        by_run.setdefault(s.run_id, []).append(to_step_run(s, edges[s.id]))
    return [to_run(r, by_run.get(r.id, [])) for r in found]


def child_counts(url: str, run_ids: Sequence[str]) -> dict[str, int] | None:
    """How many runs are nested under each of run_ids (0 for none), or None when this cannot tell."""
    try:
        with _snapshot(url) as db:
            if db is None:
                return None
            counts = dict(db.execute(_CHILD_COUNTS, (json.dumps(list(run_ids)),)).fetchall())
    except sqlite3.Error:
        return None
    return {run_id: int(counts.get(run_id, 0)) for run_id in run_ids}


def list_models(url: str) -> list[RegisteredModel] | None:
    """The registry's list_models() (every model), or None when this cannot tell."""
    try:
        with _snapshot(url) as db:
            if db is None:
                return None
            rows = _rows(db, _MODELS)
            aliases: dict[str, dict[str, int]] = {}
            for name, alias, version in db.execute(_ALIASES):
                aliases.setdefault(name, {})[alias] = version
    except (sqlite3.Error, ValueError):
        return None
    found = []
    for r in rows:
        latest = None
        if r.version is not None:
            gates = None if r.gates_passed is None else bool(r.gates_passed)
            metrics = json.loads(r.metrics_json) if r.metrics_json else {}
            latest = VersionSummary(
                r.version, r.artifact_id, r.run_id, r.status, gates, metrics, as_aware(r.version_created_at)
            )
        mine = aliases.get(r.name)
        found.append(
            RegisteredModel(
                name=r.name,
                description=r.description,
                created_at=as_aware(r.created_at),
                updated_at=as_aware(r.updated_at),
                latest=latest,
                versions=r.n or 0,
                aliases=dict(sorted(mine.items())) if mine else {},
                tags=json.loads(r.tags_json) if r.tags_json else {},
            )
        )
    return found


# What pipeline/status.py reads (MetadataStore's latest_step_runs, find_cached, get_artifacts).
_STEP_COLUMNS = (
    "id, run_id, name, status, fingerprint, code_hash, params_json, uses, bindings_json, seconds, error"
)
_LATEST_STEPS = f"""
SELECT {_STEP_COLUMNS} FROM step_runs WHERE id IN
  (SELECT max(id) FROM step_runs WHERE status IN ('ran', 'cached') GROUP BY name)
"""
_CACHED = f"""
SELECT {_STEP_COLUMNS} FROM step_runs WHERE fingerprint = ? AND status = 'ran' ORDER BY id DESC LIMIT 1
"""
_STEP_EDGES = "SELECT role, slot, artifact_id FROM step_run_artifacts WHERE step_run_id = ?"
_ARTIFACTS = """
SELECT id, kind, blob, size, rows, schema_json, created_at FROM artifacts
WHERE id IN (SELECT value FROM json_each(?))
"""


class Unsure(Exception):
    """The database could not be read as this module reads it: ask MetadataStore instead.

    Not a LooplineError on purpose: it never reaches a user. Only Snapshot raises it, and its one
    reader, Project.status, catches it and asks the full store (tests/core/test_errors.py)."""


class Snapshot:
    """The reads `loopline status` makes (pipeline/status.py), answered from one read transaction with
    sqlite3 alone, as MetadataStore answers them. Unsure when a read fails."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def _rows(self, sql: str, *params: Any) -> list[Any]:
        try:
            return _rows(self._db, sql, *params)
        except (sqlite3.Error, ValueError) as exc:
            raise Unsure(str(exc)) from exc

    def _step_runs(self, sql: str, *params: Any) -> list[StepRun]:
        found = []
        for row in self._rows(sql, *params):
            edges: dict[str, dict[str, str]] = {"in": {}, "out": {}}
            for edge in self._rows(_STEP_EDGES, row.id):
                edges[edge.role][edge.slot] = edge.artifact_id
            found.append(to_step_run(row, edges))
        return found

    def latest_step_runs(self) -> dict[str, StepRun]:
        return {s.name: s for s in self._step_runs(_LATEST_STEPS)}

    def latest_version(self, name: str) -> Artifact | None:
        found = self._rows(_LATEST, name)
        return to_artifact(found[0]) if found else None

    def get_version(self, name: str, version: int) -> Artifact:
        """NAME@VERSION (a pinned input); NotFound as MetadataStore raises it."""
        from loopline.core.errors import NotFound

        found = self._rows(_VERSION, name, version)
        if not found:
            raise NotFound(f"{name} has no version {version}")
        return to_artifact(found[0])

    def find_cached(self, fingerprint: str) -> dict[str, str] | None:
        found = self._step_runs(_CACHED, fingerprint)
        return found[0].outputs if found else None

    def get_artifacts(self, ids: Sequence[str]) -> dict[str, Artifact]:
        return {r.id: to_artifact(r, versioned=False) for r in self._rows(_ARTIFACTS, json.dumps(list(ids)))}


@contextmanager
def snapshot(url: str) -> Iterator[Snapshot | None]:
    """A Snapshot of a SQLite store at HEAD_REVISION, or None when this cannot read it."""
    with _snapshot(url) as db:
        yield None if db is None else Snapshot(db)
