"""Run search as SQL: the filters and order of `loopline runs --filter/--order` and MLflow's
search_runs, both served by one query builder, and the loader of the runs found.

Filters (core/search_filter.py's clauses) become SQL joins on `metrics_latest` and EXISTS
clauses: no run is filtered in Python. LIKE / ILIKE compile per engine (TextMatch) so both
engines give the same answer; the JSON-held tags of other MLflow searches are matched through
`json_key_condition` (mlflow_search.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles

from loopline.core.experiments import MetricPoint, RunFilter, RunOrder, TrackedRun
from loopline.store.metadata.tables import metrics_latest, run_params, run_tags, runs
from loopline.store.metadata.times import as_aware

_CHUNK = 500

# loopline's run statuses as MLflow names them (what MLflow's `status` attribute compares).
MLFLOW_STATUS = {
    "running": "RUNNING",
    "scheduled": "SCHEDULED",
    "succeeded": "FINISHED",
    "failed": "FAILED",
    "killed": "KILLED",
    "interrupted": "KILLED",
}

_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "=": lambda c, v: c == v,
    "!=": lambda c, v: c != v,
    "<": lambda c, v: c < v,
    "<=": lambda c, v: c <= v,
    ">": lambda c, v: c > v,
    ">=": lambda c, v: c >= v,
    "LIKE": lambda c, v: TextMatch(c, v, insensitive=False),
    "ILIKE": lambda c, v: TextMatch(c, v, insensitive=True),
    "IN": lambda c, v: c.in_(list(v)),
    "NOT IN": lambda c, v: c.not_in(list(v)),
}


def compare(column: Any, op: str, value: Any) -> Any:
    """`column op value` in SQL for every comparator but IS [NOT] NULL."""
    return _OPS[op](column, value)


# -- LIKE and ILIKE, the same on both engines ---------------------------------------------------
class TextMatch(sa.sql.expression.ColumnElement[bool]):
    """MLflow's `LIKE` (case-sensitive) or `ILIKE` (not): `%` any run of characters, `_` one,
    a backslash makes the next character literal (`50\\%`; a trailing one is itself).

    PostgreSQL runs LIKE / ILIKE. SQLite's LIKE ignores ASCII case, so there LIKE becomes a GLOB
    (case-sensitive) of the same pattern and ILIKE is SQLite's LIKE; both compile from here, so
    a query stays dialect-free until it runs. SQLite folds ASCII letters only (PostgreSQL all)."""

    type = sa.Boolean()
    inherit_cache = False

    def __init__(self, column: Any, pattern: str, *, insensitive: bool) -> None:
        self.column = column
        self.parts = like_parts(pattern)
        self.insensitive = insensitive


def like_parts(pattern: str) -> list[str]:
    """A LIKE pattern as `%`, `_` and literal one-character strings prefixed with '='."""
    parts: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            parts.append("=" + next(chars, "\\"))
        elif char in "%_":
            parts.append(char)
        else:
            parts.append("=" + char)
    return parts


def _like_text(parts: list[str]) -> str:
    return "".join(p if p in "%_" else ("\\" + p[1] if p[1] in "%_\\" else p[1]) for p in parts)


def _glob_text(parts: list[str]) -> str:
    wild = {"%": "*", "_": "?"}
    return "".join(wild[p] if p in wild else (f"[{p[1]}]" if p[1] in "*?[" else p[1]) for p in parts)


@compiles(TextMatch)
def _match_default(element: TextMatch, compiler: Any, **kw: Any) -> str:
    text = _like_text(element.parts)
    column = element.column
    match = column.ilike(text, escape="\\") if element.insensitive else column.like(text, escape="\\")
    return str(compiler.process(match, **kw))


@compiles(TextMatch, "sqlite")
def _match_sqlite(element: TextMatch, compiler: Any, **kw: Any) -> str:
    column = element.column
    if element.insensitive:
        match = column.like(_like_text(element.parts), escape="\\")
    else:
        match = column.op("GLOB", is_comparison=True)(_glob_text(element.parts))
    return str(compiler.process(match, **kw))


# -- JSON text columns (tags_json, params_json) as key/value rows -------------------------------
class _JsonPairs(sa.sql.functions.FunctionElement[Any]):
    """The (key, value) rows of a JSON object held as text: json_each on SQLite,
    json_each_text on PostgreSQL; a NULL column has no rows."""

    name = "json_pairs"
    inherit_cache = True


@compiles(_JsonPairs)
def _pairs_default(element: _JsonPairs, compiler: Any, **kw: Any) -> str:
    return f"json_each_text(CAST({compiler.process(element.clauses, **kw)} AS json))"


@compiles(_JsonPairs, "sqlite")
def _pairs_sqlite(element: _JsonPairs, compiler: Any, **kw: Any) -> str:
    return f"json_each({compiler.process(element.clauses, **kw)})"


def json_key_condition(column: Any, key: str, op: str, value: Any, *, missing: str | None = None) -> Any:
    """Whether the JSON object in `column` has `key` and its value matches `op value` (IS NULL:
    lacks the key). `missing`: the value a missing key counts as (MLflow's prompt tag)."""
    pairs = _JsonPairs(column).table_valued("key", "value").alias()
    has_key = sa.exists().select_from(pairs).where(pairs.c.key == key)
    if op == "IS NULL":
        return ~has_key
    if op == "IS NOT NULL":
        return has_key
    matches = sa.exists().select_from(pairs).where(pairs.c.key == key, compare(pairs.c.value, op, value))
    if missing is not None:
        return sa.or_(matches, sa.and_(~has_key, compare(sa.literal(missing), op, value)))
    return matches


_COLUMN: dict[str, Any] = {
    "status": runs.c.status,
    "mlflow_status": sa.case(MLFLOW_STATUS, value=runs.c.status, else_="FAILED"),
    "name": runs.c.name,
    "user": runs.c.user,
    "run_id": runs.c.id,
    "experiment_id": runs.c.experiment_id,
    "started_at": runs.c.started_at,
    "finished_at": runs.c.finished_at,
}


def search_query(
    *,
    experiment_ids: Sequence[int] | None = None,
    filters: Sequence[RunFilter] = (),
    order_by: Sequence[RunOrder] = (),
    lifecycles: Sequence[str] | None = None,
) -> sa.Select[Any]:
    """The SELECT of matching run ids in order: one inner join of `metrics_latest` per
    filtered metric, EXISTS for params and tags, outer joins only for sorting. `lifecycles`:
    the run lifecycles kept ("active", "deleted"; None: any)."""
    query = sa.select(runs.c.id)
    conditions: list[Any] = []
    if experiment_ids is not None:
        conditions.append(runs.c.experiment_id.in_(list(experiment_ids)))
    if lifecycles is not None:
        conditions.append(runs.c.lifecycle.in_(list(lifecycles)))
    joined: dict[str, Any] = {}
    for item in filters:
        if item.kind == "metrics":
            alias = joined.get(item.key)
            if alias is None:
                alias = joined[item.key] = metrics_latest.alias(f"m{len(joined)}")
                query = query.join(alias, sa.and_(alias.c.run_id == runs.c.id, alias.c.key == item.key))
            conditions.append(compare(alias.c.value, item.op, item.value))
        elif item.kind in ("params", "tags"):
            table = run_params if item.kind == "params" else run_tags
            where = [table.c.run_id == runs.c.id, table.c.key == item.key]
            if item.op == "IS NULL":
                conditions.append(~sa.exists().where(*where))
                continue
            if item.op != "IS NOT NULL":
                where.append(compare(table.c.value, item.op, item.value))
            conditions.append(sa.exists().where(*where))
        else:
            conditions.append(_attribute_condition(item))
    if conditions:
        query = query.where(*conditions)
    order: list[Any] = []
    for n, sort in enumerate(order_by):
        may_be_null = True  # an outer-joined metric, param or tag is NULL where a run lacks it
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
            column = _COLUMN[sort.key]
            may_be_null = getattr(column, "nullable", True)
        ordered = column.desc() if sort.descending else column.asc()
        # NULLS LAST only where a NULL can be: PostgreSQL walks an index backwards for
        # `started_at DESC` (its NULLS FIRST) but not for `started_at DESC NULLS LAST`, so the
        # clause on a NOT NULL column made the UI's newest-first page sort every run (13 ms at
        # 30,000 runs, growing with them) instead of reading 100 index entries (0.1 ms).
        order.append(ordered.nulls_last() if may_be_null else ordered)
    order += [runs.c.started_at.desc(), runs.c.id.asc()]
    return query.order_by(*order)


def ms_time(value: float) -> datetime:
    """MLflow's milliseconds since 1970 as a UTC time."""
    return datetime.fromtimestamp(value / 1000, UTC)


def _attribute_condition(item: RunFilter) -> Any:
    column = _COLUMN[item.key]
    value: Any = item.value
    if item.key in ("started_at", "finished_at"):
        value = ms_time(float(value))
    elif item.key == "experiment_id":
        value = [int(v) for v in value] if isinstance(value, tuple) else int(value)
    return compare(column, item.op, value)


def chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def rows_with_ids(conn: sa.Connection, columns: Sequence[Any], column: Any, ids: Sequence[str]) -> list[Any]:
    """`columns` of the rows whose `column` is one of `ids`, fetched whole (not row by row).

    On PostgreSQL the ids go as one array parameter (`= ANY(:ids)`), one query for any number:
    IN lists of 500 bound values cost more to render, send and plan than the rows they find
    (a page of 2,500 runs took 24 queries; loading them was most of a search's time). SQLite has
    no arrays: IN lists of 500 there."""
    if conn.dialect.name == "postgresql":
        wanted = sa.bindparam("ids", list(ids), type_=sa.ARRAY(column.type))
        return list(conn.execute(sa.select(*columns).where(column == sa.any_(wanted))).all())
    found: list[Any] = []
    for chunk in chunks(ids):
        found += conn.execute(sa.select(*columns).where(column.in_(chunk))).all()
    return found


def load_runs(conn: sa.Connection, ids: Sequence[str]) -> list[TrackedRun]:
    """Runs with their params, tags and latest metric points, in the order of `ids` (unknown
    ids left out): four queries on PostgreSQL whatever the number of runs."""
    unique = list(dict.fromkeys(ids))
    if not unique:
        return []
    found = {row.id: row for row in rows_with_ids(conn, [runs], runs.c.id, unique)}
    params: dict[str, dict[str, str]] = {i: {} for i in unique}
    tags: dict[str, dict[str, str]] = {i: {} for i in unique}
    latest: dict[str, list[MetricPoint]] = {i: [] for i in unique}
    p, t, m = run_params.c, run_tags.c, metrics_latest.c
    for run_id, key, value in rows_with_ids(conn, [p.run_id, p.key, p.value], p.run_id, unique):
        params[run_id][key] = value
    for run_id, key, value in rows_with_ids(conn, [t.run_id, t.key, t.value], t.run_id, unique):
        tags[run_id][key] = value
    point_columns = [m.run_id, m.key, m.value, m.step, m.timestamp]
    for run_id, key, value, step, stamp in rows_with_ids(conn, point_columns, m.run_id, unique):
        latest[run_id].append(MetricPoint(key, value, step, stamp))
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
            points=tuple(sorted(latest[i], key=lambda point: point.key)),
            lifecycle=found[i].lifecycle,
        )
        for i in ids
        if i in found
    ]
