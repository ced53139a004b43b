"""Sealed test sets: which artifacts are sealed, and every read of one.

An artifact is sealed when a step run produced it under an output the step declared sealed
(recorded in the step run's bindings as {"sealed": {artifact: key}}), so a later run that takes
it as a dataset still knows it for a test split.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from loopline.store.metadata.database import Database
from loopline.store.metadata.tables import step_run_artifacts, step_runs, test_reads


def sealed_artifacts(db: Database, ids: Sequence[str]) -> set[str]:
    if not ids:
        return set()
    query = (
        sa.select(step_run_artifacts.c.slot, step_run_artifacts.c.artifact_id, step_runs.c.bindings_json)
        .join(step_runs, step_runs.c.id == step_run_artifacts.c.step_run_id)
        .where(
            step_run_artifacts.c.role == "out",
            step_run_artifacts.c.artifact_id.in_(list(ids)),
            step_runs.c.bindings_json.like('%"sealed"%'),
        )
    )
    with db.read() as conn:
        rows = conn.execute(query).all()
    return {r.artifact_id for r in rows if r.slot in json.loads(r.bindings_json).get("sealed", {})}


def record_read(db: Database, artifact_id: str, run_id: str, step_name: str) -> None:
    db.write(
        lambda conn: conn.execute(
            test_reads.insert().values(
                artifact_id=artifact_id, run_id=run_id, step_name=step_name, at=datetime.now(UTC)
            )
        ),
        db.change("test_set.read", f"{artifact_id}:{run_id}/{step_name}"),
    )


def count_reads(db: Database, artifact_id: str) -> int:
    query = sa.select(sa.func.count()).select_from(test_reads).where(test_reads.c.artifact_id == artifact_id)
    with db.read() as conn:
        return int(conn.execute(query).scalar_one())


def reads(db: Database, artifact_id: str) -> list[dict[str, Any]]:
    query = sa.select(test_reads).where(test_reads.c.artifact_id == artifact_id).order_by(test_reads.c.id)
    with db.read() as conn:
        rows = conn.execute(query).all()
    return [
        {
            "run_id": r.run_id,
            "step": r.step_name,
            "at": (r.at.replace(tzinfo=UTC) if r.at.tzinfo is None else r.at).isoformat(),
        }
        for r in rows
    ]
