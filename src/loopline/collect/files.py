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

import codecs
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopline.collect import Batch, CollectContext
from loopline.collect.file_options import SUFFIXES, ReadOptions, mirrors, validate
from loopline.collect.merge import ITEM_ID, PROVENANCE, with_provenance
from loopline.collect.roots import resolve_root, select_files
from loopline.collect.schema import (
    SourceSchema,
    digest_changed,
    plan_file,
    read_options_digest,
)
from loopline.collect.spec import SourceSpec
from loopline.collect.tablerows import (
    LINE,
    Careful,
    Dialect,
    Part,
    apply_overrides,
    careful_csv,
    careful_jsonl,
    count_bytes,
    default_names,
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

__all__ = ["read", "validate"]  # a Reader (collect/__init__.py): validate is file_options'

_INFER_ROWS = 10_000
_SLICE = 65_536  # rows read, identified and written at a time: what bounds a collection's memory


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
    options = read_options_digest(spec.options)
    rebuild = any(digest_changed(old, options) for old in previous.values())
    mirror = mirrors(spec)
    present = {rel for rel, _, _ in selection.files}
    removed = sorted(set(previous) - present)
    if rebuild and removed and not mirror:
        raise spec.fail(
            f"the read options changed, but {len(removed)} file(s) read before are gone "
            f"({prefix}{removed[0]}): their rows cannot be read again with the new options",
            hint="restore the files, or set `versions: mirror` (a version is the folder as it is now)",
        )
    source = _source_schema(spec, None if rebuild else ctx.previous)
    opts = ReadOptions.of(spec)
    state: dict[str, list[Any]] = {}
    kept: list[tuple[str, Path]] = []  # (origin, the rows read) of each file with rows
    rejected: list[pl.DataFrame] = []
    replaced: list[str] = [f"{prefix}{rel}" for rel in removed] if mirror else []
    per_file: list[dict[str, Any]] = []
    report = {"files_seen": len(selection.files), "files_read": 0, "rows_read": 0, "rows_quarantined": 0}
    report["files_removed"] = len(removed)
    for rel, reason in selection.refused:
        log.warning("source %s: %s%s: %s", spec.name, prefix, rel, reason)
        rejected.append(quarantine_frame(f"{prefix}{rel}", [None], [f"refused: {reason}"], [""]))
    report["files_refused"] = len(selection.refused)
    report["files_rejected"] = 0
    for index, (rel, full, (_, size, mtime_ns)) in enumerate(selection.files):
        old = previous.get(rel)
        if old is not None and old[0] == size and old[1] == mtime_ns and not rebuild:
            state[rel] = old
            continue
        digest = hash_file(full)
        if old is not None and old[2] == digest and not rebuild:
            state[rel] = [size, mtime_ns, digest, *old[3:]]
            continue
        origin = f"{prefix}{rel}"
        fmt = spec.option("format") or SUFFIXES.get(os.path.splitext(rel)[1].lower())
        if fmt is None:
            reason = "refused: its extension names no table format (give the source a `format:`)"
            rejected.append(quarantine_frame(origin, [None], [reason], [""]))
            report["files_refused"] += 1
            continue
        result = _read_file(spec, full, fmt, source, opts, ctx.scratch / f"file-{index}.parquet")
        report["files_read"] += 1
        report["rows_read"] += result.rows_in
        entry: dict[str, Any] = {"file": origin, "rows_read": result.rows_in, "rows_kept": 0}
        per_file.append(entry)
        if result.error is not None:  # the whole file: none of it stored, read again next time
            log.info("source %s: %s refused: %s", spec.name, origin, result.error)
            rejected.append(quarantine_frame(origin, [None], [f"file rejected: {result.error}"], [""]))
            report["files_rejected"] += 1
            entry |= {"rejected": result.error, "rows_quarantined": 0}
            if old is not None:
                state[rel] = old
            continue
        state[rel] = [size, mtime_ns, digest, options]
        quarantined = result.rejected.height if result.rejected is not None else 0
        entry |= {"rows_kept": result.rows_in - quarantined, "rows_quarantined": quarantined}
        if result.changes:
            entry["schema_changes"] = result.changes
        if quarantined:
            assert result.rejected is not None
            rejected.append(result.rejected.with_columns(pl.lit(origin).alias("_origin")))
            report["rows_quarantined"] += quarantined
        if result.table is not None:
            kept.append((origin, result.table))
        if old is not None and (mirror or rebuild):
            replaced.append(origin)
    table = _provenance(spec, ctx, kept, source, ctx.scratch / "batch.parquet")
    quarantine = pl.concat(rejected, how="vertical_relaxed") if rejected else None
    details = {
        "files": per_file,
        "removed": [f"{prefix}{r}" for r in removed],
        "schema_changes": source.changes,
    }
    if mirror:
        details["mirror"] = True
    if rebuild:
        details["reread"] = "the read options changed: every file was read again"
    return Batch(
        table=table,
        quarantine=quarantine,
        state={"files": state},
        report=report,
        details=details,
        replaces=tuple(replaced),
    )


def _source_schema(spec: SourceSpec, previous: pl.LazyFrame | None) -> SourceSchema:
    """What this collection reads files against: the declaration, then the current version."""
    declared = {c: make_dtype(dtype_name(t) or "String") for c, t in (spec.option("schema") or {}).items()}
    names: list[str] | None = spec.option("columns")
    columns = None
    if previous is not None:
        held = previous.collect_schema()
        columns = {c: t for c, t in held.items() if c != ITEM_ID and c not in PROVENANCE} or None
        if names is None and columns and not spec.option("has_header", True):
            names = list(columns)
    return SourceSchema(columns, names, declared, frozenset(spec.option("evolve", [])))


@dataclass
class _Read:
    """What one file gave: its kept rows (a Parquet file with each row's line, `LINE`), its
    rejected records, how many records it held, the evolutions it took, or why it was refused
    as a whole (`error`: nothing of it is kept)."""

    table: Path | None
    rejected: pl.DataFrame | None
    rows_in: int
    changes: list[str] = field(default_factory=list)
    error: str | None = None


def _read_file(
    spec: SourceSpec, path: str, fmt: str, source: SourceSchema, opts: ReadOptions, target: Path
) -> _Read:
    """One file's rows, read against the source's schema and written to target, and its
    rejected records; never raises for bad data."""
    import polars as pl

    try:
        if fmt != "parquet" and opts.encoding != "utf-8":
            path = _transcoded(path, opts.encoding, target.with_suffix(".utf8"))
        if fmt == "csv":
            read = _strict_csv(path, opts, source, target) or _careful(
                careful_csv(path, _csv_dialect(opts, source), target), path
            )
        elif fmt == "jsonl":
            read = _strict_jsonl(path, target) or _careful(careful_jsonl(path, target), path)
        else:
            read = _Read(target, None, _sink(pl.scan_parquet(path).with_row_index(LINE, offset=1), target))
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:  # unreadable as a whole
        log.warning("source %s: cannot read %s as %s: %s", spec.name, path, fmt, exc)
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        reason = f"cannot read the file as {fmt}: {first}"
        return _Read(None, quarantine_frame("", [None], [reason], [""]), 1)
    if read.table is None or read.error is not None:
        return read
    return _fit(read, source, path, text=fmt != "parquet")


def _transcoded(path: str, encoding: str, target: Path) -> str:
    """The file as UTF-8 in target, decoded a chunk at a time (bytes the codec cannot decode
    become U+FFFD, so a line stays a line and its bad value is visible in the quarantine)."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    with open(path, "rb") as src, open(target, "w", encoding="utf-8", newline="") as out:
        while chunk := src.read(1 << 22):
            out.write(decoder.decode(chunk))
        out.write(decoder.decode(b"", final=True))
    return str(target)


def _fit(read: _Read, source: SourceSchema, path: str, *, text: bool) -> _Read:
    """The rows read, cast to the source's types (values that do not parse quarantined by row)
    once plan_file has checked the file's columns against the source."""
    import polars as pl

    assert read.table is not None
    scan = pl.scan_parquet(read.table)
    plan = plan_file(scan.drop(LINE), source)
    if plan.error is not None:
        return _Read(None, None, read.rows_in, error=plan.error)
    cast = _cast(read.table, read.rows_in - _height(read.rejected), plan.types, text=text)
    changes = plan.changes if cast.table is not None else []  # no row kept: nothing to evolve for
    if cast.table is not None:
        source.take(plan.schema, changes)
    return _with_raws(_Read(cast.table, cast.rejected, read.rows_in, changes), path, read.rejected)


def _height(frame: pl.DataFrame | None) -> int:
    return frame.height if frame is not None else 0


def _sink(scan: pl.LazyFrame, target: Path) -> int:
    """Write a strict read (rows with their line, `LINE`) to target with Polars' streaming
    engine, which reads a few chunks of the file at a time; its rows. Raises if the read fails."""
    import polars as pl

    target.unlink(missing_ok=True)  # a failed attempt's file may still be mapped: a new one
    scan.sink_parquet(target, row_group_size=_SLICE)
    return int(pl.scan_parquet(target).select(pl.len()).collect().item())


def _cast(target: Path, rows: int, types: dict[str, pl.DataType], *, text: bool) -> _Read:
    """Cast the rows in target to types, a slice at a time: those that parse are kept (in a file
    beside it), the others rejected. Rows that need no cast are kept as they are."""
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


def _csv_dialect(opts: ReadOptions, source: SourceSchema) -> Dialect:
    return Dialect(
        separator=opts.separator,
        has_header=opts.has_header,
        quote=opts.quote,
        nulls=opts.nulls,
        names=None if opts.has_header else source.names,
        strings=list(source.types()),
    )


def _strict_csv(path: str, opts: ReadOptions, source: SourceSchema, target: Path) -> _Read | None:
    """A strict Polars read against the source's columns and types, kept only when every
    record is provably one line with the right number of fields (so row i is line i + header);
    None sends the file to the careful path. Columns whose values do not all parse as their
    type are read as text, and cast (by row) afterwards."""
    import polars as pl

    counts = count_bytes(path, opts.separator.encode(), (opts.quote or "").encode())
    if counts.size == 0:
        return _Read(None, None, 0)
    header = 1 if opts.has_header else 0
    options: dict[str, Any] = {
        "separator": opts.separator,
        "has_header": opts.has_header,
        "infer_schema_length": _INFER_ROWS,
        "encoding": "utf8",
        "raise_if_empty": False,
        "quote_char": opts.quote,
        "null_values": opts.nulls or None,
    }
    types = source.types()
    try:
        if not opts.has_header:
            count = len(pl.scan_csv(path, **options).collect_schema())
            options["new_columns"] = source.names or default_names(count)
        names = pl.scan_csv(path, **options).collect_schema().names()
        if len(names) != len(set(names)):
            return None
        known = {c: t for c, t in types.items() if c in names}
        try:
            rows = _sink(
                pl.scan_csv(path, **options, schema_overrides=known).with_row_index(LINE, offset=header + 1),
                target,
            )
        except pl.exceptions.ComputeError:  # a value that is not of its column's type: cast by row
            texts = dict.fromkeys(known, pl.String())
            rows = _sink(
                pl.scan_csv(path, **options, schema_overrides=texts).with_row_index(LINE, offset=header + 1),
                target,
            )
    except pl.exceptions.PolarsError:
        return None
    if rows + header != counts.lines:
        return None  # blank lines, or records spanning lines: line numbers need the careful path
    if len(names) > 1 and rows:
        if counts.quotes == 0:
            if counts.separators != counts.lines * (len(names) - 1):
                return None  # a short or long row (Polars pads it with nulls) or a blank line
        elif (
            pl.scan_parquet(target).select(pl.col(names[-1]).null_count()).collect(engine="streaming").item()
        ):
            return None  # quoted text: a null last field may be a short row, look closer
    return _Read(target if rows else None, None, rows)


def _strict_jsonl(path: str, target: Path) -> _Read | None:
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
    return _Read(target if rows else None, None, rows)


def _careful(careful: Careful, path: str) -> _Read:
    """What the careful path wrote to target (cast by _fit), and what it rejected."""
    if careful.error is not None:
        return _Read(None, None, careful.rows_in, error=careful.error)
    rejected = careful.rejected if careful.rejected.height else None
    if not careful.rows:
        return _with_raws(_Read(None, rejected, careful.rows_in), path)
    return _Read(careful.target, rejected, careful.rows_in)


def _with_raws(result: _Read, path: str, earlier: pl.DataFrame | None = None) -> _Read:
    """result, its rejected records (after `earlier` ones) in line order, each with its line of
    the file."""
    import polars as pl

    bad = [r for r in (earlier, result.rejected) if r is not None and r.height]
    rejected = with_raw_lines(pl.concat(bad).sort("_line"), path) if bad else None
    return _Read(result.table, rejected, result.rows_in, result.changes, result.error)


def _provenance(
    spec: SourceSpec, ctx: CollectContext, kept: list[tuple[str, Path]], source: SourceSchema, target: Path
) -> pl.DataFrame | TableFile:
    """The rows of every file read, in one table with item ids and provenance: each file's
    rows are read back a slice at a time, given the source's columns (those a file lacks null,
    by a declared evolution), their ids and origins, and written to target."""
    import polars as pl

    if not kept:
        return pl.DataFrame(schema={ITEM_ID: pl.String, **dict.fromkeys(PROVENANCE, pl.String)}).with_columns(
            pl.col("_collected_at").cast(pl.Datetime("us", "UTC"))
        )
    assert source.columns is not None
    columns = pl.DataFrame(schema=source.columns)
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
        for origin, path in kept:
            scan = pl.scan_parquet(path)
            for part in slices(scan, scan.select(pl.len()).collect().item(), _SLICE):
                frame = part.drop(LINE)
                if frame.schema != columns.schema:  # widened by a later file, or a column it lacks
                    frame = frame.select(
                        pl.col(c).cast(t) if c in frame.columns else pl.lit(None, t).alias(c)
                        for c, t in columns.schema.items()
                    )
                lines = part.get_column(LINE).cast(pl.String)
                yield provenance(frame, pl.select(pl.lit(f"{origin}:") + lines).to_series())

    return write_frames(rows(), target, provenance(columns, "").schema, hashed=False)
