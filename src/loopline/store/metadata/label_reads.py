"""Labeling records from their rows, and a project's progress: the read side of annotations.py."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from loopline.core.labeling import Annotation, LabelProject
from loopline.store.metadata.label_queue import count
from loopline.store.metadata.tables import annotations_table, label_tasks
from loopline.store.metadata.times import as_aware


def to_project(row: Any) -> LabelProject:
    return LabelProject(
        name=row.name,
        dataset=row.dataset,
        dataset_version=row.dataset_version,
        artifact_id=row.artifact_id,
        task_type=row.task_type,
        labels=tuple(json.loads(row.labels_json)),
        instructions=row.instructions,
        overlap=row.overlap,
        gold_share=row.gold_share,
        annotator_limit=row.annotator_limit,
        lease_seconds=row.lease_seconds,
        text_field=row.text_field,
        created_at=as_aware(row.created_at),
    )


def to_annotation(r: Any) -> Annotation:
    """An annotations row joined with its task's item id."""
    return Annotation(
        r.id,
        r.task_id,
        r.annotator,
        json.loads(r.label_json),
        r.seconds,
        r.source,
        as_aware(r.created_at),
        r.item_id,
        json.loads(r.suggestion_json) if r.suggestion_json is not None else None,
    )


def progress(conn: sa.Connection, spec: LabelProject) -> dict[str, Any]:
    """{"tasks", "complete", "annotations", "per_annotator": {name: n}, "gold"} of one project."""
    tasks = sa.select(label_tasks).where(label_tasks.c.project == spec.name)
    regular = tasks.where(~label_tasks.c.is_gold)
    per = conn.execute(
        sa.select(annotations_table.c.annotator, sa.func.count())
        .where(annotations_table.c.project == spec.name)
        .group_by(annotations_table.c.annotator)
        .order_by(annotations_table.c.annotator)
    ).all()
    return {
        "tasks": count(conn, regular),
        "complete": count(conn, regular.where(label_tasks.c.done >= spec.overlap + label_tasks.c.extra)),
        "annotations": sum(n for _, n in per),
        "per_annotator": {name: int(n) for name, n in per},
        "gold": count(conn, tasks.where(label_tasks.c.is_gold)),
    }
