"""Running a rule list: partitions, global figures between them, the quarantine and the report.

The table is cut into fixed-size partitions (`partition_rows`); consecutive rules that need no
global figure run as one lazy chain per partition, through `ctx.map`, so on the Dask executor the
partitions spread over the cluster. Here, unless `partition_rows` says otherwise, a table in
memory is one partition (Polars spreads a chain over the cores itself) and a streamed one is read
a partition at a time. A rule that needs a figure over all rows still clean (a median, an IQR
fence, the first of each duplicate group) gets it computed over the whole table between two such
passes. Every value a row ends with depends only on that row and on those global figures, never
on where the partition boundaries fell: the executors, and any `partition_rows`, give the same
tables and so the same artifact ids.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from loopline.clean._base import FAIL, PREFIX, RESERVED, ROW, Rule
from loopline.clean._checks import Allowed, Dedupe, Expression, Filter, Outliers, Range, Regex
from loopline.clean._dtypes import schema_of
from loopline.clean._rename import Rename, final_names, short_form
from loopline.clean._spec import Spec
from loopline.clean._transforms import Cast, Lowercase, Missing, Normalize, Trim, Uppercase
from loopline.core.errors import ConfigError, Integrity
from loopline.core.types import TableFile
from loopline.store.tablefile import write_frames

RULES: dict[str, type[Rule]] = {
    cls.kind: cls
    for cls in (
        Cast,
        Trim,
        Lowercase,
        Uppercase,
        Normalize,
        Missing,
        Range,
        Allowed,
        Regex,
        Outliers,
        Dedupe,
        Filter,
        Expression,
        Rename,
    )
}
PARTITION_ROWS = 1_000_000  # a partition in memory, on a Dask cluster
STREAM_ROWS = 125_000  # a partition read from a file: what bounds the memory of a streamed clean


class Mapper(Protocol):
    """What clean needs of the step context: `ctx.map` (stages sit below the pipeline layer)."""

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]: ...


def check_reserved(schema: Mapping[str, str] | None, what: str = "table") -> None:
    for column in schema or {}:
        if column in RESERVED or column.startswith(PREFIX):
            raise ConfigError(
                f"column {column!r} of the {what} is a name clean reserves",
                hint="rename it first (the quarantine adds _row, _rule and _reason)",
            )


def parse_rules(rules: Any, schema: Mapping[str, str] | None = None) -> list[Rule]:
    """Read and check a rule list (dicts as in loopline.yaml, or rule objects) against a schema
    (column -> type name), following the columns each rule casts or adds. No data is read."""
    if isinstance(rules, str | Mapping) or not isinstance(rules, Sequence):
        raise ConfigError(
            "`rules` must be a list of rules", hint="write rules: [{rule: trim, columns: [name]}, ...]"
        )
    check_reserved(schema)
    tracked = dict(schema) if schema is not None else None
    parsed: list[Rule] = []
    for index, raw in enumerate(rules, start=1):
        if isinstance(raw, Rule):
            raw = raw.as_dict()
        if isinstance(raw, Mapping):
            raw = short_form(raw)
        if not isinstance(raw, Mapping) or not isinstance(raw.get("rule"), str):
            raise ConfigError(
                f"rule {index}: must be a mapping with `rule: KIND`",
                hint=f"rules are {', '.join(RULES)}; e.g. {{rule: range, column: age, min: 0}}",
            )
        kind = raw["rule"]
        cls = RULES.get(kind)
        if cls is None:
            raise ConfigError(f"rule {index}: unknown rule {kind!r}", hint=f"rules are {', '.join(RULES)}")
        body = {k: v for k, v in raw.items() if k != "rule"}
        spec = Spec(body, f"rule {index} ({kind})", set(cls.keys) | {"name"}, cls.example)
        parsed.append(cls.parse(spec, tracked, index))
    return parsed


def check(params: Mapping[str, Any], schemas: Mapping[str, Mapping[str, str] | None]) -> None:
    """The preflight hook of `apply`: its params against the input's recorded schema."""
    parse_rules(params.get("rules"), schemas.get("table"))
    _partition_rows(params.get("partition_rows", PARTITION_ROWS))


def _partition_rows(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"partition_rows must be a positive integer, got {value!r}")
    return value


def _serial(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    return [fn(item) for item in items]


def _chunked(series: pl.Series, lengths: list[int]) -> pl.Series:
    """`series` cut into chunks of `lengths`. Polars uses a frame whose columns (and a filter
    mask) are chunked alike as they are; otherwise nearly every operation first copies the whole
    frame into one chunk (a hidden copy of the table, in time and in memory)."""
    if len(lengths) < 2:
        return series
    pieces, offset = [], 0
    for length in lengths:
        pieces.append(series.slice(offset, length))
        offset += length
    return pl.concat(pieces, rechunk=False)


def _lengths(table: pl.DataFrame) -> list[int]:
    return [len(c) for c in table.to_series(0).get_chunks()] if table.width else [table.height]


def partitions(
    table: pl.DataFrame, size: int, columns: Sequence[str] | None = None, start: int = 0
) -> list[pl.DataFrame]:
    """Zero-copy slices of `columns` (default all), each with its input row numbers (`__ll_row`,
    counted from `start`) and no rejection yet, those two chunked as the data is."""
    offsets = range(0, table.height, size) if table.height else range(1)
    parts = []
    for offset in offsets:
        part = table.slice(offset, size)
        n = part.height
        part = part.select(columns) if columns is not None else part
        lengths = _lengths(part) if part.width else [n]
        first = start + offset
        row = pl.int_range(first, first + n, dtype=pl.Int64, eager=True).alias(ROW)
        fail = pl.repeat(None, n, dtype=pl.Int32, eager=True).alias(FAIL)
        parts.append(pl.DataFrame([*part.get_columns(), _chunked(row, lengths), _chunked(fail, lengths)]))
    return parts


def _take(frame: pl.DataFrame, columns: Sequence[str], mask: pl.Series) -> pl.DataFrame:
    """Column by column (a frame-level filter may first copy a frame chunked unevenly)."""
    return pl.DataFrame([frame.get_column(c).filter(mask) for c in columns])


def _alive_stats(rule: Rule, done: pl.DataFrame) -> pl.DataFrame:
    """What `rule` needs for its global figures, of the rows of a partition still clean."""
    data = [c for c in done.columns if not c.startswith(PREFIX)]
    return _take(done, rule.stat_columns(data), done.get_column(FAIL).is_null())


def _run(rules: tuple[Rule, ...], part: pl.DataFrame) -> pl.DataFrame:
    lf = part.lazy()
    for rule in rules:
        lf = rule.step(lf)
    return lf.collect()


def _finish(
    rules: tuple[Rule, ...], untouched: tuple[str, ...], part: pl.DataFrame
) -> tuple[pl.Series, pl.DataFrame, pl.DataFrame]:
    """The last pass: which rows live, the rewritten or added columns of those rows (the
    `untouched` ones the clean table takes from the input), and what the reasons need of the
    rejected ones."""
    done = _run(rules, part)
    alive_rows = done.get_column(FAIL).is_null()
    data = [c for c in done.columns if not c.startswith(PREFIX) and c not in untouched]
    prefixed = [c for c in done.columns if c.startswith(PREFIX)]
    return alive_rows, _take(done, data, alive_rows), _take(done, prefixed, ~alive_rows)


def _assemble(
    table: pl.DataFrame, alive_rows: pl.Series, kept: pl.DataFrame, renamed: Mapping[str, str]
) -> pl.DataFrame:
    """The clean rows: the rules' columns as they left them (a renamed one where the input had
    it, under its new name), every other one from the input."""
    others = [c for c in table.columns if c not in kept.columns and c not in renamed]
    passed = table.select(others).filter(alive_rows) if others else kept
    order = [renamed.get(c, c) for c in table.columns]
    order += [c for c in kept.columns if c not in order]
    return pl.DataFrame([passed[c] if c in others else kept.get_column(c) for c in order])


def _carried(columns: Sequence[str], rules: list[Rule]) -> tuple[list[str], tuple[str, ...]]:
    """The input columns some rule reads or rewrites, and those it may rewrite, in table order."""
    used: set[str] = set()
    changed: set[str] = set()
    for rule in rules:
        uses, rewrites = rule.uses(), rule.rewrites()
        used.update(columns if uses is None else uses)
        changed.update(columns if rewrites is None else rewrites)
    return [c for c in columns if c in used], tuple(c for c in columns if c in changed)


def _scratch_file(ctx: Mapper | None) -> Path | None:
    """Where a step streams its clean table: its scratch folder, unless it runs on a Dask worker
    (there the table is collected and its partitions spread over the cluster instead)."""
    scratch = getattr(ctx, "scratch", None)
    if scratch is None or getattr(ctx, "distributed", False):
        return None
    return Path(scratch) / "clean.parquet"


def apply(
    table: pl.DataFrame | pl.LazyFrame,
    rules: Sequence[Mapping[str, Any] | Rule],
    ctx: Mapper | None = None,
    partition_rows: int | None = None,
    out: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Clean `table` by `rules`, in order. Returns {"clean", "quarantine", "report"}; every input
    row is in exactly one of the two tables.

    Only the columns the rules use pass through them; the clean table takes every other column
    from the input, filtered by the rows that lived (the same values, so the same artifact).

    A LazyFrame with somewhere to write (`out`, or the step's scratch folder: a step's input
    reaches `apply` as a lazy scan of its Parquet blob) is read one partition at a time and the
    clean table streamed to Parquet, returned as a TableFile: memory stays bounded by a
    partition, and the table is the same, so is its id."""
    started = time.perf_counter()
    target = Path(out) if out is not None else None
    if isinstance(table, pl.LazyFrame) and target is None:
        target = _scratch_file(ctx)
        if target is None:
            table = table.collect()
    parsed = parse_rules(rules, schema_of(table))
    if partition_rows is None and isinstance(table, pl.DataFrame):
        distributed = getattr(ctx, "distributed", False)
        partition_rows = PARTITION_ROWS if distributed else max(table.height, 1)
    size = _partition_rows(partition_rows if partition_rows is not None else STREAM_ROWS)
    clean: pl.DataFrame | TableFile
    if isinstance(table, pl.LazyFrame):
        assert target is not None
        clean, rows, rejected, ordered, extras, counted = _stream(table, parsed, size, target)
    else:
        mapper = ctx.map if ctx is not None and hasattr(ctx, "map") else _serial
        frame, rows, rejected, ordered, extras = _in_memory(table, parsed, size, mapper)
        counted = (table.height, frame.height)
        clean = frame if target is None else _write(frame, target)
    rules_done = time.perf_counter()
    quarantine = _quarantine(rows, rejected, ordered)
    counts = dict(rejected.group_by(FAIL).len().iter_rows()) if rejected.height else {}
    report: dict[str, Any] = {
        "rows_in": counted[0],
        "rows_clean": counted[1],
        "rows_quarantined": quarantine.height,
        "rules": [
            {
                "rule": r.label,
                "kind": r.kind,
                "rejected": int(counts.get(r.index, 0)),
                **extras.get(r.index, {}),
            }
            for r in ordered
        ],
    }
    if report["rows_in"] != report["rows_clean"] + report["rows_quarantined"]:
        raise Integrity(f"clean lost rows: {report}")  # cannot happen; proven by the property test
    timings = {
        "rules_s": round(rules_done - started, 6),
        "quarantine_s": round(time.perf_counter() - rules_done, 6),
        "total_s": round(time.perf_counter() - started, 6),
    }
    if ctx is not None and hasattr(ctx, "log_metrics"):
        # As a step, the report is an artifact: timings would give it a new id on every run and
        # break `reproduce`, so they go to the run's metrics instead.
        ctx.log_metrics({f"clean.{k}": v for k, v in timings.items()})
    else:
        report["timings"] = timings
    return {"clean": clean, "quarantine": quarantine, "report": report}


def _in_memory(
    table: pl.DataFrame, parsed: list[Rule], size: int, mapper: Callable[..., list[Any]]
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, list[Rule], dict[int, dict[str, Any]]]:
    """The clean table, the rejected input rows, what their reasons need, the rules with their
    figures bound and those figures: partitions held in memory, each pass of rules between two
    global figures run once, through `mapper` (spread over Dask as a step on a worker)."""
    carried, rewritten = _carried(table.columns, parsed)
    parts = partitions(table, size, carried)
    extras: dict[int, dict[str, Any]] = {}
    segment: list[Rule] = []
    ordered: list[Rule] = []  # the rules with their global figures bound
    for rule in parsed:
        if rule.needs_stats():
            if segment:
                parts = mapper(partial(_run, tuple(segment)), parts)
                segment = []
            rows = pl.concat([_alive_stats(rule, p) for p in parts], rechunk=False)
            rule, extras[rule.index] = rule.bind(rows)
            del rows
        segment.append(rule)
        ordered.append(rule)
    untouched = tuple(c for c in carried if c not in rewritten)
    finished = mapper(partial(_finish, tuple(segment), untouched), parts)
    del parts
    alive_rows = _chunked(pl.concat([a for a, _, _ in finished]), _lengths(table))
    kept = pl.concat([k for _, k, _ in finished], rechunk=False)
    rejected = pl.concat([r for _, _, r in finished])
    del finished
    clean = _assemble(table, alive_rows, kept, final_names(parsed, table.columns))
    return clean, table.filter(~alive_rows), rejected, ordered, extras


def _stream(
    scan: pl.LazyFrame, parsed: list[Rule], size: int, target: Path
) -> tuple[TableFile, pl.DataFrame, pl.DataFrame, list[Rule], dict[int, dict[str, Any]], tuple[int, int]]:
    """As `_in_memory`, reading `scan` one partition at a time and streaming the clean table to
    `target`. A rule needing global figures gets them from a pass over the columns the rules
    use; the last pass runs every rule from the input again (each row's fate depends only on the
    row and those figures, so running the passes apart or together gives the same rows)."""
    height = scan.select(pl.len()).collect().item()
    columns = scan.collect_schema().names()
    carried, rewritten = _carried(columns, parsed)
    offsets = range(0, height, size) if height else range(1)

    def read(offset: int, names: Sequence[str] | None = None) -> pl.DataFrame:
        part = scan.slice(offset, size)
        return (part.select(names) if names is not None else part).collect()

    extras: dict[int, dict[str, Any]] = {}
    ordered: list[Rule] = []
    for rule in parsed:
        if rule.needs_stats():
            done = (_run(tuple(ordered), partitions(read(o, carried), size, start=o)[0]) for o in offsets)
            stats = pl.concat([_alive_stats(rule, d) for d in done], rechunk=False)
            rule, extras[rule.index] = rule.bind(stats)
            del stats
        ordered.append(rule)
    untouched = tuple(c for c in carried if c not in rewritten)
    renamed = final_names(parsed, columns)
    rows: list[pl.DataFrame] = []
    rejected: list[pl.DataFrame] = []
    written = 0

    def clean_parts() -> Iterator[pl.DataFrame]:
        nonlocal written
        for offset in offsets:
            whole = read(offset)
            part = partitions(whole, size, carried, start=offset)[0]
            alive_rows, kept, dropped = _finish(tuple(ordered), untouched, part)
            rows.append(_compact(whole.filter(~alive_rows)))
            rejected.append(_compact(dropped))
            clean = _assemble(whole, alive_rows, kept, renamed)
            written += clean.height
            del whole, part, alive_rows, kept, dropped  # not held while the writer has `clean`
            yield clean

    parts = clean_parts()
    first = next(parts)  # the clean table's schema
    clean = write_frames(itertools.chain([first], parts), target, first.schema)
    return clean, pl.concat(rows), pl.concat(rejected), ordered, extras, (height, written)


def _compact(frame: pl.DataFrame) -> pl.DataFrame:
    """A copy holding only its own bytes: a few rows filtered out of a partition would keep
    the partition's whole string buffers alive (string views point into them)."""
    return pl.DataFrame([pl.Series(c.name, c.to_arrow(), dtype=c.dtype) for c in frame.get_columns()])


def _write(frame: pl.DataFrame, target: Path) -> TableFile:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    frame.write_parquet(tmp, compression="zstd", statistics=True)
    os.replace(tmp, target)
    return TableFile(target)


def _quarantine(rows: pl.DataFrame, rejected: pl.DataFrame, rules: list[Rule]) -> pl.DataFrame:
    """The rejected input rows (in row order, as `rejected`), with `_row`, `_rule` and `_reason`
    (each rule's reason built on the rows it rejected only, then put back in row order)."""
    empty = {"_row": pl.Int64, "_rule": pl.String, "_reason": pl.String}
    if rejected.height == 0:
        return rows.clear().with_columns(pl.lit(None, t).alias(c) for c, t in empty.items())
    for rule in rules:
        lookup = rule.lookup()
        if lookup is not None:
            rejected = rejected.join(lookup, on=ROW, how="left", maintain_order="left")
    schema, failed = rejected.schema, rejected.lazy()
    reasons = [
        failed.filter(pl.col(FAIL) == r.index).select(
            pl.col(ROW).alias("_row"), pl.lit(r.label).alias("_rule"), r.reason(schema).alias("_reason")
        )
        for r in rules
        if r.rejects()
    ]
    return rows.hstack(pl.concat(reasons).sort("_row").collect())
