"""The careful path of the files source: find each bad record of a CSV or JSON Lines file, by
line number, keep every good one, and let no record vanish (rows in = rows kept + quarantined).

It runs only on files the strict Polars read refused or could not vouch for: the Python csv
module (or json) walks the lines once to separate the bad records (wrong field count, invalid
UTF-8, invalid JSON); the good ones are written back out to a file, each with its line, and
parsed by Polars' streaming engine with schema inference over every row, so they get the types a
clean file would and no file is held whole. Values that do not parse as
the declared schema overrides are found afterwards, per column, with a non-strict cast.
"""

from __future__ import annotations

import csv
import itertools
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl

_CHUNK = 1 << 22
_ROW_GROUP = 65_536
LINE = "__loopline_line"  # each row's line in its file, beside the rows of a file read

DTYPES = (
    "Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64", "Float32", "Float64",
    "String", "Boolean", "Date", "Datetime", "Time", "Duration", "Categorical",
)  # fmt: skip
_ALIASES = {"str": "String", "utf8": "String", "int": "Int64", "float": "Float64", "bool": "Boolean"}
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


def dtype_name(name: object) -> str | None:
    """The Polars type name a schema override means (case-insensitive), None if unknown; no
    Polars import, so declarations are checked without it."""
    if not isinstance(name, str):
        return None
    lowered = name.strip().lower()
    return _ALIASES.get(lowered) or next((d for d in DTYPES if d.lower() == lowered), None)


def make_dtype(name: str) -> pl.DataType:
    import polars as pl

    return getattr(pl, name)()


@dataclass
class Part:
    """What one file gave: rows with their line numbers, rejected records, records seen."""

    frame: pl.DataFrame | None
    lines: pl.Series | list[int]  # 1-based line (or row) number of each row of frame
    rejected: pl.DataFrame | None  # `_origin` (filled in by the caller), `_line`, `_reason`, `_raw`
    rows_in: int

    def line_numbers(self) -> pl.Series:
        import polars as pl

        return self.lines if isinstance(self.lines, pl.Series) else pl.Series(self.lines, dtype=pl.Int64)


@dataclass
class Careful:
    """What the careful path kept of a file (rows in its target file, with their `LINE`), what
    it rejected, how many records the file held, or why the file cannot be read as a whole."""

    rows: int
    rejected: pl.DataFrame
    rows_in: int
    target: Path | None = None
    error: str | None = None


@dataclass(frozen=True)
class Dialect:
    """How the careful path reads a CSV file: its read options, the source's column names for
    headerless files (None: the most common field count of its first records decides), and the
    columns read as text because the source gives them a type (cast afterwards, by row)."""

    separator: str = ","
    has_header: bool = True
    quote: str | None = '"'
    nulls: list[str] = field(default_factory=list)
    names: list[str] | None = None
    strings: list[str] = field(default_factory=list)


@dataclass
class Counts:
    size: int
    lines: int  # newline-terminated lines, plus a last line without one
    separators: int
    quotes: int


def count_bytes(path: str, separator: bytes, quote: bytes) -> Counts:
    """Lines, separators and quote characters in a file, in bounded memory."""
    size = lines = separators = quotes = 0
    last = b""
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            size += len(chunk)
            lines += chunk.count(b"\n")
            if separator:
                separators += chunk.count(separator)
            if quote:
                quotes += chunk.count(quote)
            last = chunk[-1:]
    if size and last != b"\n":
        lines += 1
    return Counts(size, lines, separators, quotes)


def quarantine_frame(
    origin: str, lines: list[int | None], reasons: list[str], raws: list[str | None] | list[str]
) -> pl.DataFrame:
    import polars as pl

    return pl.DataFrame(
        {"_origin": [origin] * len(lines), "_line": lines, "_reason": reasons, "_raw": raws},
        schema={"_origin": pl.String, "_line": pl.Int64, "_reason": pl.String, "_raw": pl.String},
    )


class _Lines:
    """Decoded lines of a file for csv.reader, remembering where the current record started;
    lines that are not UTF-8 are set aside with their number instead of being fed on."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.start: int | None = None
        self.text: list[str] = []
        self.bad: list[tuple[int, str, str]] = []

    def __iter__(self) -> Iterator[str]:
        with open(self.path, "rb") as fh:
            for number, raw in enumerate(fh, 1):
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    shown = raw.decode("utf-8", "replace").rstrip("\r\n")
                    self.bad.append((number, f"invalid UTF-8 (byte {exc.start + 1} of the line)", shown))
                    continue
                if number == 1:
                    text = text.removeprefix("\ufeff")  # a byte order mark is not data
                if self.start is None:
                    self.start = number
                self.text.append(text)
                yield text

    def take(self) -> tuple[int, str]:
        """The line number and raw text of the record just read."""
        start, raw = self.start or 0, "".join(self.text).rstrip("\r\n")
        self.start, self.text = None, []
        return start, raw


def default_names(count: int) -> list[str]:
    """loopline's names for the fields of a headerless file without `columns:` (1-based, whatever
    the Polars version: Polars 2 counts from 0, Polars 1 from 1)."""
    return [f"column_{i + 1}" for i in range(count)]


_PROBE = 1000  # records of a headerless file whose most common field count names its columns


def careful_csv(path: str, dialect: Dialect, target: Path) -> Careful:
    """The good records of a CSV file, each with its line (`LINE`), parsed into the Parquet file
    target; the bad ones rejected with their line and reason. A record is good when it has the
    source's number of fields (the header's, the declared names', or, for the first headerless
    file, the most common count): a malformed line never changes how the others are read. The
    good records go to a CSV file beside target, their line as the first field, which Polars'
    streaming engine then reads (types inferred over every row): the file is never held whole."""
    source = _Lines(path)
    quoting = {"quotechar": dialect.quote} if dialect.quote else {"quoting": csv.QUOTE_NONE}
    reader = _records(csv.reader(source, delimiter=dialect.separator, **quoting), source)
    names = dialect.names
    probe: list[tuple[int, str, list[str] | str]] = []
    if names is None and not dialect.has_header:
        for item in reader:
            probe.append(item)
            if len(probe) >= _PROBE:
                break
        counts = Counter(len(r) for _, _, r in probe if isinstance(r, list))
        names = default_names(counts.most_common(1)[0][0]) if counts else None
    bad: list[tuple[int, str, str]] = []
    records = kept = 0
    good = target.with_name(f"{target.stem}.good.csv")
    with open(good, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, delimiter=dialect.separator, lineterminator="\n")
        for line, raw, record in itertools.chain(probe, reader):
            if isinstance(record, str):
                records += 1
                bad.append((line, record, raw))
                continue
            if names is None:
                if len(set(record)) != len(record):
                    twice = next(c for c in record if record.count(c) > 1)
                    good.unlink()
                    return Careful(0, _rejected([]), 0, error=f"its header names {twice!r} twice")
                names = record
                continue
            records += 1
            if len(record) != len(names):
                bad.append((line, f"expected {len(names)} fields, found {len(record)}", raw))
                continue
            writer.writerow([line, *record])
            kept += 1
    bad.extend(source.bad)
    if names is not None and kept:
        import polars as pl

        strings = {c: pl.String for c in dialect.strings if c in names}
        options: dict[str, Any] = {"separator": dialect.separator, "has_header": False, "quote_char": '"'}
        options["null_values"] = dialect.nulls or None
        schema = pl.scan_csv(  # inferred alone first: Polars' inferring sink holds far more
            good,
            **options,
            new_columns=[LINE, *names],
            schema_overrides={LINE: pl.Int64, **strings},
            infer_schema_length=None,
        ).collect_schema()
        scan = pl.scan_csv(good, **options, schema=schema)
        target.unlink(missing_ok=True)  # the strict read's attempt may still be mapped
        scan.sink_parquet(target, row_group_size=_ROW_GROUP)
    good.unlink()
    return Careful(kept, _rejected(bad), records + len(source.bad), target if kept else None)


def _records(reader: Iterator[list[str]], source: _Lines) -> Iterator[tuple[int, str, list[str] | str]]:
    """(line, raw text, fields) of each record, or (line, raw text, reason) of a malformed one;
    blank lines hold no record and are skipped."""
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line, raw = source.take()
            yield line, raw, f"malformed CSV: {exc}"
            continue
        line, raw = source.take()
        if record:
            yield line, raw, record


def careful_jsonl(path: str, target: Path) -> Careful:
    """As careful_csv, for JSON Lines: each good object is written nested beside its line
    (`{"LINE": n, "row": {...}}`), and Polars unnests it again as it streams to target."""
    bad: list[tuple[int, str, str]] = []
    kept = 0
    good = target.with_name(f"{target.stem}.good.jsonl")
    with open(path, "rb") as fh, open(good, "wb") as out:
        for number, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            shown = raw.decode("utf-8", "replace").rstrip("\r\n")
            try:
                value = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                bad.append((number, f"invalid UTF-8 (byte {exc.start + 1} of the line)", shown))
                continue
            except json.JSONDecodeError as exc:
                bad.append((number, f"invalid JSON: {exc.msg} (column {exc.colno})", shown))
                continue
            if not isinstance(value, dict):
                bad.append((number, f"not a JSON object but {type(value).__name__}", shown))
                continue
            out.write(b'{"%s": %d, "row": %s}\n' % (LINE.encode(), number, raw.strip()))
            kept += 1
    if kept:
        import polars as pl

        schema = pl.scan_ndjson(good, infer_schema_length=None).collect_schema()  # as for CSV
        rows = pl.scan_ndjson(good, schema=schema).select(pl.col(LINE), pl.col("row").struct.unnest())
        target.unlink(missing_ok=True)
        rows.sink_parquet(target, row_group_size=_ROW_GROUP)
    good.unlink()
    return Careful(kept, _rejected(bad), kept + len(bad), target if kept else None)


def _rejected(bad: list[tuple[int, str, str]]) -> pl.DataFrame:
    bad.sort()
    return quarantine_frame("", [b[0] for b in bad], [b[1] for b in bad], [b[2] for b in bad])


def _parse(column: str, source: pl.DataType, target: pl.DataType) -> pl.Expr:
    import polars as pl

    expr = pl.col(column)
    if source.is_float() and target.is_integer():  # 1.5 is no integer (a plain cast truncates it)
        return pl.when(expr == expr.round(0)).then(expr.cast(target, strict=False))
    if source != pl.String:
        return expr.cast(target, strict=False)
    if target == pl.Date:
        return expr.str.strip_chars().str.to_date(strict=False)
    if isinstance(target, pl.Datetime):
        return expr.str.strip_chars().str.to_datetime(time_unit=target.time_unit or "us", strict=False)
    if target == pl.Time:
        return expr.str.strip_chars().str.to_time(strict=False)
    if target == pl.Boolean:
        words = expr.str.strip_chars().str.to_lowercase()
        return words.replace_strict(_BOOLEANS, default=None, return_dtype=pl.Boolean)
    if target == pl.String:
        return expr
    return expr.str.strip_chars().cast(target, strict=False)


def parse(column: str, source: pl.DataType, target: pl.DataType) -> pl.Expr:
    """column as target; null where a value does not parse as one (blanks around it allowed)."""
    return _parse(column, source, target)


def _casts(schema: pl.Schema, types: dict[str, pl.DataType]) -> dict[str, pl.Expr]:
    return {c: _parse(c, schema[c], t) for c, t in types.items() if c in schema and schema[c] != t}


def overridden(schema: pl.Schema, types: dict[str, pl.DataType]) -> pl.Schema:
    """The columns of a table of `schema` once apply_overrides has cast them."""
    import polars as pl

    return pl.DataFrame(schema=schema).with_columns(**_casts(schema, types)).schema


def apply_overrides(part: Part, types: dict[str, pl.DataType], *, text: bool = True) -> Part:
    """Cast the override columns; a value that does not parse sends its row to the rejected
    records with the column, the value and the type named. `text`: raw records are lines of the
    file, left null for `with_raw_lines` (else the row itself, as JSON)."""
    import polars as pl

    frame = part.frame
    if frame is None or not frame.height:
        return part
    casts = _casts(frame.schema, types)
    if not casts:
        return part
    reasons = [
        pl.when(pl.col(c).is_not_null() & expr.is_null()).then(
            pl.format("column {}: {} is not {}", pl.lit(c), pl.col(c).cast(pl.String), pl.lit(str(types[c])))
        )
        for c, expr in casts.items()
    ]
    checked = frame.with_columns(pl.coalesce(reasons).alias("__reason"), part.line_numbers().alias("__line"))
    bad = checked.filter(pl.col("__reason").is_not_null())
    kept = checked.filter(pl.col("__reason").is_null())
    result = kept.with_columns(**casts).drop("__reason", "__line")
    if not bad.height:
        return Part(result, part.lines, part.rejected, part.rows_in)
    numbers = bad["__line"].to_list()
    if text:
        raws: list[str | None] = [None] * len(numbers)
    else:
        raws = [json.dumps(row, default=str) for row in bad.drop("__reason", "__line").iter_rows(named=True)]
    rejected = quarantine_frame("", numbers, bad["__reason"].to_list(), raws)
    return Part(result, kept["__line"], rejected, part.rows_in)


def with_raw_lines(rejected: pl.DataFrame, path: str) -> pl.DataFrame:
    """Fill the null `_raw` of rejected records with their lines of the file (one read)."""
    import polars as pl

    missing = rejected.filter(pl.col("_raw").is_null())["_line"].to_list()
    if not missing:
        return rejected
    found = raw_lines(path, set(missing))
    raws = [
        raw if raw is not None else found.get(line, "")
        for line, raw in rejected.select("_line", "_raw").iter_rows()
    ]
    return rejected.with_columns(pl.Series("_raw", raws, dtype=pl.String))


def raw_lines(path: str, wanted: set[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    last = max(wanted, default=0)
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, 1):
            if number in wanted:
                found[number] = raw.decode("utf-8", "replace").rstrip("\r\n")
            if number >= last:
                break
    return found
