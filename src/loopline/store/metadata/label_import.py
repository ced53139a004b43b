"""Answers made elsewhere (item_id, annotator, label, seconds, source), imported all or none: an
answer already stored with the same label is left alone, with another label a Conflict. The
queue's overlap does not bound them: they were not handed out by it.

With `repeats`, the k-th row of one (item, annotator) is that annotator's k-th answer to the
item (stored as one more answer when new), so importing the same file twice adds nothing;
without, every row is compared with the first stored answer.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from loopline.core.errors import Conflict, InvalidInput
from loopline.core.labeling import LabelProject
from loopline.store.metadata.label_checks import check_label
from loopline.store.metadata.tables import annotations_table, label_tasks

SOURCES = ("human", "rule", "model")
CHUNK = 500


def dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _stored(conn: sa.Connection, task_ids: Sequence[int]) -> dict[tuple[int, str], list[str]]:
    """(task id, annotator) -> the labels stored, in answer order."""
    existing: dict[tuple[int, str], list[str]] = {}
    a = annotations_table.c
    for start in range(0, len(task_ids), CHUNK):
        part = list(task_ids[start : start + CHUNK])
        for r in conn.execute(
            sa.select(a.task_id, a.annotator, a.label_json)
            .where(a.task_id.in_(part))
            .order_by(a.task_id, a.annotator, a.nth)
        ):
            existing.setdefault((r.task_id, r.annotator), []).append(r.label_json)
    return existing


def import_rows(
    conn: sa.Connection,
    spec: LabelProject,
    ids: dict[str, int],
    rows: Sequence[tuple[str, str, Any, float, str]],
    now: datetime,
    *,
    repeats: bool,
) -> dict[str, int]:
    """Insert the new answers of `rows` (item ids mapped to task ids by `ids`); {"added", "unchanged"}."""
    existing = _stored(conn, list(ids.values()))
    seen: dict[tuple[int, str], int] = {}
    new: list[dict[str, Any]] = []
    counts: dict[int, int] = {}
    unchanged = 0
    for n, (item_id, who, label, seconds, source) in enumerate(rows, 1):
        where = f"row {n} (item {item_id}, annotator {who})"
        if source not in SOURCES:
            hint = f"one of: {', '.join(SOURCES)}"
            raise InvalidInput(f"unknown source {source!r}", where=where, hint=hint)
        if not who:
            raise InvalidInput("the annotator is empty", where=where)
        text = dump(check_label(spec, label, where))
        key = (ids[item_id], who)
        nth = seen.get(key, 0) if repeats else 0
        seen[key] = nth + 1
        stored = existing.setdefault(key, [])
        if nth < len(stored):
            if stored[nth] != text:
                raise Conflict(
                    f"{who} answered {item_id} already with {json.loads(stored[nth])!r}",
                    where=where,
                    hint="drop the row, rename the annotator, or import repeats with "
                    "--duplicates keep|first|last",
                )
            unchanged += 1
            continue
        stored.append(text)
        new.append(
            {
                "task_id": key[0],
                "project": spec.name,
                "annotator": who,
                "nth": nth,
                "label_json": text,
                "seconds": float(seconds or 0.0),
                "source": source,
                "created_at": now,
            }
        )
        counts[key[0]] = counts.get(key[0], 0) + 1
    for start in range(0, len(new), CHUNK):
        conn.execute(annotations_table.insert(), new[start : start + CHUNK])
    for task_id, added in counts.items():
        conn.execute(
            label_tasks.update().where(label_tasks.c.id == task_id).values(done=label_tasks.c.done + added)
        )
    return {"added": len(new), "unchanged": unchanged}
