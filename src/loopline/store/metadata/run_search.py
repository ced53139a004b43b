"""Run search as SQL: the filters and order of `loopline runs --filter/--order` and MLflow's
search_runs, both served by one query builder.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from loopline.core.experiments import RunFilter, RunOrder
from loopline.store.metadata.tables import metrics_latest, run_params, run_tags, runs

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
