"""Step-run rows, on a caller's connection: one step run written with everything that goes with
it (new artifacts, lineage edges, output versions, a source's state), and step runs read back
with their edges. MetadataStore (repository.py) wraps these in its reads and writes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from loopline.core.types import Artifact, StepRun
from loopline.store.metadata.artifact_rows import insert_artifact, next_version
from loopline.store.metadata.database import inserted_id
from loopline.store.metadata.peek import to_step_run
from loopline.store.metadata.tables import source_state as source_states
from loopline.store.metadata.tables import step_run_artifacts, step_runs
from loopline.store.metadata.times import utc_now


def insert_step_run(
    conn: sa.Connection,
    step: StepRun,
    produced: Sequence[Artifact],
    *,
    version: bool,
    source_state: tuple[str, dict[str, Any]] | None,
) -> int:
    """The step run, its new artifacts, lineage edges, output versions (when it ran and
    `version`) and a collection's new source state; its id."""
    for art in produced:
        insert_artifact(conn, art)
    step_id = inserted_id(
        conn.execute(
            step_runs.insert().values(
                run_id=step.run_id,
                name=step.name,
                status=step.status,
                fingerprint=step.fingerprint,
                code_hash=step.code_hash,
                params_json=json.dumps(step.params, sort_keys=True, default=str),
                uses=step.uses,
                bindings_json=json.dumps(step.bindings, sort_keys=True) if step.bindings else None,
                seconds=step.seconds,
                error=step.error,
                finished_at=utc_now(),
            )
        )
    )
    edges = [
        {"step_run_id": step_id, "role": role, "slot": slot, "artifact_id": art_id}
        for role, slots in (("in", step.inputs), ("out", step.outputs))
        for slot, art_id in slots.items()
    ]
    if edges:
        conn.execute(step_run_artifacts.insert(), edges)
    if step.status == "ran" and version:
        for slot, art_id in step.outputs.items():
            next_version(conn, slot, art_id, source=f"step:{step.name}", step_run_id=step_id)
    if source_state is not None:
        name, state = source_state
        conn.execute(source_states.delete().where(source_states.c.name == name))
        conn.execute(
            source_states.insert().values(
                name=name,
                state_json=json.dumps(state, sort_keys=True, default=str),
                updated_at=utc_now(),
                step_run_id=step_id,
            )
        )
    return step_id


def load_step_runs(conn: sa.Connection, query: sa.Select[Any]) -> list[StepRun]:
    """The step runs a query on `step_runs` selects, each with its input and output edges."""
    rows = conn.execute(query).all()
    ids = [r.id for r in rows]
    edges: dict[int, dict[str, dict[str, str]]] = {i: {"in": {}, "out": {}} for i in ids}
    if ids:
        of_these = sa.select(step_run_artifacts).where(step_run_artifacts.c.step_run_id.in_(ids))
        for row in conn.execute(of_these):
            edges[row.step_run_id][row.role][row.slot] = row.artifact_id
    return [to_step_run(r, edges[r.id]) for r in rows]


def linked(conn: sa.Connection, artifact_id: str, role: str, statuses: Sequence[str]) -> list[StepRun]:
    """Step runs with these statuses that read (role "in") or wrote ("out") the artifact, earliest
    first."""
    ids = sa.select(step_run_artifacts.c.step_run_id).where(
        step_run_artifacts.c.artifact_id == artifact_id, step_run_artifacts.c.role == role
    )
    query = sa.select(step_runs).where(step_runs.c.id.in_(ids), step_runs.c.status.in_(list(statuses)))
    return load_step_runs(conn, query.order_by(step_runs.c.id))
