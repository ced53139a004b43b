"""Expectations: what a table must satisfy, each with a tolerance, and a readable verdict.

Row expectations (not_null, range, allowed, regex, expression) count violating rows partition by
partition through `ctx.map` (one lazy pass per partition for all of them); whole-table ones
(schema, unique, row_count, mean, std, median, min, max, quantile) are computed once over the
whole table. Counts add up and statistics are of the whole column, so every partitioning agrees.

An expectation passes when its share of violating rows is at most its tolerance: `mostly: 0.99`
on the expectation allows 1%, otherwise the `threshold` given for the whole list (default 0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import polars as pl

from loopline.clean._apply import (
    PARTITION_ROWS,
    STREAM_ROWS,
    Mapper,
    _chunked,
    _lengths,
    _partition_rows,
    _serial,
)
from loopline.clean._base import ROW, jsonable
from loopline.clean._checks import duplicates
from loopline.clean._dtypes import parse_dtype, schema_of
from loopline.clean._spec import Spec, check_columns, check_orderable, check_regex, check_text, literal, sql
from loopline.core.errors import CheckFailed, ConfigError

ROWWISE = ("not_null", "range", "allowed", "regex", "expression")
STATS = ("mean", "std", "median", "min", "max", "quantile")
KINDS = (*ROWWISE, "unique", "schema", "row_count", *STATS)
_KEYS = {
    "not_null": {"column", "columns"},
    "unique": {"column", "columns"},
    "range": {"column", "min", "max"},
    "allowed": {"column", "values"},
    "regex": {"column", "pattern"},
    "expression": {"fail"},
    "schema": {"columns", "exact"},
    "row_count": {"min", "max"},
    **{s: {"column", "min", "max"} for s in STATS},
    "quantile": {"column", "q", "min", "max"},
}
_EXAMPLE = {
    "not_null": "{expect: not_null, columns: [id, email]}",
    "unique": "{expect: unique, column: id}",
    "range": "{expect: range, column: age, min: 0, max: 120}",
    "allowed": "{expect: allowed, column: country, values: [FR, DE]}",
    "regex": "{expect: regex, column: email, pattern: '^[^@]+@[^@]+$'}",
    "expression": '{expect: expression, fail: "amount < 0"}',
    "schema": "{expect: schema, columns: {id: Int64, email: String}}",
    "row_count": "{expect: row_count, min: 1000}",
    "quantile": "{expect: quantile, column: amount, q: 0.99, max: 5000}",
}
EXAMPLES = 5


@dataclass(frozen=True)
class Expectation:
    index: int
    kind: str
    columns: tuple[str, ...] = ()
    min: Any = None
    max: Any = None
    values: tuple[Any, ...] = ()
    pattern: str | None = None
    fail: Any = None
    types: Mapping[str, str] | None = None
    exact: bool = False
    q: float | None = None
    mostly: float | None = None
    name: str | None = None

    @property
    def label(self) -> str:
        return self.name or f"{self.index}:{self.kind}" + (
            f"({', '.join(self.columns)})" if self.columns else ""
        )

    def violation(self, schema: Mapping[str, pl.DataType]) -> pl.Expr:
        col = pl.col(self.columns[0]) if self.columns else None
        if self.kind == "not_null":
            return pl.any_horizontal(pl.col(c).is_null() for c in self.columns)
        assert col is not None or self.kind == "expression"
        if self.kind == "range":
            assert col is not None
            dtype, cond = schema[self.columns[0]], pl.lit(False)
            if self.min is not None:
                cond = cond | (col < literal(self.min, dtype))
            if self.max is not None:
                cond = cond | (col > literal(self.max, dtype))
            return cond.fill_null(False)
        if self.kind == "allowed":
            assert col is not None
            return col.is_not_null() & ~col.cast(
                pl.String if schema[self.columns[0]] == pl.Categorical else schema[self.columns[0]]
            ).is_in(pl.Series(list(self.values)).implode())
        if self.kind == "regex":
            assert col is not None and self.pattern is not None
            return col.is_not_null() & ~col.str.contains(self.pattern)
        fail = self.fail if isinstance(self.fail, pl.Expr) else pl.sql_expr(self.fail)
        return fail.fill_null(False)


def parse_expectations(expectations: Any, schema: Mapping[str, str] | None = None) -> list[Expectation]:
    if isinstance(expectations, str | Mapping) or not isinstance(expectations, Sequence):
        raise ConfigError(
            "expectations must be a list", hint="write checks: [{expect: not_null, column: id}, ...]"
        )
    parsed = []
    for index, raw in enumerate(expectations, start=1):
        if not isinstance(raw, Mapping) or not isinstance(raw.get("expect"), str):
            raise ConfigError(
                f"expectation {index}: must be a mapping with `expect: KIND`",
                hint=f"kinds are {', '.join(KINDS)}",
            )
        kind = raw["expect"]
        if kind not in _KEYS:
            raise ConfigError(
                f"expectation {index}: unknown expectation {kind!r}", hint=f"kinds are {', '.join(KINDS)}"
            )
        body = {k: v for k, v in raw.items() if k != "expect"}
        example = _EXAMPLE.get(kind, f"{{expect: {kind}, column: amount, min: 0, max: 100}}")
        spec = Spec(body, f"expectation {index} ({kind})", _KEYS[kind] | {"mostly", "name"}, example)
        parsed.append(_parse(spec, kind, index, schema))
    return parsed


def _parse(spec: Spec, kind: str, index: int, schema: Mapping[str, str] | None) -> Expectation:
    mostly = spec.number("mostly")
    if mostly is not None and not 0 <= mostly <= 1:
        raise spec.error(f"mostly {mostly} is not a share between 0 and 1", "e.g. mostly: 0.99")
    common: dict[str, Any] = {"index": index, "kind": kind, "mostly": mostly, "name": spec.get("name")}
    if kind == "schema":
        types = spec.need("columns")
        if not isinstance(types, Mapping) or not types:
            raise spec.error("`columns` must map column names to types")
        for value in types.values():
            parse_dtype(value, spec.label)
        return Expectation(**common, types=dict(types), exact=bool(spec.get("exact", False)))
    if kind == "row_count":
        low, high = spec.number("min"), spec.number("max")
        if low is None and high is None:
            raise spec.error("needs `min` or `max`")
        return Expectation(**common, min=low, max=high)
    if kind == "expression":
        sql(spec, "fail", schema)
        return Expectation(**common, fail=spec.need("fail"))
    columns = spec.columns() if kind in ("not_null", "unique") else (spec.need("column"),)
    check_columns(spec, schema, columns)
    common["columns"] = tuple(columns)
    if kind == "allowed":
        values = spec.need("values")
        if not isinstance(values, list | tuple) or not values:
            raise spec.error("`values` must be a non-empty list")
        return Expectation(**common, values=tuple(values))
    if kind == "regex":
        check_text(spec, schema, columns[0])
        return Expectation(**common, pattern=check_regex(spec, spec.need("pattern")))
    if kind in ("range", *STATS):
        check_orderable(spec, schema, columns[0])
        low, high = spec.bound("min"), spec.bound("max")
        if low is None and high is None:
            raise spec.error("needs `min` or `max` (or both)")
        q = spec.number("q") if kind == "quantile" else None
        if kind == "quantile" and (q is None or not 0 <= q <= 1):
            raise spec.error("needs `q`, a quantile between 0 and 1")
        return Expectation(**common, min=low, max=high, q=q)
    return Expectation(**common)


def check(params: Mapping[str, Any], schemas: Mapping[str, Mapping[str, str] | None]) -> None:
    """The preflight hook of `validate`."""
    parse_expectations(params.get("expectations"), schemas.get("table"))
    _threshold(params.get("threshold", 0.0))
    _partition_rows(params.get("partition_rows", PARTITION_ROWS))


def _threshold(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ConfigError(
            f"threshold must be a share between 0 and 1, got {value!r}", hint="e.g. threshold: 0.01"
        )
    return float(value)


def _count(
    rowwise: tuple[Expectation, ...], item: tuple[int, pl.DataFrame | pl.LazyFrame]
) -> dict[int, dict[str, Any]]:
    """Per partition: violations of every row expectation in one lazy pass, and a few examples
    (a partition of a scan reads only the columns these need)."""
    offset, part = item
    schema = part.collect_schema()
    masks = [e.violation(schema).alias(f"b{e.index}") for e in rowwise]
    frame = part.lazy().with_row_index("__ll_row", offset=offset).with_columns(masks)
    exprs: list[pl.Expr] = []
    for e in rowwise:
        bad = pl.col(f"b{e.index}")
        exprs.append(bad.sum().alias(f"n{e.index}"))
        exprs.append(pl.col("__ll_row").filter(bad).head(EXAMPLES).implode().alias(f"r{e.index}"))
        shown = pl.col(e.columns[0]) if e.columns and e.kind != "not_null" else pl.lit(None, pl.String)
        # filter first, then turn the few examples into text
        exprs.append(shown.filter(bad).head(EXAMPLES).cast(pl.String).implode().alias(f"v{e.index}"))
        if e.kind == "range":
            exprs += [
                pl.col(e.columns[0]).min().alias(f"lo{e.index}"),
                pl.col(e.columns[0]).max().alias(f"hi{e.index}"),
            ]
    row = frame.select(exprs).collect().row(0, named=True) if exprs else {}
    return {
        e.index: {
            "n": int(row[f"n{e.index}"] or 0),
            "examples": [
                {"row": r, "value": v} for r, v in zip(row[f"r{e.index}"], row[f"v{e.index}"], strict=True)
            ],
            **({"lo": row[f"lo{e.index}"], "hi": row[f"hi{e.index}"]} if e.kind == "range" else {}),
        }
        for e in rowwise
    }


def evaluate(
    table: pl.DataFrame | pl.LazyFrame,
    expectations: Sequence[Mapping[str, Any]],
    threshold: float = 0.0,
    ctx: Mapper | None = None,
    partition_rows: int | None = None,
) -> dict[str, Any]:
    """The validation report of `table`; `report["passed"]` says whether it holds.

    A LazyFrame (a step's input reaches `validate` as a lazy scan of its Parquet blob) is read
    a partition at a time, and a whole-table expectation reads only its columns: memory stays
    bounded by a partition and the columns of one expectation. On a Dask worker the table is
    collected and its partitions spread over the cluster instead."""
    if isinstance(table, pl.LazyFrame) and getattr(ctx, "distributed", False):
        table = table.collect()
    parsed = parse_expectations(expectations, schema_of(table))
    tolerance = _threshold(threshold)
    streamed = isinstance(table, pl.LazyFrame)
    default = STREAM_ROWS if streamed else PARTITION_ROWS
    size = _partition_rows(partition_rows if partition_rows is not None else default)
    rowwise = tuple(e for e in parsed if e.kind in ROWWISE)
    n = table.select(pl.len()).collect().item() if isinstance(table, pl.LazyFrame) else table.height
    items = [(o, table.slice(o, size)) for o in range(0, n, size)] or [(0, table)]
    mapper = ctx.map if ctx is not None and hasattr(ctx, "map") and not streamed else _serial
    partials = mapper(partial(_count, rowwise), items) if rowwise else []
    results = []
    for e in parsed:
        allowed = 1 - e.mostly if e.mostly is not None else tolerance
        if e.kind in ROWWISE:
            found = [p[e.index] for p in partials]
            bad = sum(f["n"] for f in found)
            examples = [x for f in found for x in f["examples"]][:EXAMPLES]
            observed: Any = None
            if e.kind == "range":
                los = [f["lo"] for f in found if f["lo"] is not None]
                his = [f["hi"] for f in found if f["hi"] is not None]
                observed = {
                    "min": jsonable(min(los)) if los else None,
                    "max": jsonable(max(his)) if his else None,
                }
            share = bad / n if n else 0.0
            result = {"violations": bad, "share": share, "observed": observed, "examples": examples}
            passed = share <= allowed + 1e-12
        else:
            result, verdict = _whole(table, n, e)
            passed = result["share"] <= allowed + 1e-12 if verdict is None else verdict
        results.append(
            {"expectation": e.label, "kind": e.kind, "passed": passed, "allowed_share": allowed, **result}
        )
    failed = [r["expectation"] for r in results if not r["passed"]]
    return {
        "rows": n,
        "threshold": tolerance,
        "passed": not failed,
        "failed": failed,
        "expectations": results,
    }


def _whole(table: pl.DataFrame | pl.LazyFrame, n: int, e: Expectation) -> tuple[dict[str, Any], bool | None]:
    """A whole-table expectation over the columns it names (only those are read from a scan);
    the verdict is None when the tolerance decides (unique)."""
    if e.kind == "unique":
        numbers = pl.int_range(0, n, dtype=pl.Int64, eager=True).alias(ROW)
        keys = table.select(*e.columns)
        keys = keys.collect() if isinstance(keys, pl.LazyFrame) else keys
        rows = keys.hstack([_chunked(numbers, _lengths(keys))])  # chunked alike
        dups = duplicates(rows, list(e.columns), "first")
        shown = pl.concat_str(
            [pl.col(c).cast(pl.String).fill_null("null") for c in e.columns], separator=", "
        )
        head = dups.head(EXAMPLES)[ROW]
        values = rows[head].select(shown).to_series().to_list() if len(head) else []
        examples = [{"row": r, "value": v} for r, v in zip(head.to_list(), values, strict=True)]
        share = dups.height / n if n else 0.0
        return {"violations": dups.height, "share": share, "observed": None, "examples": examples}, None
    if e.kind == "schema":
        assert e.types is not None
        actual = schema_of(table)
        problems = []
        for column, wanted in e.types.items():
            expected = str(parse_dtype(wanted, e.label)).split("(")[0]
            if column not in actual:
                problems.append(f"{column} is missing")
            elif actual[column].split("(")[0] != expected:
                problems.append(f"{column} is {actual[column]}, not {wanted}")
        if e.exact:
            problems += [f"{c} is not expected" for c in actual if c not in e.types]
        return {
            "violations": len(problems),
            "share": float(bool(problems)),
            "observed": actual,
            "examples": problems,
        }, not problems
    if e.kind == "row_count":
        observed: Any = n
    else:
        col = pl.col(e.columns[0])
        stat = {
            "mean": col.mean(),
            "std": col.std(),
            "median": col.median(),
            "min": col.min(),
            "max": col.max(),
            "quantile": col.quantile(e.q or 0.0, "linear"),
        }[e.kind]
        observed = (
            table.select(stat).collect().item()
            if isinstance(table, pl.LazyFrame)
            else table.select(stat).item()
        )
    ok = observed is not None
    if ok and e.min is not None:
        ok = observed >= _comparable(e.min, observed)
    if ok and e.max is not None:
        ok = observed <= _comparable(e.max, observed)
    return {
        "violations": 0 if ok else 1,
        "share": 0.0 if ok else 1.0,
        "observed": jsonable(observed),
        "examples": [],
    }, ok


def _comparable(bound: Any, observed: Any) -> Any:
    import datetime as dt

    if isinstance(bound, str) and isinstance(observed, dt.datetime):
        return dt.datetime.fromisoformat(bound)
    if isinstance(bound, str) and isinstance(observed, dt.date):
        return dt.date.fromisoformat(bound)
    return bound


def _pct(share: float) -> str:
    return f"{share * 100:.2f}%"


def render_validation(report: Mapping[str, Any], *, summary_last: bool = False) -> str:
    """The report as lines a person reads: each expectation, what was seen, a few examples."""
    results = report["expectations"]
    failed = [r for r in results if not r["passed"]]
    summary = (
        f"validation {'FAILED' if failed else 'passed'}: {len(failed)} of {len(results)} expectations "
        f"failed on {report['rows']} rows (threshold {_pct(report['threshold'])})"
    )
    lines = []
    for r in results:
        mark = "ok  " if r["passed"] else "FAIL"
        if r["kind"] in (*ROWWISE, "unique"):
            text = f"{r['violations']} rows ({_pct(r['share'])}, allowed {_pct(r['allowed_share'])})"
            if r["observed"]:
                text += f"; observed min {r['observed']['min']}, max {r['observed']['max']}"
        elif r["kind"] == "schema":
            text = "; ".join(r["examples"]) or "as declared"
        else:
            text = f"observed {r['observed']}"
        examples = [e for e in r["examples"] if isinstance(e, dict)]
        if examples and not r["passed"]:
            shown = ", ".join(
                f"row {e['row']}" + (f": {e['value']!r}" if e["value"] is not None else "") for e in examples
            )
            text += f"; e.g. {shown}"
        lines.append(f"  {mark} {r['expectation']}: {text}")
    return "\n".join([*lines, summary] if summary_last else [summary, *lines])


def validate(
    table: pl.DataFrame | pl.LazyFrame,
    expectations: Sequence[Mapping[str, Any]],
    threshold: float = 0.0,
    ctx: Mapper | None = None,
    partition_rows: int | None = None,
) -> dict[str, Any]:
    """The step: the report when the table holds, CheckFailed (the step fails) when it does not."""
    report = evaluate(table, expectations, threshold, ctx, partition_rows)
    if not report["passed"]:
        raise CheckFailed(render_validation(report, summary_last=True))
    return report
