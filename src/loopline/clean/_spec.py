"""What rules and expectations share: reading their dicts strictly, checking the columns, regexes
and SQL they name against a schema, and showing a value inside a reason.

Every check here runs on a schema (column name -> type name) and never on data, so a mistake in
loopline.yaml is reported before anything is read.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Mapping
from typing import Any

import polars as pl

from loopline.clean._dtypes import is_orderable, is_text
from loopline.core.errors import ConfigError


class Spec:
    """One rule or expectation dict being read: remembers which it is, for every message."""

    def __init__(self, raw: Mapping[str, Any], label: str, allowed: set[str], example: str) -> None:
        self.raw = raw
        self.label = label
        self.example = example
        unknown = sorted(set(raw) - allowed)
        if unknown:
            raise self.error(
                f"unknown key {unknown[0]!r}", f"keys are {', '.join(sorted(allowed))}; e.g. {example}"
            )

    def error(self, message: str, hint: str | None = None) -> ConfigError:
        return ConfigError(f"{self.label}: {message}", hint=hint or f"write e.g. {self.example}")

    def get(self, key: str, default: Any = None) -> Any:
        return self.raw.get(key, default)

    def need(self, key: str) -> Any:
        if key not in self.raw or self.raw[key] is None:
            raise self.error(f"needs `{key}`")
        return self.raw[key]

    def columns(self, *, single: str = "column", many: str = "columns") -> tuple[str, ...]:
        """`column: a` or `columns: [a, b]` (one of them)."""
        value = self.raw.get(many, self.raw.get(single))
        if value is None:
            raise self.error(f"needs `{single}` or `{many}`")
        names = (value,) if isinstance(value, str) else value
        if not isinstance(names, list | tuple) or not names or not all(isinstance(c, str) for c in names):
            raise self.error(f"`{many}` must be a column name or a list of names")
        return tuple(names)

    def number(self, key: str, default: float | None = None) -> float | None:
        value = self.raw.get(key, default)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise self.error(f"`{key}` must be a number, got {value!r}")
        return value

    def bound(self, key: str) -> Any:
        value = self.raw.get(key)
        if (value is not None and not isinstance(value, int | float | str | dt.date)) or isinstance(
            value, bool
        ):
            raise self.error(f"`{key}` must be a number or a date, got {value!r}")
        return value


def check_columns(spec: Spec, schema: Mapping[str, str] | None, names: tuple[str, ...]) -> None:
    if schema is None:
        return
    for name in names:
        if name not in schema:
            near = difflib.get_close_matches(name, list(schema), n=1) or [
                c for c in schema if c.lower() == name.lower()
            ]
            raise spec.error(
                f"column {name!r} is not in the table",
                f"did you mean {near[0]!r}?"
                if near
                else f"columns are {', '.join(list(schema)[:20]) or '(none)'}",
            )


def check_text(spec: Spec, schema: Mapping[str, str] | None, name: str) -> None:
    if schema is not None and name in schema and not is_text(schema[name]):
        raise spec.error(
            f"column {name!r} is {schema[name]}, not text",
            "cast it to String first: {rule: cast, columns: {" + name + ": String}}",
        )


def check_orderable(spec: Spec, schema: Mapping[str, str] | None, name: str) -> None:
    if schema is not None and name in schema and not is_orderable(schema[name]):
        raise spec.error(
            f"column {name!r} is {schema[name]}, not a number or a date",
            "cast it first: {rule: cast, columns: {" + name + ": Float64}}",
        )


def check_regex(spec: Spec, pattern: Any) -> str:
    """Compile with Polars' own engine (Rust regex), which is what will run it."""
    if not isinstance(pattern, str):
        raise spec.error("`pattern` must be a string")
    try:
        pl.DataFrame({"x": [""]}, schema={"x": pl.String}).select(pl.col("x").str.contains(pattern))
    except pl.exceptions.PolarsError as exc:
        first = str(exc).strip().splitlines()
        detail = " ".join(line.strip() for line in first[:4] if line.strip())
        raise spec.error(
            f"bad regex {pattern!r}: {detail}",
            "Polars uses Rust regex syntax (no look-around or backreferences); quote it in YAML",
        ) from exc
    return pattern


def sql(spec: Spec, key: str, schema: Mapping[str, str] | None) -> pl.Expr:
    """A SQL expression (never Python eval) or, from Python, a Polars expression."""
    value = spec.need(key)
    if isinstance(value, pl.Expr):
        expr = value
    elif isinstance(value, str):
        try:
            expr = pl.sql_expr(value)
        except pl.exceptions.PolarsError as exc:
            raise spec.error(
                f"bad expression {value!r}: {str(exc).strip().splitlines()[0]}",
                "write a SQL condition, e.g. \"amount >= 0 AND country <> 'XX'\"",
            ) from exc
    else:
        raise spec.error(f"`{key}` must be a SQL expression string")
    check_columns(spec, schema, tuple(expr.meta.root_names()))
    if schema is not None:
        frame = pl.DataFrame(schema={c: _dtype(t) for c, t in schema.items()})
        try:
            frame.lazy().select(expr).collect_schema()
        except pl.exceptions.PolarsError as exc:
            raise spec.error(
                f"expression {value!r} does not fit the table: {str(exc).splitlines()[0]}"
            ) from exc
    return expr


def _dtype(name: str) -> pl.DataType:
    """Near enough for checking an expression's columns and operators: parametrised and nested
    types become their plain form, anything unknown a Null column."""
    base = name.split("(", 1)[0].split("[", 1)[0]
    found = getattr(pl, base, None)
    try:
        return found() if isinstance(found, type) and issubclass(found, pl.DataType) else pl.Null()
    except TypeError:
        return pl.Null()


def literal(value: Any, dtype: pl.DataType) -> pl.Expr:
    """A bound from YAML as a literal of the column's type (dates arrive as strings)."""
    if isinstance(value, str) and dtype.is_temporal():
        if dtype == pl.Date:
            return pl.lit(dt.date.fromisoformat(value))
        return pl.lit(dt.datetime.fromisoformat(value)).cast(dtype)
    if isinstance(value, dt.date) or not dtype.is_numeric():
        return pl.lit(value).cast(dtype)
    return pl.lit(value)


def show(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """A value as text inside a reason: strings quoted, null as null."""
    text = expr.cast(pl.String)
    if dtype == pl.String or dtype == pl.Categorical:
        text = pl.concat_str(pl.lit("'"), text, pl.lit("'"))
    return text.fill_null(pl.lit("null"))


def fmt(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)
