"""Rules that reject rows: range, allowed, regex, outliers, dedupe, filter, expression.

Null values pass range, allowed, regex and outlier rules (missing values are the `missing`
rule's business). Outlier fences and duplicates are computed over the rows still clean when the
rule's turn comes, over the whole table (not per partition), so every executor agrees.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import polars as pl

from loopline.clean._base import PREFIX, ROW, Rule, Schema, reject, snap
from loopline.clean._dtypes import is_numeric, is_temporal
from loopline.clean._spec import (
    Spec,
    check_columns,
    check_orderable,
    check_regex,
    check_text,
    fmt,
    literal,
    show,
    sql,
)


@dataclass(frozen=True)
class _OneColumn(Rule):
    """A rule that looks at one column."""

    column: str

    def uses(self) -> tuple[str, ...] | None:
        return (self.column,)

    def rewrites(self) -> tuple[str, ...] | None:
        return ()


def _roots(expr: Any) -> tuple[str, ...]:
    return tuple((expr if isinstance(expr, pl.Expr) else pl.sql_expr(expr)).meta.root_names())


def _value(column: str, schema: Mapping[str, pl.DataType], index: int) -> pl.Expr:
    return pl.concat_str(pl.lit(f"{column} "), show(pl.col(snap(index)), schema[snap(index)]))


@dataclass(frozen=True)
class Range(_OneColumn):
    kind: ClassVar[str] = "range"
    keys: ClassVar[frozenset[str]] = frozenset({"column", "min", "max"})
    example: ClassVar[str] = "{rule: range, column: age, min: 0, max: 120}"

    column: str
    min: Any = None
    max: Any = None

    @classmethod
    def parse(cls, spec: Spec, schema: Schema | None, index: int) -> Rule:
        column = spec.need("column")
        check_columns(spec, schema, (column,))
        check_orderable(spec, schema, column)
        low, high = spec.bound("min"), spec.bound("max")
        if low is None and high is None:
            raise spec.error("needs `min` or `max` (or both)")
        if schema is not None and is_temporal(schema[column]):
            for bound in (low, high):
                try:
                    literal(bound, pl.Date() if schema[column] == "Date" else pl.Datetime("us"))
                except (ValueError, TypeError) as exc:
                    raise spec.error(
                        f"bound {bound!r} is not an ISO date for {schema[column]} column"
                    ) from exc
        elif schema is not None and any(isinstance(b, str) for b in (low, high)):
            raise spec.error(f"bounds of {schema[column]} column {column!r} must be numbers")
        if low is not None and high is not None and not isinstance(low, str) and low > high:
            raise spec.error(f"min {low} is above max {high}")
        return cls(column, low, high, name=spec.get("name"), index=index)

    def step(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        dtype = lf.collect_schema()[self.column]
        col = pl.col(self.column)
        cond = pl.lit(False)
        if self.min is not None:
            cond = cond | (col < literal(self.min, dtype))
        if self.max is not None:
            cond = cond | (col > literal(self.max, dtype))
        return reject(lf.with_columns(col.alias(snap(self.index))), self.index, cond)

    def reason(self, schema: Mapping[str, pl.DataType]) -> pl.Expr:
        value = _value(self.column, schema, self.index)
        if self.min is None:
            return pl.concat_str(value, pl.lit(f" is above max {self.max}"))
        below = pl.concat_str(value, pl.lit(f" is below min {self.min}"))
        if self.max is None:
            return below
        dtype = schema[snap(self.index)]
        return (
            pl.when(pl.col(snap(self.index)) < literal(self.min, dtype))
            .then(below)
            .otherwise(pl.concat_str(value, pl.lit(f" is above max {self.max}")))
        )


@dataclass(frozen=True)
class Allowed(_OneColumn):
    kind: ClassVar[str] = "allowed"
    keys: ClassVar[frozenset[str]] = frozenset({"column", "values"})
    example: ClassVar[str] = "{rule: allowed, column: country, values: [FR, DE]}"

    column: str
    values: tuple[Any, ...]

    @classmethod
    def parse(cls, spec: Spec, schema: Schema | None, index: int) -> Rule:
        column, values = spec.need("column"), spec.need("values")
        check_columns(spec, schema, (column,))
        if not isinstance(values, list | tuple) or not values:
            raise spec.error("`values` must be a non-empty list")
        if schema is not None:
            from loopline.clean._spec import _dtype

            try:
                pl.Series(list(values)).cast(_dtype(schema[column]), strict=True)
            except (pl.exceptions.PolarsError, TypeError, ValueError) as exc:
                raise spec.error(
                    f"values {list(values)!r} do not fit {schema[column]} column {column!r}"
                ) from exc
        return cls(column, tuple(values), name=spec.get("name"), index=index)

    def step(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        dtype = lf.collect_schema()[self.column]
        col = pl.col(self.column)
        target = pl.String() if dtype == pl.Categorical else dtype
        allowed = pl.Series(list(self.values)).cast(target).implode()
        cond = col.is_not_null() & ~col.cast(target).is_in(allowed)
        return reject(lf.with_columns(col.alias(snap(self.index))), self.index, cond)

    def reason(self, schema: Mapping[str, pl.DataType]) -> pl.Expr:
        shown = ", ".join(str(v) for v in self.values[:10]) + (", …" if len(self.values) > 10 else "")
        return pl.concat_str(_value(self.column, schema, self.index), pl.lit(f" is not one of {shown}"))


@dataclass(frozen=True)
class Regex(_OneColumn):
    kind: ClassVar[str] = "regex"
    keys: ClassVar[frozenset[str]] = frozenset({"column", "pattern"})
    example: ClassVar[str] = "{rule: regex, column: email, pattern: '^[^@]+@[^@]+$'}"

    column: str
    pattern: str

    @classmethod
    def parse(cls, spec: Spec, schema: Schema | None, index: int) -> Rule:
        column = spec.need("column")
        check_columns(spec, schema, (column,))
        check_text(spec, schema, column)
        return cls(column, check_regex(spec, spec.need("pattern")), name=spec.get("name"), index=index)

    def step(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        col = pl.col(self.column)
        cond = col.is_not_null() & ~col.str.contains(self.pattern)
        return reject(lf.with_columns(col.alias(snap(self.index))), self.index, cond)

    def reason(self, schema: Mapping[str, pl.DataType]) -> pl.Expr:
        return pl.concat_str(
            _value(self.column, schema, self.index), pl.lit(f" does not match {self.pattern!r}")
        )


@dataclass(frozen=True)
class Outliers(_OneColumn):
    kind: ClassVar[str] = "outliers"
    keys: ClassVar[frozenset[str]] = frozenset({"column", "method", "k", "threshold"})
    example: ClassVar[str] = "{rule: outliers, column: amount, method: iqr, k: 1.5}"

    column: str
    method: str = "iqr"
    k: float = 1.5
    threshold: float = 3.0
    bounds: tuple[float, float] | None = None  # bound: IQR fence, or (mean, std) for zscore

    @classmethod
    def parse(cls, spec: Spec, schema: Schema | None, index: int) -> Rule:
        column, method = spec.need("column"), spec.get("method", "iqr")
        check_columns(spec, schema, (column,))
        if schema is not None and not is_numeric(schema[column]):
            raise spec.error(f"column {column!r} is {schema[column]}, not a number")
        if method not in ("iqr", "zscore"):
            raise spec.error(f"method {method!r} is not iqr or zscore")
        k, threshold = spec.number("k", 1.5), spec.number("threshold", 3.0)
        if (k or 0) <= 0 or (threshold or 0) <= 0:
            raise spec.error("`k` and `threshold` must be positive")
        return cls(
            column, method, float(k or 1.5), float(threshold or 3.0), name=spec.get("name"), index=index
        )

    def needs_stats(self) -> bool:
        return self.bounds is None

    def stat_columns(self, data_columns: list[str]) -> list[str]:
        return [self.column]

    def bind(self, rows: pl.DataFrame) -> tuple[Rule, dict[str, Any]]:
        values = rows[self.column].drop_nulls().cast(pl.Float64).rechunk()  # one chunk, as for a sum
        if self.method == "iqr":
            q1, q3 = values.quantile(0.25, "linear"), values.quantile(0.75, "linear")
            bounds = (
                (q1 - self.k * (q3 - q1), q3 + self.k * (q3 - q1))
                if q1 is not None and q3 is not None
                else None
            )
            extra: dict[str, Any] = {"fence": list(bounds) if bounds else None}
        else:
            mean, std = values.mean(), values.std()  # floats (a Float64 column) or None (no values)
            bounds = (mean, std) if isinstance(mean, float) and isinstance(std, float) and std else None
            extra = {"mean": mean, "std": std}
        return replace(self, bounds=bounds or (float("nan"), float("nan"))), extra

    def _z(self, col: pl.Expr) -> pl.Expr:
        assert self.bounds is not None
        return ((col.cast(pl.Float64) - self.bounds[0]) / self.bounds[1]).abs()

    def step(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        assert self.bounds is not None, "outliers rule run before its statistics were bound"
        col = pl.col(self.column)
        if self.bounds[0] != self.bounds[0]:  # no figures (no values): nothing is an outlier
            return lf.with_columns(col.alias(snap(self.index)))
        if self.method == "iqr":
            cond = (col < self.bounds[0]) | (col > self.bounds[1])
        else:
            cond = self._z(col) > self.threshold
        return reject(lf.with_columns(col.alias(snap(self.index))), self.index, cond)

    def reason(self, schema: Mapping[str, pl.DataType]) -> pl.Expr:
        assert self.bounds is not None
        value = _value(self.column, schema, self.index)
        if self.method == "iqr":
            lo, hi = self.bounds
            return pl.concat_str(value, pl.lit(f" is outside the IQR fence [{lo:.6g}, {hi:.6g}]"))
        z = self._z(pl.col(snap(self.index))).round(2).cast(pl.String)
        tail = f" standard deviations from the mean {self.bounds[0]:.6g} (over {self.threshold:g})"
        return pl.concat_str(value, pl.lit(" is "), z, pl.lit(tail))


def _fingerprint(rows: pl.DataFrame, keys: list[str]) -> pl.Expr:
    """Equal keys give equal fingerprints (distinct keys may too: candidates are checked). A
    single integer key is its own fingerprint (ids are often near sorted, and sort fastest so)."""
    if len(keys) == 1 and rows.schema[keys[0]].is_integer():
        return pl.col(keys[0]).fill_null(0)
    return (pl.col(keys[0]) if len(keys) == 1 else pl.struct(keys)).hash(seed=0)


def _repeated(hashes: pl.Series) -> pl.Series:
    """The positions of the fingerprints (never null) that occur more than once. Integers
    spanning fewer than twice as many values as there are rows (serial ids) are counted in one
    pass, which takes a fraction of the time of a sort; others are sorted."""
    low, high = hashes.min(), hashes.max()
    if (
        hashes.dtype == pl.Int64
        and isinstance(low, int)
        and isinstance(high, int)
        and high - low < 2 * len(hashes)
    ):
        offsets = hashes.to_numpy(writable=True)
        offsets -= low
        return pl.Series(np.flatnonzero((np.bincount(offsets) > 1)[offsets]))
    ordered = hashes.sort()
    return hashes.is_in(ordered.filter(ordered == ordered.shift(1)).implode()).arg_true()


def duplicates(rows: pl.DataFrame, keys: list[str], first: str) -> pl.DataFrame:
    """Each row (`__ll_row`) whose key appeared in an earlier row, and that earlier row.

    A fingerprint of the key finds the candidates: counting dense integers, or sorting 8-byte
    hashes and comparing neighbours, is much faster than sorting the keys themselves (strings
    above all) or hashing into a table (`is_duplicated`, `is_first_distinct`: 3 to 5 times slower
    than the sort here).
    Equal keys always hash alike (Polars folds -0.0 into 0.0 and every NaN into one), so no
    duplicate is missed; the verdict on the few candidates is then taken on the real values
    (a stable sort brings equal keys together in row order, each run points at its head), so a
    hash collision never makes a duplicate."""
    hashes = rows.select(_fingerprint(rows, keys)).to_series()
    candidates = rows.select(*keys, ROW)[_repeated(hashes)]
    same = pl.all_horizontal(
        pl.int_range(pl.len()) > 0, *(pl.col(k).eq_missing(pl.col(k).shift(1)) for k in keys)
    )
    return (
        candidates.lazy()
        .sort(keys, maintain_order=True, nulls_last=True)
        .with_columns(same.alias(f"{PREFIX}same"))
        .with_columns(pl.when(~pl.col(f"{PREFIX}same")).then(pl.col(ROW)).forward_fill().alias(first))
        .filter(pl.col(f"{PREFIX}same"))
        .select(ROW, first)
        .sort(ROW)
        .collect()
    )


@dataclass(frozen=True)
class Dedupe(Rule):
    kind: ClassVar[str] = "dedupe"
    keys: ClassVar[frozenset[str]] = frozenset({"key"})
    example: ClassVar[str] = "{rule: dedupe, key: [id]}"

    key: tuple[str, ...] | None = None
    duplicates: pl.DataFrame | None = None  # bound: row -> the row it duplicates

    @classmethod
    def parse(cls, spec: Spec, schema: Schema | None, index: int) -> Rule:
        key = spec.get("key")
        if key is not None:
            key = (key,) if isinstance(key, str) else key
            if not isinstance(key, list | tuple) or not key or not all(isinstance(k, str) for k in key):
                raise spec.error("`key` must be a column name or a list of names")
            check_columns(spec, schema, tuple(key))
        return cls(tuple(key) if key else None, name=spec.get("name"), index=index)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.kind,
            **({"key": list(self.key)} if self.key else {}),
            **({"name": self.name} if self.name else {}),
        }

    def uses(self) -> tuple[str, ...] | None:
        return self.key

    def rewrites(self) -> tuple[str, ...] | None:
        return ()

    def needs_stats(self) -> bool:
        return self.duplicates is None

    def stat_columns(self, data_columns: list[str]) -> list[str]:
        return [*(self.key or data_columns), ROW]

    def bind(self, rows: pl.DataFrame) -> tuple[Rule, dict[str, Any]]:
        keys = list(self.key or [c for c in rows.columns if c != ROW])
        return replace(self, duplicates=duplicates(rows, keys, f"{PREFIX}d{self.index}")), {}

    def step(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        assert self.duplicates is not None, "dedupe run before duplicates were found"
        return reject(lf, self.index, pl.col(ROW).is_in(self.duplicates[ROW].implode()))

    def lookup(self) -> pl.DataFrame | None:
        return self.duplicates

    def reason(self, schema: Mapping[str, pl.DataType]) -> pl.Expr:
        return pl.concat_str(pl.lit("duplicate of row "), pl.col(f"{PREFIX}d{self.index}").cast(pl.String))


@dataclass(frozen=True)
class Filter(Rule):
    kind: ClassVar[str] = "filter"
    keys: ClassVar[frozenset[str]] = frozenset({"keep", "reason"})
    example: ClassVar[str] = "{rule: filter, keep: \"country <> 'XX'\"}"

    keep: Any
    why: str | None = None

    @classmethod
    def parse(cls, spec: Spec, schema: Schema | None, index: int) -> Rule:
        sql(spec, "keep", schema)
        return cls(spec.need("keep"), spec.get("reason"), name=spec.get("name"), index=index)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.kind,
            "keep": self.keep,
            **{k: v for k, v in (("reason", self.why), ("name", self.name)) if v},
        }

    def uses(self) -> tuple[str, ...] | None:
        return _roots(self.keep)

    def rewrites(self) -> tuple[str, ...] | None:
        return ()

    def step(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        keep = self.keep if isinstance(self.keep, pl.Expr) else pl.sql_expr(self.keep)
        return reject(lf, self.index, ~keep.fill_null(False))

    def reason(self, schema: Mapping[str, pl.DataType]) -> pl.Expr:
        return pl.lit(self.why or f"filtered out: not ({fmt(self.keep).strip(chr(39))})")


@dataclass(frozen=True)
class Expression(Rule):
    kind: ClassVar[str] = "expression"
    keys: ClassVar[frozenset[str]] = frozenset({"fail", "reason"})
    example: ClassVar[str] = '{rule: expression, fail: "amount < 0", reason: "negative amount"}'

    fail: Any
    why: str | None = None

    @classmethod
    def parse(cls, spec: Spec, schema: Schema | None, index: int) -> Rule:
        sql(spec, "fail", schema)
        return cls(spec.need("fail"), spec.get("reason"), name=spec.get("name"), index=index)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.kind,
            "fail": self.fail,
            **{k: v for k, v in (("reason", self.why), ("name", self.name)) if v},
        }

    def uses(self) -> tuple[str, ...] | None:
        return _roots(self.fail)

    def rewrites(self) -> tuple[str, ...] | None:
        return ()

    def step(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        fail = self.fail if isinstance(self.fail, pl.Expr) else pl.sql_expr(self.fail)
        return reject(lf, self.index, fail)

    def reason(self, schema: Mapping[str, pl.DataType]) -> pl.Expr:
        return pl.lit(self.why or f"failed: {fmt(self.fail).strip(chr(39))}")
