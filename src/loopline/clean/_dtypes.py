"""Type names as users write them in loopline.yaml, and as artifact schemas record them.

Schemas arrive as strings (`str(dtype)`, e.g. "Int64", "Datetime(time_unit='us', time_zone=None)")
because preflight checks run on recorded metadata, before any data is read; so classification
works on those strings.
"""

from __future__ import annotations

import polars as pl

from loopline.core.errors import ConfigError

_NAMES: dict[str, pl.DataType] = {
    **{f"int{b}": getattr(pl, f"Int{b}")() for b in (8, 16, 32, 64)},
    **{f"uint{b}": getattr(pl, f"UInt{b}")() for b in (8, 16, 32, 64)},
    "float32": pl.Float32(),
    "float64": pl.Float64(),
    "float": pl.Float64(),
    "int": pl.Int64(),
    "string": pl.String(),
    "str": pl.String(),
    "utf8": pl.String(),
    "boolean": pl.Boolean(),
    "bool": pl.Boolean(),
    "date": pl.Date(),
    "datetime": pl.Datetime("us"),
    "time": pl.Time(),
    "categorical": pl.Categorical(),
}

TYPE_NAMES = (
    "Int8..Int64, UInt8..UInt64, Float32, Float64, String, Boolean, Date, Datetime, Time, Categorical"
)


def parse_dtype(name: object, where: str) -> pl.DataType:
    dtype = _NAMES.get(str(name).strip().lower()) if isinstance(name, str) else None
    if dtype is None:
        raise ConfigError(f"{where}: unknown type {name!r}", hint=f"types are {TYPE_NAMES}")
    return dtype


def is_numeric(dtype: str) -> bool:
    return dtype.startswith(("Int", "UInt", "Float", "Decimal"))


def is_temporal(dtype: str) -> bool:
    return dtype.startswith(("Date", "Datetime", "Time", "Duration"))


def is_text(dtype: str) -> bool:
    return dtype in ("String", "Utf8", "str")


def is_orderable(dtype: str) -> bool:
    return is_numeric(dtype) or is_temporal(dtype)


def article(name: str) -> str:
    return "an" if name[:1].lower() in "aeiou" else "a"


def schema_of(frame: pl.DataFrame | pl.LazyFrame) -> dict[str, str]:
    schema = frame.collect_schema() if isinstance(frame, pl.LazyFrame) else frame.schema
    return {name: str(dtype) for name, dtype in schema.items()}
