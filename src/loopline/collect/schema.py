"""A table source has one schema, and every file is read against it.

The schema is the declared one (`columns:` names for headerless files, `schema:` types), then
what the current version holds; the first file read establishes what is still unknown. A file
that does not fit is adapted only by an evolution the source declares (`evolve:`), and each one
is reported; anything else rejects the whole file with the column and the fix named, so no
column is ever renamed, shifted, retyped or dropped silently. The same rule guards every table
source's merge (`version_changes`): a new version may add columns and widen numbers, never
retype a column.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loopline.core.errors import Integrity
from loopline.core.hashing import hash_json

if TYPE_CHECKING:
    import polars as pl

EVOLUTIONS = ("add_columns", "missing_columns", "widen")
READ_OPTIONS = (
    "format",
    "separator",
    "has_header",
    "encoding",
    "columns",
    "schema",
    "quote_char",
    "null_values",
)
_INTEGERS = ("Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64")


def read_options_digest(options: Mapping[str, Any]) -> str:
    """What a file's state is keyed on besides its bytes: change a read option and the files
    are read again (their rows in the current version replaced by what the new options give)."""
    return hash_json({k: options.get(k) for k in READ_OPTIONS})[:16]


def type_name(dtype: pl.DataType) -> str:
    return str(dtype)


def is_integer(dtype: pl.DataType) -> bool:
    return type(dtype).__name__ in _INTEGERS


def widens(old: pl.DataType, new: pl.DataType) -> bool:
    """new holds every value of old: a larger integer, or a float for an integer or Float32."""
    import polars as pl

    if old == new:
        return True
    if is_integer(old):
        if new == pl.Float64:
            return True
        return is_integer(new) and new == pl.Int64 and old != pl.UInt64
    return old == pl.Float32 and new == pl.Float64


def widened(old: pl.DataType) -> list[pl.DataType]:
    """The types `evolve: [widen]` may move a column of type old to, narrowest first."""
    import polars as pl

    return [t for t in (pl.Int64(), pl.Float64()) if t != old and widens(old, t)]


@dataclass
class SourceSchema:
    """The columns (in order) and types a source's files are read against, and what the source
    lets a file change. `columns` is None until declared or established by a first file."""

    columns: dict[str, pl.DataType] | None
    names: list[str] | None  # positional names of headerless files (`columns:`, or established)
    declared: dict[str, pl.DataType]  # `schema:` types, which win over inference
    evolve: frozenset[str] = frozenset()
    changes: list[str] = field(default_factory=list)  # evolutions taken during this collection

    def types(self) -> dict[str, pl.DataType]:
        return {**(self.columns or {}), **self.declared}

    def take(self, schema: Mapping[str, pl.DataType], changes: list[str]) -> None:
        """Adopt what a file that fits brought: its columns when none were known, its declared
        evolutions (new columns, wider types) otherwise."""
        if self.columns is None:
            self.columns = dict(schema)
        else:
            for name, dtype in schema.items():
                if name not in self.columns or widens(self.columns[name], dtype):
                    self.columns[name] = dtype
        if self.names is None:
            self.names = list(self.columns)
        self.changes.extend(changes)


def version_changes(before: pl.Schema | None, after: pl.Schema) -> list[str]:
    """What a new version of a table source changes in its columns: new columns and widened
    types, reported; a column retyped any other way is an Integrity error (the readers never
    produce one: this guards the merge, where types are relaxed to a common one)."""
    if before is None:
        return []
    changes = [f"new column {c} ({type_name(t)})" for c, t in after.items() if c not in before]
    for column, old in before.items():
        new = after.get(column)
        if new is None or new == old:
            continue
        if not widens(old, new):
            raise Integrity(
                f"column {column!r} would change type from {type_name(old)} to {type_name(new)}",
                hint=f"declare its type in the source (schema: {{{column}: {type_name(new)}}}) to read "
                "every file as that type, or fix the new data",
            )
        changes.append(f"column {column} widened {type_name(old)} -> {type_name(new)}")
    return changes


def digest_changed(old: list[Any] | None, options: str) -> bool:
    """A file's saved state was made with other read options (states older than this check
    hold no digest: taken as the same options)."""
    return old is not None and len(old) > 3 and old[3] != options


@dataclass
class Plan:
    """How one file's rows become the source's: the casts to apply, the file's columns once
    cast, the evolutions it takes, or why it is refused as a whole."""

    types: dict[str, pl.DataType]
    schema: dict[str, pl.DataType]
    changes: list[str]
    error: str | None = None


def plan_file(scan: pl.LazyFrame, source: SourceSchema) -> Plan:
    """Check a file's columns (as read, before any cast) against the source. A first file
    establishes the columns, its text columns typed as numbers where every value, trimmed, is
    one; a later file must have the same columns (or take a declared evolution), and each of its
    columns is cast to the source's type, a value that does not parse quarantining its row. A
    column none of whose values parse has changed type: the file is refused, the fix named."""
    import polars as pl

    read = scan.collect_schema()
    expected = source.columns
    types = {c: t for c, t in source.declared.items() if c in read}
    if expected is None:
        text = [c for c, t in read.items() if t == pl.String and c not in types]
        types |= _numbers(scan, text)
        return Plan(types, {c: types.get(c, t) for c, t in read.items()}, [])
    new = [c for c in read if c not in expected]
    missing = [c for c in expected if c not in read]
    if new and "add_columns" not in source.evolve:
        return _refuse(
            f"column(s) {', '.join(map(repr, new))} are not among the source's ({', '.join(expected)})",
            "add `evolve: [add_columns]` to the source to take them (rows before get null), or fix the file",
        )
    if missing and "missing_columns" not in source.evolve:
        return _refuse(
            f"it lacks the source's column(s) {', '.join(map(repr, missing))}",
            "add `evolve: [missing_columns]` to the source to read them as null, or fix the file",
        )
    changes = [f"new column {c}" for c in new] + [f"column {c} missing (null)" for c in missing]
    # A declared type is the user's word: values that do not parse quarantine their rows.
    common = [c for c in read if c in expected and c not in types and read[c] != expected[c]]
    if common:
        stats = _failures(scan, read, {c: [expected[c], *widened(expected[c])] for c in common})
        for column in common:
            want = expected[column]
            values, fails, sample = stats[column][want]
            wider = [t for t in widened(want) if "widen" in source.evolve and stats[column][t][1] == 0]
            if fails and wider:
                types[column] = wider[0]
                changes.append(f"column {column} widened {type_name(want)} -> {type_name(wider[0])}")
            elif fails and fails == values:
                return _refuse(
                    f"column {column!r}: none of its {values} value(s) is {type_name(want)} "
                    f"(e.g. {sample!r}): the column changed type",
                    f"declare the type that fits every file (schema: {{{column}: String}}; the files "
                    "are read again)"
                    + (", or `evolve: [widen]` for a wider number" if widened(want) else "")
                    + ", or fix the file",
                )
            else:
                types[column] = want  # values that do not parse quarantine their rows
    if new:
        types |= _numbers(scan, [c for c in new if read[c] == pl.String and c not in types])
    return Plan(types, {c: types.get(c, t) for c, t in read.items()}, changes)


def _refuse(reason: str, fix: str) -> Plan:
    return Plan({}, {}, [], error=f"{reason}. To fix: {fix}")


def _numbers(scan: pl.LazyFrame, columns: list[str]) -> dict[str, pl.DataType]:
    """The text columns every (trimmed, non-null) value of which is an integer, or a number."""
    import polars as pl

    if not columns:
        return {}
    kinds: list[pl.DataType] = [pl.Int64(), pl.Float64()]
    stats = _failures(scan, pl.Schema(dict.fromkeys(columns, pl.String())), dict.fromkeys(columns, kinds))
    found: dict[str, pl.DataType] = {}
    for column in columns:
        fits = [t for t in kinds if stats[column][t][0] and not stats[column][t][1]]
        if fits:
            found[column] = fits[0]
    return found


def _failures(
    scan: pl.LazyFrame, read: pl.Schema, wanted: dict[str, list[pl.DataType]]
) -> dict[str, dict[pl.DataType, tuple[int, int, Any]]]:
    """Per column and type: (non-null values, values that do not parse as it, one of those), in
    one streaming pass over the file's rows."""
    import polars as pl

    from loopline.collect.tablerows import parse

    exprs: list[pl.Expr] = []
    for column, kinds in wanted.items():
        present = pl.col(column).is_not_null()
        exprs.append(present.sum().alias(f"{column}\0n"))
        for i, kind in enumerate(kinds):
            failed = present & parse(column, read[column], kind).is_null()
            exprs.append(failed.sum().alias(f"{column}\0{i}\0f"))
            exprs.append(pl.col(column).filter(failed).first().cast(pl.String).alias(f"{column}\0{i}\0s"))
    row = scan.select(exprs).collect(engine="streaming").row(0, named=True)
    return {
        column: {
            kind: (int(row[f"{column}\0n"]), int(row[f"{column}\0{i}\0f"]), row[f"{column}\0{i}\0s"])
            for i, kind in enumerate(kinds)
        }
        for column, kinds in wanted.items()
    }
