"""`type: files`: CSV, Parquet and JSON Lines files under a root, by glob, read incrementally.

The state remembers each file's (size, mtime_ns, content hash): an unchanged file is not read
again, a touched but identical one is hashed and skipped, a new or changed one is read whole
(rows seen before are dropped by item id). Each file is read with Polars' lazy scans; a CSV
or JSON Lines file takes the careful path (tablerows.py) only when the strict one fails or
cannot vouch for every row, so a clean file costs one Polars pass and two byte counts.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopline.collect import Batch, CollectContext
from loopline.collect.merge import ITEM_ID, PROVENANCE, with_provenance
from loopline.collect.roots import check_declaration, resolve_root, select_files
from loopline.collect.spec import SourceSpec
from loopline.collect.tablerows import (
    Part,
    apply_overrides,
    careful_csv,
    careful_jsonl,
    count_bytes,
    dtype_name,
    make_dtype,
    quarantine_frame,
)
from loopline.core.hashing import hash_file

if TYPE_CHECKING:
    import polars as pl

log = logging.getLogger(__name__)

FORMATS = ("csv", "parquet", "jsonl")
SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
OPTIONS = ("root", "glob", "format", "schema", "separator", "has_header", "encoding")
_INFER_ROWS = 10_000


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

    root = resolve_root(spec, ctx.root)
    project = Path(os.path.realpath(ctx.root))
    prefix = "" if root == project else root.relative_to(project).as_posix() + "/"
    selection = select_files(root, str(spec.option("glob")))
    previous: dict[str, list[Any]] = dict(ctx.state.get("files", {}))
    state: dict[str, list[Any]] = {}
    types = {c: make_dtype(dtype_name(t) or "String") for c, t in (spec.option("schema") or {}).items()}
    frames: list[pl.DataFrame] = []
    origins: list[pl.Series] = []
    rejected: list[pl.DataFrame] = []
    report = {"files_seen": len(selection.files), "files_read": 0, "rows_read": 0, "rows_quarantined": 0}
    for rel, reason in selection.refused:
        log.warning("source %s: %s%s: %s", spec.name, prefix, rel, reason)
        rejected.append(quarantine_frame(f"{prefix}{rel}", [None], [f"refused: {reason}"], [""]))
    report["files_refused"] = len(selection.refused)
    for rel, full, (_, size, mtime_ns) in selection.files:
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
        part = _read_file(spec, full, fmt, types)
        report["files_read"] += 1
        report["rows_read"] += part.rows_in
        if part.rejected is not None and part.rejected.height:
            rejected.append(part.rejected.with_columns(pl.lit(origin).alias("_origin")))
            report["rows_quarantined"] += part.rejected.height
        if part.frame is not None and part.frame.height:
            frames.append(part.frame)
            lines = part.line_numbers().cast(pl.String)
            origins.append(pl.select(pl.lit(f"{origin}:") + lines).to_series())
    table = _provenance(spec, ctx, frames, origins)
    quarantine = pl.concat(rejected, how="vertical_relaxed") if rejected else None
    return Batch(table=table, quarantine=quarantine, state={"files": state}, report=report)


def _read_file(spec: SourceSpec, path: str, fmt: str, types: dict[str, pl.DataType]) -> Part:
    """One file's rows (with their line numbers) and rejected records; never raises for bad data."""
    import polars as pl

    try:
        if fmt == "csv":
            part = _fast_csv(spec, path, types) or careful_csv(
                path, spec.option("separator", ","), spec.option("has_header", True), types
            )
        elif fmt == "jsonl":
            part = _fast_jsonl(path) or careful_jsonl(path)
        else:
            frame = pl.scan_parquet(path).collect()
            part = Part(frame, pl.int_range(1, frame.height + 1, eager=True), None, frame.height)
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:  # unreadable as a whole
        log.warning("source %s: cannot read %s as %s: %s", spec.name, path, fmt, exc)
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        reason = f"cannot read the file as {fmt}: {first}"
        return Part(None, [], quarantine_frame("", [None], [reason], [""]), 1)
    return apply_overrides(part, types, path, text=fmt != "parquet")


def _fast_csv(spec: SourceSpec, path: str, types: dict[str, pl.DataType]) -> Part | None:
    """A strict Polars read, kept only when every record is provably one line with the right
    number of fields (so row i is line i + header); None sends the file to the careful path."""
    import polars as pl

    separator = spec.option("separator", ",")
    has_header = bool(spec.option("has_header", True))
    counts = count_bytes(path, separator.encode(), b'"')
    if counts.size == 0:
        return Part(pl.DataFrame(), [], None, 0)
    try:
        options: dict[str, Any] = {
            "separator": separator,
            "has_header": has_header,
            "infer_schema_length": _INFER_ROWS,
            "encoding": "utf8",
            "raise_if_empty": False,
        }
        names = pl.scan_csv(path, **options).collect_schema().names()
        overrides = {c: t for c, t in types.items() if c in names}
        frame = pl.scan_csv(path, **options, schema_overrides=overrides).collect(engine="streaming")
    except pl.exceptions.PolarsError:
        return None
    header = 1 if has_header else 0
    if frame.height + header != counts.lines:
        return None  # blank lines, or records spanning lines: line numbers need the careful path
    if frame.width > 1 and frame.height:
        if counts.quotes == 0:
            if counts.separators != counts.lines * (frame.width - 1):
                return None  # a short row (Polars pads it with nulls) or a blank line
        elif frame[frame.columns[-1]].null_count():
            return None  # quoted text: a null last field may be a short row, look closer
    return Part(frame, pl.int_range(header + 1, header + 1 + frame.height, eager=True), None, frame.height)


def _fast_jsonl(path: str) -> Part | None:
    import polars as pl

    counts = count_bytes(path, b"", b"")
    if counts.size == 0:
        return Part(pl.DataFrame(), [], None, 0)
    try:
        frame = pl.scan_ndjson(path, infer_schema_length=_INFER_ROWS).collect(engine="streaming")
    except pl.exceptions.PolarsError:
        return None
    if frame.height != counts.lines:
        return None  # blank lines (skipped by Polars): find each row's line the careful way
    return Part(frame, pl.int_range(1, frame.height + 1, eager=True), None, frame.height)


def _provenance(
    spec: SourceSpec, ctx: CollectContext, frames: list[pl.DataFrame], origins: list[pl.Series]
) -> pl.DataFrame:
    import polars as pl

    if not frames:
        return pl.DataFrame(schema={ITEM_ID: pl.String, **dict.fromkeys(PROVENANCE, pl.String)}).with_columns(
            pl.col("_collected_at").cast(pl.Datetime("us", "UTC"))
        )
    frame = frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")
    missing = [k for k in spec.key if k not in frame.columns]
    if missing:
        raise spec.fail(
            f"key column {missing[0]!r} is not in the files read",
            hint=f"columns: {', '.join(frame.columns)}",
        )
    table = with_provenance(
        frame,
        source=spec.name,
        origins=pl.concat(origins) if len(origins) > 1 else origins[0],
        collected_at=ctx.collected_at,
        run_id=ctx.run_id,
        key=spec.key,
    )
    if ctx.seen:
        seen = pl.DataFrame({ITEM_ID: list(ctx.seen)}, schema={ITEM_ID: pl.String})
        table = table.join(seen, on=ITEM_ID, how="anti", maintain_order="left")
    return table
