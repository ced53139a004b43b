"""Rules that change values: cast, trim, lowercase, uppercase, normalize, missing.

A cast that cannot convert a value rejects the row (the value is kept, quoted, in the reason);
`missing` drops, fills (a constant, or the median / mean / mode of the rows still clean) or flags.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import polars as pl

from loopline.clean._base import PREFIX, Rule, Schema, jsonable, reject, snap
from loopline.clean._dtypes import article, is_numeric, is_orderable, is_temporal, is_text, parse_dtype
from loopline.clean._spec import Spec, check_columns, check_text, show

_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")
_DATES = ("%Y-%m-%d",)
_DATETIMES = (
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d",
)
_TIMES = ("%H:%M:%S%.f", "%H:%M:%S", "%H:%M")


def _convert(expr: pl.Expr, source: pl.DataType, target: pl.DataType, fmt: str | None) -> pl.Expr:
    if source == target:  # already that type: nothing to convert, nothing copied
        return expr
    if source == pl.String:
        # Never Polars' format inference: it looks at the first value of each partition, so two
        # partitionings could read "01/02/2020" differently. ISO 8601 unless `format:` says.
        if target == pl.Date:
            return pl.coalesce(expr.str.to_date(f, strict=False) for f in ((fmt,) if fmt else _DATES))
        if isinstance(target, pl.Datetime):
            formats = (fmt,) if fmt else _DATETIMES
            return pl.coalesce(expr.str.to_datetime(f, strict=False, time_unit="us") for f in formats)
        if target == pl.Time:
            return pl.coalesce(expr.str.to_time(f, strict=False) for f in ((fmt,) if fmt else _TIMES))
        if target == pl.Boolean:
            low = expr.str.strip_chars().str.to_lowercase()
            return (
                pl.when(low.is_in(pl.Series(_TRUE).implode()))
                .then(True)
                .when(low.is_in(pl.Series(_FALSE).implode()))
                .then(False)
            )
    if source.is_float() and target.is_integer():  # 1.5 is not an integer: reject, never truncate
        return pl.when(expr == expr.round(0)).then(expr.cast(target, strict=False))
    return expr.cast(target, strict=False)


@dataclass(frozen=True)
class Cast(Rule):
    kind: ClassVar[str] = "cast"
    keys: ClassVar[frozenset[str]] = frozenset({"columns", "format"})
    example: ClassVar[str] = "{rule: cast, columns: {age: Int64, signup: Date}}"

    columns: Mapping[str, str]
    format: str | None = None
    typed: tuple[str, ...] = ()  # the columns already of their target type (a cast leaves them be)

    @classmethod
    def parse(cls, spec: Spec, schema: Schema | None, index: int) -> Rule:
        columns = spec.need("columns")
        if not isinstance(columns, Mapping) or not columns:
            raise spec.error("`columns` must map column names to types")
        check_columns(spec, schema, tuple(columns))
        targets = {c: parse_dtype(t, spec.label) for c, t in columns.items()}
        typed = []
        for column, target in targets.items():
            source = schema.get(column) if schema is not None else None
            if source and target.is_temporal() and not (is_text(source) or is_temporal(source)):
                raise spec.error(f"cannot read {source} column {column!r} as {target}")
            if source == str(target):
                typed.append(column)
            if schema is not None:
                schema[column] = str(target)
        return cls(
            {c: str(t) for c, t in targets.items()},
            spec.get("format"),
            tuple(typed),
            name=spec.get("name"),
            index=index,
        )

    def as_dict(self) -> dict[str, Any]:
        raw = {"columns": dict(self.columns), "format": self.format, "name": self.name}
        return {"rule": self.kind, **{k: v for k, v in raw.items() if v is not None}}

    def uses(self) -> tuple[str, ...] | None:
        return tuple(self.columns)

    def rewrites(self) -> tuple[str, ...] | None:
        return tuple(c for c in self.columns if c not in self.typed)

    def step(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        current = lf.collect_schema()
        targets = {c: parse_dtype(t, self.label) for c, t in self.columns.items()}
        # a column already of its type is left as it is: no copy, no flag, nothing to reject
        moved = {j: (c, t) for j, (c, t) in enumerate(targets.items()) if current[c] != t}
        if not moved:
            return lf
        lf = lf.with_columns(
            *(pl.col(c).alias(snap(self.index, j)) for j, (c, _) in moved.items()),
            *(_convert(pl.col(c), current[c], t, self.format).alias(c) for c, t in moved.values()),
        )
        flags = [
            (pl.col(snap(self.index, j)).is_not_null() & pl.col(c).is_null()).alias(
                f"{PREFIX}f{self.index}_{j}"
            )
            for j, (c, _) in moved.items()
        ]
        lf = lf.with_columns(flags)
        return reject(lf, self.index, pl.any_horizontal(pl.col(f.meta.output_name()) for f in flags))

    def reason(self, schema: Mapping[str, pl.DataType]) -> pl.Expr:
        chain: Any = pl
        for j, (column, target) in enumerate(self.columns.items()):
            if f"{PREFIX}f{self.index}_{j}" not in schema:
                continue  # a column already of its type: never the reason
            value = show(pl.col(snap(self.index, j)), schema[snap(self.index, j)])
            chain = chain.when(pl.col(f"{PREFIX}f{self.index}_{j}")).then(
                pl.concat_str(pl.lit(f"{column}: "), value, pl.lit(f" is not {article(target)} {target}"))
            )
        if chain is pl:
            return pl.lit(f"cast failed ({self.label})")
        return chain.otherwise(pl.lit(f"cast failed ({self.label})"))


@dataclass(frozen=True)
class _Text(Rule):
    """Shared by the rules that rewrite text columns in place."""

    keys: ClassVar[frozenset[str]] = frozenset({"columns", "column"})

    columns: tuple[str, ...]

    def rejects(self) -> bool:
        return False

    def uses(self) -> tuple[str, ...] | None:
        return self.columns

    def rewrites(self) -> tuple[str, ...] | None:
        return self.columns

    @classmethod
    def parse(cls, spec: Spec, schema: Schema | None, index: int) -> Rule:
        columns = spec.columns()
        check_columns(spec, schema, columns)
        for column in columns:
            check_text(spec, schema, column)
        return cls._make(spec, columns, index)

    @classmethod
    def _make(cls, spec: Spec, columns: tuple[str, ...], index: int) -> Rule:
        return cls(columns, name=spec.get("name"), index=index)

    def rewrite(self, expr: pl.Expr) -> pl.Expr:
        raise NotImplementedError

    def step(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        return lf.with_columns(self.rewrite(pl.col(c)).alias(c) for c in self.columns)


@dataclass(frozen=True)
class Trim(_Text):
    kind: ClassVar[str] = "trim"
    keys: ClassVar[frozenset[str]] = frozenset({"columns", "column", "chars"})
    example: ClassVar[str] = "{rule: trim, columns: [name, email]}"

    chars: str | None = None

    @classmethod
    def _make(cls, spec: Spec, columns: tuple[str, ...], index: int) -> Rule:
        return cls(columns, spec.get("chars"), name=spec.get("name"), index=index)

    def rewrite(self, expr: pl.Expr) -> pl.Expr:
        return expr.str.strip_chars(self.chars)


@dataclass(frozen=True)
class Lowercase(_Text):
    kind: ClassVar[str] = "lowercase"
    example: ClassVar[str] = "{rule: lowercase, columns: [email]}"

    def rewrite(self, expr: pl.Expr) -> pl.Expr:
        return expr.str.to_lowercase()


@dataclass(frozen=True)
class Uppercase(_Text):
    kind: ClassVar[str] = "uppercase"
    example: ClassVar[str] = "{rule: uppercase, columns: [country]}"

    def rewrite(self, expr: pl.Expr) -> pl.Expr:
        return expr.str.to_uppercase()


@dataclass(frozen=True)
class Normalize(_Text):
    """Unicode NFKC (full-width letters, ligatures, non-breaking spaces), inner runs of
    whitespace collapsed to one space, ends trimmed."""

    kind: ClassVar[str] = "normalize"
    example: ClassVar[str] = "{rule: normalize, columns: [name]}"

    def rewrite(self, expr: pl.Expr) -> pl.Expr:
        return expr.str.normalize("NFKC").str.replace_all(r"\s+", " ").str.strip_chars()


_STATS = ("median", "mean", "mode")


@dataclass(frozen=True)
class Missing(Rule):
    kind: ClassVar[str] = "missing"
    keys: ClassVar[frozenset[str]] = frozenset({"column", "columns", "action", "with", "value", "as"})
    example: ClassVar[str] = "{rule: missing, column: age, action: fill, with: median}"

    columns: tuple[str, ...]
    action: str = "drop"
    with_: str | None = None
    value: Any = None
    as_: str | None = None
    fills: tuple[Any, ...] | None = None  # bound: one fill value per column

    @classmethod
    def parse(cls, spec: Spec, schema: Schema | None, index: int) -> Rule:
        columns = spec.columns()
        check_columns(spec, schema, columns)
        action = spec.get("action", "drop")
        if action not in ("drop", "fill", "flag"):
            raise spec.error(f"action {action!r} is not drop, fill or flag")
        how, value = spec.get("with"), spec.get("value")
        if action == "fill":
            if (how is None) == (value is None):
                raise spec.error("fill needs `with: median|mean|mode` or `value: CONSTANT` (one of them)")
            if how is not None and how not in _STATS:
                raise spec.error(
                    f"`with: {how}` is not median, mean or mode", "for a constant write `value: 0`"
                )
            for column, dtype in ((c, schema[c]) for c in columns) if schema is not None else ():
                if how in ("median", "mean") and not is_orderable(dtype):
                    raise spec.error(f"{how} of {dtype} column {column!r} is undefined", "use mode or value")
                if value is not None:
                    _constant(spec, value, dtype, column)
        elif how is not None or value is not None:
            raise spec.error(f"`with`/`value` only apply to action: fill, not {action}")
        flag = spec.get("as")
        if flag is not None and (action != "flag" or len(columns) != 1 or not isinstance(flag, str)):
            raise spec.error("`as: NAME` names the flag column of one column with action: flag")
        if action == "flag" and schema is not None:
            for column in columns:
                target = flag or f"{column}_missing"
                if target in schema:
                    raise spec.error(f"flag column {target!r} exists already", "name it with `as: NAME`")
                schema[target] = "Boolean"
        return cls(columns, action, how, value, flag, name=spec.get("name"), index=index)

    def as_dict(self) -> dict[str, Any]:
        raw = {"columns": list(self.columns), "action": self.action, "with": self.with_}
        raw |= {"value": self.value, "as": self.as_, "name": self.name}
        return {"rule": self.kind, **{k: v for k, v in raw.items() if v is not None}}

    def rejects(self) -> bool:
        return self.action == "drop"

    def uses(self) -> tuple[str, ...] | None:
        return self.columns  # a flag column is new: it is made in the passes

    def rewrites(self) -> tuple[str, ...] | None:
        return self.columns if self.action == "fill" else ()

    def needs_stats(self) -> bool:
        return self.action == "fill" and self.with_ is not None and self.fills is None

    def stat_columns(self, data_columns: list[str]) -> list[str]:
        return list(self.columns)

    def bind(self, rows: pl.DataFrame) -> tuple[Rule, dict[str, Any]]:
        fills = tuple(_statistic(rows[c], str(self.with_)) for c in self.columns)
        extra = {
            "filled": {c: rows[c].null_count() for c in self.columns},
            "values": {c: jsonable(v) for c, v in zip(self.columns, fills, strict=True)},
        }
        return Missing(
            self.columns,
            self.action,
            self.with_,
            self.value,
            self.as_,
            fills,
            name=self.name,
            index=self.index,
        ), extra

    def step(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        if self.action == "flag":
            return lf.with_columns(
                pl.col(c).is_null().alias(self.as_ or f"{c}_missing") for c in self.columns
            )
        if self.action == "fill":
            current = lf.collect_schema()
            fills = self.fills if self.fills is not None else (self.value,) * len(self.columns)
            return lf.with_columns(
                pl.col(c).fill_null(pl.lit(v).cast(current[c])) if v is not None else pl.col(c)
                for c, v in zip(self.columns, fills, strict=True)
            )
        lf = lf.with_columns(
            pl.col(c).is_null().alias(snap(self.index, j)) for j, c in enumerate(self.columns)
        )
        return reject(
            lf, self.index, pl.any_horizontal(snap(self.index, j) for j in range(len(self.columns)))
        )

    def reason(self, schema: Mapping[str, pl.DataType]) -> pl.Expr:
        chain: Any = pl
        for j, column in enumerate(self.columns):
            chain = chain.when(pl.col(snap(self.index, j))).then(pl.lit(f"{column} is missing"))
        return chain.otherwise(pl.lit("missing value"))


def _constant(spec: Spec, value: Any, dtype: str, column: str) -> None:
    from loopline.clean._spec import _dtype

    try:
        pl.Series([value]).cast(_dtype(dtype), strict=True)
    except (pl.exceptions.PolarsError, TypeError, ValueError) as exc:
        raise spec.error(f"value {value!r} cannot fill {dtype} column {column!r}") from exc


def _statistic(series: pl.Series, how: str) -> Any:
    values = series.drop_nulls().rechunk()  # one chunk: a float sum over several depends on the cuts
    if values.is_empty():
        return None
    if how == "mode":  # the most frequent value; ties go to the smallest, so it is deterministic
        counts = values.value_counts(name="__n").sort(["__n", series.name], descending=[True, False])
        return counts[series.name][0]
    result = values.median() if how == "median" else values.mean()
    if is_numeric(str(series.dtype)) and series.dtype.is_integer() and isinstance(result, float):
        return round(result)
    return result
