"""Run search as SQL: the filters and order of `loopline runs --filter/--order` and MLflow's
search_runs, both served by one query builder, and the loader of the runs found.

Filters become SQL joins on `metrics_latest` and EXISTS clauses: no run is filtered in Python.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from loopline.core.experiments import MetricPoint, RunFilter, RunOrder, TrackedRun
from loopline.store.metadata.tables import metrics_latest, run_params, run_tags, runs
from loopline.store.metadata.times import as_aware

_CHUNK = 500

_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "=": lambda c, v: c == v,
    "!=": lambda c, v: c != v,
    "<": lambda c, v: c < v,
    "<=": lambda c, v: c <= v,
    ">": lambda c, v: c > v,
    ">=": lambda c, v: c >= v,
}

_COLUMN = {
    "status": "status",
    "name": "name",
    "user": "user",
    "run_id": "id",
    "experiment_id": "experiment_id",
    "started_at": "started_at",
    "finished_at": "finished_at",
}


def search_query(
    *,
    experiment_ids: Sequence[int] | None = None,
    filters: Sequence[RunFilter] = (),
    order_by: Sequence[RunOrder] = (),
) -> sa.Select[Any]:
    """The SELECT of matching run ids in order: one inner join of `metrics_latest` per
    filtered metric, EXISTS for params and tags, outer joins only for sorting."""
    query = sa.select(runs.c.id)
    conditions: list[Any] = []
    if experiment_ids is not None:
        conditions.append(runs.c.experiment_id.in_(list(experiment_ids)))
    joined: dict[str, Any] = {}
    for item in filters:
        compare = _OPS[item.op]
        if item.kind == "metrics":
            alias = joined.get(item.key)
            if alias is None:
                alias = joined[item.key] = metrics_latest.alias(f"m{len(joined)}")
                query = query.join(alias, sa.and_(alias.c.run_id == runs.c.id, alias.c.key == item.key))
            conditions.append(compare(alias.c.value, item.value))
        elif item.kind in ("params", "tags"):
            table = run_params if item.kind == "params" else run_tags
            conditions.append(
                sa.exists().where(
                    table.c.run_id == runs.c.id,
                    table.c.key == item.key,
                    compare(table.c.value, item.value),
                )
            )
        else:
            conditions.append(_attribute_condition(item))
    if conditions:
        query = query.where(*conditions)
    order: list[Any] = []
    for n, sort in enumerate(order_by):
        if sort.kind == "metrics":
            alias = joined.get(sort.key)
            if alias is None:
                alias = joined[sort.key] = metrics_latest.alias(f"m{len(joined)}")
                query = query.outerjoin(alias, sa.and_(alias.c.run_id == runs.c.id, alias.c.key == sort.key))
            column = alias.c.value
        elif sort.kind in ("params", "tags"):
            sorted_by = (run_params if sort.kind == "params" else run_tags).alias(f"o{n}")
            query = query.outerjoin(
                sorted_by, sa.and_(sorted_by.c.run_id == runs.c.id, sorted_by.c.key == sort.key)
            )
            column = sorted_by.c.value
        else:
            column = runs.c[_COLUMN[sort.key]]
        order.append((column.desc() if sort.descending else column.asc()).nulls_last())
    order += [runs.c.started_at.desc(), runs.c.id.asc()]
    return query.order_by(*order)


def _attribute_condition(item: RunFilter) -> Any:
    column = runs.c[_COLUMN[item.key]]
    value: Any = item.value
    if item.key in ("started_at", "finished_at"):
        value = datetime.fromtimestamp(float(value) / 1000, UTC)  # MLflow's milliseconds
    elif item.key == "experiment_id":
        value = int(value)
    return _OPS[item.op](column, value)


def chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def load_runs(conn: sa.Connection, ids: Sequence[str]) -> list[TrackedRun]:
    """Runs with their params, tags and latest metric points, in the order of `ids` (unknown
    ids left out)."""
    found: dict[str, Any] = {}
    params: dict[str, dict[str, str]] = {i: {} for i in ids}
    tags: dict[str, dict[str, str]] = {i: {} for i in ids}
    latest: dict[str, list[MetricPoint]] = {i: [] for i in ids}
    for chunk in chunks(ids):
        for row in conn.execute(sa.select(runs).where(runs.c.id.in_(chunk))):
            found[row.id] = row
        for row in conn.execute(sa.select(run_params).where(run_params.c.run_id.in_(chunk))):
            params[row.run_id][row.key] = row.value
        for row in conn.execute(sa.select(run_tags).where(run_tags.c.run_id.in_(chunk))):
            tags[row.run_id][row.key] = row.value
        for row in conn.execute(sa.select(metrics_latest).where(metrics_latest.c.run_id.in_(chunk))):
            latest[row.run_id].append(MetricPoint(row.key, row.value, row.step, row.timestamp))
    return [
        TrackedRun(
            id=i,
            experiment_id=found[i].experiment_id,
            name=found[i].name,
            user=found[i].user,
            status=found[i].status,
            started_at=as_aware(found[i].started_at),
            finished_at=as_aware(found[i].finished_at),
            params=dict(sorted(params[i].items())),
            tags=dict(sorted(tags[i].items())),
            points=tuple(sorted(latest[i], key=lambda p: p.key)),
            lifecycle=found[i].lifecycle,
        )
        for i in ids
        if i in found
    ]
