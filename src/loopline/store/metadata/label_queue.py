"""The labeling queue's SQL: which tasks an annotator may be handed next, whether a task still
has room, and the lease itself. Functions on the caller's connection, so `next_task` and `submit`
(annotations.py) run them inside their one locked write transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from loopline.core.errors import NotFound
from loopline.core.labeling import LabelProject, Lease, Task
from loopline.store.metadata.label_import import CHUNK, dump
from loopline.store.metadata.tables import annotations_table, label_leases, label_skips, label_tasks


def to_task(row: Any) -> Task:
    return Task(
        id=row.id,
        project=row.project,
        item_id=row.item_id,
        data=json.loads(row.data_json),
        priority=row.priority,
        gold=json.loads(row.gold_json) if row.is_gold and row.gold_json is not None else None,
        suggestion=json.loads(row.suggestion_json) if row.suggestion_json is not None else None,
        suggestion_source=row.suggestion_source,
        done=row.done,
        extra=row.extra,
    )


def count(conn: sa.Connection, query: Any) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one())


def progress_of(conn: sa.Connection, spec: LabelProject, annotator: str) -> dict[str, int]:
    done = count(
        conn,
        sa.select(annotations_table.c.id).where(
            annotations_table.c.project == spec.name, annotations_table.c.annotator == annotator
        ),
    )
    total = count(
        conn,
        sa.select(label_tasks.c.id).where(label_tasks.c.project == spec.name, ~label_tasks.c.is_gold),
    )
    if spec.annotator_limit is not None:
        total = min(total, spec.annotator_limit)
    return {"done": done, "total": total}


def lease(conn: sa.Connection, spec: LabelProject, task_id: int, annotator: str, now: datetime) -> Lease:
    expires = now + timedelta(seconds=spec.lease_seconds)
    conn.execute(
        label_leases.insert().values(
            task_id=task_id, annotator=annotator, project=spec.name, expires_at=expires
        )
    )
    row = conn.execute(sa.select(label_tasks).where(label_tasks.c.id == task_id)).one()
    return handed(row, annotator, expires, progress_of(conn, spec, annotator))


def handed(row: Any, annotator: str, expires: datetime, progress: dict[str, int]) -> Lease:
    """A lease as handed to an annotator: a gold task's known answer stays out of it."""
    return Lease(replace(to_task(row), gold=None), annotator, expires, progress)


def candidates(spec: LabelProject, annotator: str, now: datetime, gold: bool) -> sa.Select[Any]:
    mine = sa.select(annotations_table.c.task_id).where(
        annotations_table.c.project == spec.name, annotations_table.c.annotator == annotator
    )
    skipped = sa.select(label_skips.c.task_id).where(
        label_skips.c.project == spec.name, label_skips.c.annotator == annotator
    )
    query = sa.select(label_tasks.c.id).where(
        label_tasks.c.project == spec.name,
        label_tasks.c.is_gold == gold,
        label_tasks.c.id.not_in(mine),
        label_tasks.c.id.not_in(skipped),
    )
    if not gold:
        live = (
            sa.select(sa.func.count())
            .select_from(label_leases)
            .where(label_leases.c.task_id == label_tasks.c.id, label_leases.c.expires_at > now)
            .scalar_subquery()
        )
        wanted = spec.overlap + label_tasks.c.extra
        query = query.where(label_tasks.c.done < wanted, label_tasks.c.done + live < wanted)
    return query.order_by(label_tasks.c.priority.desc(), label_tasks.c.id)


def has_room(conn: sa.Connection, spec: LabelProject, task_id: int, now: datetime) -> bool:
    """Answers plus live leases below the overlap, counted in a fresh statement."""
    answers = count(conn, sa.select(annotations_table.c.id).where(annotations_table.c.task_id == task_id))
    leases = count(
        conn,
        sa.select(label_leases.c.task_id).where(
            label_leases.c.task_id == task_id, label_leases.c.expires_at > now
        ),
    )
    extra: int = conn.execute(sa.select(label_tasks.c.extra).where(label_tasks.c.id == task_id)).scalar_one()
    return answers + leases < spec.overlap + extra


def pick(
    conn: sa.Connection, spec: LabelProject, annotator: str, now: datetime, gold: bool, *, postgres: bool
) -> int | None:
    query = candidates(spec, annotator, now, gold)
    tried: list[int] = []
    while True:
        candidate = (query.where(label_tasks.c.id.not_in(tried)) if tried else query).limit(1)
        if postgres:  # annotators never queue behind each other's locks
            candidate = candidate.with_for_update(skip_locked=True, of=label_tasks)
        task_id = conn.execute(candidate).scalar()
        if task_id is None:
            return None
        if gold or not postgres or has_room(conn, spec, task_id, now):
            return int(task_id)
        tried.append(int(task_id))


def locked_task(conn: sa.Connection, project: str, task_id: int) -> Any:
    row = conn.execute(
        sa.select(label_tasks)
        .where(label_tasks.c.id == task_id, label_tasks.c.project == project)
        .with_for_update()
    ).first()
    if row is None:
        raise NotFound(f"no task {task_id} in labeling project {project!r}")
    return row


def insert_tasks(
    conn: sa.Connection, project: str, items: Sequence[tuple[str, dict[str, Any]]], seen: set[str]
) -> int:
    """One task per item not in `seen`, whatever the dataset repeats."""
    rows = []
    for item_id, data in items:
        if item_id in seen:
            continue
        seen.add(item_id)
        rows.append(
            {
                "project": project,
                "item_id": item_id,
                "data_json": dump(data),
                "priority": 0.0,
                "is_gold": False,
                "done": 0,
            }
        )
    for start in range(0, len(rows), CHUNK):
        conn.execute(label_tasks.insert(), rows[start : start + CHUNK])
    return len(rows)
