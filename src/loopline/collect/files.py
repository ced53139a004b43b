"""`type: files`: CSV, Parquet and JSON Lines files under a root, by glob, read incrementally.

The state remembers each file's (size, mtime_ns, content hash): an unchanged file is not read
again, a touched but identical one is hashed and skipped, a new or changed one is read again
(rows seen before are dropped by item id when the merge writes the new version).

A clean file is never held whole. Its strict read is sunk by Polars' streaming engine (a few
chunks of the file at a time) to a Parquet file in the collection's scratch folder, with each
row's line; schema overrides the read did not cast are cast there a slice at a time. Once every
file's columns are known, the rows are read back a slice at a time, given the columns of all (as
`pl.concat(how="diagonal_relaxed")` would), their item ids and provenance, and written to the
batch's table, which the merge reads. A CSV or JSON Lines file takes the careful path
(tablerows.py, which streams too) only when the strict read fails or cannot vouch for every
row, so a clean file costs one Polars pass and two byte counts.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopline.collect import Batch, CollectContext
from loopline.collect.merge import ITEM_ID, PROVENANCE, with_provenance
from loopline.collect.roots import check_declaration, resolve_root, select_files
from loopline.collect.spec import SourceSpec
from loopline.collect.tablerows import (
    LINE,
    Careful,
    Part,
    apply_overrides,
    careful_csv,
    careful_jsonl,
    count_bytes,
    dtype_name,
    make_dtype,
    overridden,
    quarantine_frame,
    with_raw_lines,
)
from loopline.core.errors import LooplineError
from loopline.core.hashing import hash_file
from loopline.core.types import TableFile
from loopline.store.tablefile import slices, write_frames

if TYPE_CHECKING:
    import polars as pl

log = logging.getLogger(__name__)

FORMATS = ("csv", "parquet", "jsonl")
SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
OPTIONS = ("root", "glob", "format", "schema", "separator", "has_header", "encoding")
_INFER_ROWS = 10_000
_SLICE = 65_536  # rows read, identified and written at a time: what bounds a collection's memory


def validate(spec: SourceSpec) -> None:
    unknown = sorted(set(spec.options) - set(OPTIONS))
    if unknown:
        raise spec.fail(f"unknown option {unknown[0]!r}", hint=f"files sources take {', '.join(OPTIONS)}")
    pattern = spec.require("glob", hint='e.g. glob: "*.csv" or glob: "**/*.jsonl"')
    check_declaration(spec, default_glob=str(pattern))
    fmt = spec.option("format")
    if fmt is not None and fmt not in FORMATS:
        raise spec.fail(f"unknown format {fmt!r}", hint=f"format is one of {', '.join(FORMATS)}")
    suffix = os.path.splitext(str(pattern))[1].lower()
    if fmt is None and suffix and "*" not in suffix and suffix not in SUFFIXES:
        raise spec.fail(
            f"cannot tell the format of {pattern!r} from its extension",
            hint=f"add format: one of {', '.join(FORMATS)}",
        )
    schema = spec.option("schema", {})
    if not isinstance(schema, dict) or not all(isinstance(k, str) for k in schema):
        raise spec.fail(
            "`schema` must map column names to types", hint="e.g. schema: {age: Int64, signup: Date}"
        )
    for column, name in schema.items():
        if dtype_name(name) is None:
            raise spec.fail(
                f"schema: {column}: unknown type {name!r}",
                hint="use a Polars type name: Int64, Float64, String, Boolean, Date, Datetime",
            )
    separator = spec.option("separator", ",")
    if not isinstance(separator, str) or len(separator) != 1 or separator in '\r\n"':
        raise spec.fail(f"separator {separator!r} must be one character (not a quote or newline)")
    if not isinstance(spec.option("has_header", True), bool):
        raise spec.fail("has_header must be true or false")
    if str(spec.option("encoding", "utf8")).lower().replace("-", "") != "utf8":
        raise spec.fail(
            f"encoding {spec.option('encoding')!r} is not supported",
            hint="files are read as UTF-8; convert the file (iconv -t utf-8) first",
        )
    if spec.key and not all(isinstance(k, str) for k in spec.key):
        raise spec.fail("`key` must be a list of column names")


def read(spec: SourceSpec, ctx: CollectContext) -> Batch:
    import polars as pl

    if ctx.scratch is None:
        raise LooplineError(f"source {spec.name!r}: the files reader needs a scratch folder to stream to")
    ctx.scratch.mkdir(parents=True, exist_ok=True)
    root = resolve_root(spec, ctx.root)
    project = Path(os.path.realpath(ctx.root))
    prefix = "" if root == project else root.relative_to(project).as_posix() + "/"
    selection = select_files(root, str(spec.option("glob")))
    previous: dict[str, list[Any]] = dict(ctx.state.get("files", {}))
    state: dict[str, list[Any]] = {}
    types = {c: make_dtype(dtype_name(t) or "String") for c, t in (spec.option("schema") or {}).items()}
    kept: list[tuple[str, Path]] = []  # (origin, the rows read) of each file with rows
    rejected: list[pl.DataFrame] = []
    report = {"files_seen": len(selection.files), "files_read": 0, "rows_read": 0, "rows_quarantined": 0}
    for rel, reason in selection.refused:
        log.warning("source %s: %s%s: %s", spec.name, prefix, rel, reason)
        rejected.append(quarantine_frame(f"{prefix}{rel}", [None], [f"refused: {reason}"], [""]))
    report["files_refused"] = len(selection.refused)
    for index, (rel, full, (_, size, mtime_ns)) in enumerate(selection.files):
        old = previous.get(rel)
        if old is not None and old[0] == size and old[1] == mtime_ns:
            state[rel] = old
            continue
        digest = hash_file(full)
        state[rel] = [size, mtime_ns, digest]
        if old is not None and old[2] == digest:
            continue
        origin = f"{prefix}{rel}"
        fmt = spec.option("format") or SUFFIXES.get(os.path.splitext(rel)[1].lower())
        if fmt is None:
            reason = "refused: its extension names no table format (give the source a `format:`)"
            rejected.append(quarantine_frame(origin, [None], [reason], [""]))
            report["files_refused"] += 1
            continue
        result = _read_file(spec, full, fmt, types, ctx.scratch / f"file-{index}.parquet")
        report["files_read"] += 1
        report["rows_read"] += result.rows_in
        if result.rejected is not None and result.rejected.height:
            rejected.append(result.rejected.with_columns(pl.lit(origin).alias("_origin")))
            report["rows_quarantined"] += result.rejected.height
        if result.table is not None:
            kept.append((origin, result.table))
    table = _provenance(spec, ctx, kept, ctx.scratch / "batch.parquet")
    quarantine = pl.concat(rejected, how="vertical_relaxed") if rejected else None
    return Batch(table=table, quarantine=quarantine, state={"files": state}, report=report)


@dataclass
class _Read:
    """What one file gave: its kept rows (a Parquet file with each row's line, `LINE`), its
    rejected records, and how many records it held."""

    table: Path | None
    rejected: pl.DataFrame | None
    rows_in: int


def _read_file(spec: SourceSpec, path: str, fmt: str, types: dict[str, pl.DataType], target: Path) -> _Read:
    """One file's rows, written to target, and rejected records; never raises for bad data."""
    import polars as pl

    try:
        if fmt == "csv":
            separator, has_header = spec.option("separator", ","), spec.option("has_header", True)
            return _strict_csv(path, separator, has_header, types, target) or _careful(
                careful_csv(path, separator, has_header, types, target), path, types, target
            )
        if fmt == "jsonl":
            return _strict_jsonl(path, types, target) or _careful(
                careful_jsonl(path, target), path, types, target
            )
        rows = _sink(pl.scan_parquet(path).with_row_index(LINE, offset=1), target)
        return _cast(target, rows, types, text=False)
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:  # unreadable as a whole
        log.warning("source %s: cannot read %s as %s: %s", spec.name, path, fmt, exc)
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        reason = f"cannot read the file as {fmt}: {first}"
        return _Read(None, quarantine_frame("", [None], [reason], [""]), 1)


def _sink(scan: pl.LazyFrame, target: Path) -> int:
    """Write a strict read (rows with their line, `LINE`) to target with Polars' streaming
    engine, which reads a few chunks of the file at a time; its rows. Raises if the read fails."""
    import polars as pl

    scan.sink_parquet(target, row_group_size=_SLICE)
    return int(pl.scan_parquet(target).select(pl.len()).collect().item())


def _cast(target: Path, rows: int, types: dict[str, pl.DataType], *, text: bool) -> _Read:
    """Cast the schema overrides of the rows in target, a slice at a time: those that parse
    are kept (in a file beside it), the others rejected. A read that cast them already (CSV's
    strict read, or no override to cast) is kept as it is."""
    import polars as pl

    scan = pl.scan_parquet(target)
    schema = scan.collect_schema()
    data = pl.Schema({c: t for c, t in schema.items() if c != LINE})
    out = overridden(data, types)
    if out == data:
        return _Read(target if rows else None, None, rows)
    rejected: list[pl.DataFrame] = []
    kept = 0

    def parts() -> Iterator[pl.DataFrame]:
        nonlocal kept
        for frame in slices(scan, rows, _SLICE):
            part = apply_overrides(Part(frame.drop(LINE), frame.get_column(LINE), None, 0), types, text=text)
            if part.rejected is not None:
                rejected.append(part.rejected)
            assert part.frame is not None
            kept += part.frame.height
            yield part.frame.with_columns(part.line_numbers().alias(LINE))

    columns = pl.Schema({**out, LINE: schema[LINE]})
    cast = write_frames(parts(), target.with_name(f"cast-{target.name}"), columns, hashed=False)
    return _Read(cast.path if kept else None, pl.concat(rejected) if rejected else None, rows)


def _strict_csv(
    path: str, separator: str, has_header: bool, types: dict[str, pl.DataType], target: Path
) -> _Read | None:
    """A strict Polars read, kept only when every record is provably one line with the right
    number of fields (so row i is line i + header); None sends the file to the careful path."""
    import polars as pl

    counts = count_bytes(path, separator.encode(), b'"')
    if counts.size == 0:
        return _Read(None, None, 0)
    header = 1 if has_header else 0
    options: dict[str, Any] = {
        "separator": separator,
        "has_header": has_header,
        "infer_schema_length": _INFER_ROWS,
        "encoding": "utf8",
        "raise_if_empty": False,
    }
    try:
        names = pl.scan_csv(path, **options).collect_schema().names()
        overrides = {c: t for c, t in types.items() if c in names}
        scan = pl.scan_csv(path, **options, schema_overrides=overrides)
        rows = _sink(scan.with_row_index(LINE, offset=header + 1), target)
    except pl.exceptions.PolarsError:
        return None
    if rows + header != counts.lines:
        return None  # blank lines, or records spanning lines: line numbers need the careful path
    if len(names) > 1 and rows:
        if counts.quotes == 0:
            if counts.separators != counts.lines * (len(names) - 1):
                return None  # a short row (Polars pads it with nulls) or a blank line
        elif (
            pl.scan_parquet(target).select(pl.col(names[-1]).null_count()).collect(engine="streaming").item()
        ):
            return None  # quoted text: a null last field may be a short row, look closer
    return _with_raws(_cast(target, rows, types, text=True), path)


def _strict_jsonl(path: str, types: dict[str, pl.DataType], target: Path) -> _Read | None:
    import polars as pl

    counts = count_bytes(path, b"", b"")
    if counts.size == 0:
        return _Read(None, None, 0)
    try:
        rows = _sink(
            pl.scan_ndjson(path, infer_schema_length=_INFER_ROWS).with_row_index(LINE, offset=1), target
        )
    except pl.exceptions.PolarsError:
        return None
    if rows != counts.lines:
        return None  # blank lines (skipped by Polars): find each row's line the careful way
    return _with_raws(_cast(target, rows, types, text=True), path)


def _careful(careful: Careful, path: str, types: dict[str, pl.DataType], target: Path) -> _Read:
    """What the careful path wrote to target, its overrides cast a slice at a time."""
    cast = _cast(target, careful.rows, types, text=True) if careful.rows else _Read(None, None, 0)
    return _with_raws(_Read(cast.table, cast.rejected, careful.rows_in), path, careful.rejected)


def _with_raws(result: _Read, path: str, earlier: pl.DataFrame | None = None) -> _Read:
    """result, its rejected records (after `earlier` ones) in line order, each with its line of
    the file."""
    import polars as pl

    bad = [r for r in (earlier, result.rejected) if r is not None and r.height]
    rejected = with_raw_lines(pl.concat(bad).sort("_line"), path) if bad else None
    return _Read(result.table, rejected, result.rows_in)


def _provenance(
    spec: SourceSpec, ctx: CollectContext, kept: list[tuple[str, Path]], target: Path
) -> pl.DataFrame | TableFile:
    """The rows of every file read, in one table with item ids and provenance: each file's
    rows are read back a slice at a time, given the columns of all (missing ones null, types
    relaxed as `pl.concat(how="diagonal_relaxed")` would), their ids and origins, and written
    to target."""
    import polars as pl

    if not kept:
        return pl.DataFrame(schema={ITEM_ID: pl.String, **dict.fromkeys(PROVENANCE, pl.String)}).with_columns(
            pl.col("_collected_at").cast(pl.Datetime("us", "UTC"))
        )
    scans = [(origin, pl.scan_parquet(path)) for origin, path in kept]
    empties = [pl.DataFrame(schema=scan.collect_schema()).drop(LINE) for _, scan in scans]
    columns = empties[0] if len(empties) == 1 else pl.concat(empties, how="diagonal_relaxed")
    missing = [k for k in spec.key if k not in columns.columns]
    if missing:
        raise spec.fail(
            f"key column {missing[0]!r} is not in the files read",
            hint=f"columns: {', '.join(columns.columns)}",
        )

    def provenance(frame: pl.DataFrame, origins: pl.Series | str) -> pl.DataFrame:
        return with_provenance(
            frame,
            source=spec.name,
            origins=origins,
            collected_at=ctx.collected_at,
            run_id=ctx.run_id,
            key=spec.key,
        )

    def rows() -> Iterator[pl.DataFrame]:
        for origin, scan in scans:
            for part in slices(scan, scan.select(pl.len()).collect().item(), _SLICE):
                frame = part.drop(LINE)
                if frame.schema != columns.schema:
                    frame = pl.concat([columns, frame], how="diagonal_relaxed")
                lines = part.get_column(LINE).cast(pl.String)
                yield provenance(frame, pl.select(pl.lit(f"{origin}:") + lines).to_series())

    return write_frames(rows(), target, provenance(columns, "").schema, hashed=False)
