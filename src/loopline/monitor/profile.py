"""Reference profiles: what monitoring keeps of the training data, so it never reads it again.

A numeric column keeps a quantile sketch (1,001 evenly spaced quantiles, linear interpolation:
the reference CDF is known to within 0.1 % everywhere, enough for a KS test whose critical
distance at 100,000 rows is 0.6 %), the mean of each thousandth (for the Wasserstein distance),
counts in 20 equal-frequency bins (for PSI and
Jensen-Shannon), its null count, min, max, mean and standard deviation. A categorical column
(strings, booleans, and numbers with at most 20 distinct values: a KS test on a step-shaped CDF
is wrong, a chi-square test is right) keeps its category counts (the 1,000 most frequent, the
rest summed as `other`). A profile is a few hundred kilobytes whatever the table's size.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import polars as pl

QUANTILES = 1001
BINS = 20
MAX_CATEGORIES = 1000
DISCRETE_MAX = 20
PROBS = np.linspace(0.0, 1.0, QUANTILES)

Kind = Literal["numeric", "categorical"]


@dataclass
class ColumnProfile:
    name: str
    kind: Kind
    dtype: str
    count: int  # non-null values
    nulls: int
    minimum: float | None = None
    maximum: float | None = None
    mean: float | None = None
    std: float | None = None
    quantiles: list[float] = field(default_factory=list)
    slice_means: list[float] = field(default_factory=list)  # mean of each 1/1000 of the sorted values
    edges: list[float] = field(default_factory=list)  # inner bin edges; bins are (-inf, e0], ..., (ek, inf)
    bin_counts: list[int] = field(default_factory=list)
    categories: dict[str, int] = field(default_factory=dict)
    other: int = 0  # values beyond the MAX_CATEGORIES most frequent

    @property
    def null_rate(self) -> float:
        total = self.count + self.nulls
        return self.nulls / total if total else 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ColumnProfile:
        return cls(**dict(data))


@dataclass
class Profile:
    rows: int
    columns: dict[str, ColumnProfile]
    prediction: ColumnProfile | None = None
    source: dict[str, Any] = field(default_factory=dict)  # where it came from (table id, label column)

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "columns": {n: c.to_json() for n, c in self.columns.items()},
            "prediction": self.prediction.to_json() if self.prediction else None,
            "source": self.source,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Profile:
        prediction = data.get("prediction")
        return cls(
            rows=int(data["rows"]),
            columns={n: ColumnProfile.from_json(c) for n, c in data["columns"].items()},
            prediction=ColumnProfile.from_json(prediction) if prediction else None,
            source=dict(data.get("source") or {}),
        )


def is_numeric(dtype: pl.DataType) -> bool:
    return dtype.is_numeric() and dtype != pl.Boolean


def is_profiled(dtype: pl.DataType) -> bool:
    """Numbers, booleans and text; lists, structs, binary and times are not compared."""
    return dtype.is_numeric() or dtype in (pl.Boolean, pl.Utf8, pl.Categorical) or isinstance(dtype, pl.Enum)


def as_categories(series: pl.Series) -> pl.Series:
    """Values as category strings, so training ints and logged floats agree (1 and 1.0 are "1")."""
    if is_numeric(series.dtype):
        values = series.cast(pl.Float64)
        frame = pl.DataFrame({"v": values})
        return frame.select(
            pl.when(pl.col("v") == pl.col("v").round(0))
            .then(pl.col("v").cast(pl.Int64, strict=False).cast(pl.Utf8))
            .otherwise(pl.col("v").cast(pl.Utf8))
            .alias(series.name)
        ).to_series()
    return series.cast(pl.Utf8)


def numeric_values(series: pl.Series) -> np.ndarray:
    """The non-null, finite values as float64, sorted (one sort serves quantiles, bins and KS)."""
    values = series.cast(pl.Float64).drop_nulls().to_numpy()
    values = values[np.isfinite(values)]
    values.sort()
    return values


def sketch(sorted_values: np.ndarray) -> np.ndarray:
    """The QUANTILES evenly spaced quantiles of sorted values (linear interpolation, as NumPy's
    default), computed on the already sorted array."""
    n = sorted_values.size
    position = PROBS * (n - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, n - 1)
    weight = position - low
    below, above = sorted_values[low], sorted_values[high]
    # exactly the value where both neighbours agree: 0.3 * 0.7 + 0.3 * 0.3 is not 0.3 in floats
    return np.where(below == above, below, below * (1 - weight) + above * weight)


def slice_means(sorted_values: np.ndarray, slices: int = QUANTILES - 1) -> np.ndarray:
    """The mean of each of `slices` equal shares of the sorted values (fractional rows split):
    the Wasserstein distance is the mean gap between two such vectors, exact as long as the two
    quantile functions do not cross inside a slice, and right in heavy tails, where quantiles
    alone would spread the last slice evenly between its two ends."""
    n = sorted_values.size
    cumulative = np.concatenate([[0.0], np.cumsum(sorted_values)])
    position = np.linspace(0.0, n, slices + 1)
    whole = np.minimum(np.floor(position).astype(np.int64), n - 1)
    partial = cumulative[whole] + (position - whole) * sorted_values[whole]
    return np.diff(partial) / (n / slices)


def bin_counts(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts in (-inf, e0], (e0, e1], ..., (ek, inf) of sorted values."""
    cuts = np.searchsorted(sorted_values, edges, side="right")
    return np.diff(np.concatenate([[0], cuts, [sorted_values.size]]))


def column_kind(series: pl.Series) -> Kind:
    if is_numeric(series.dtype) and series.drop_nulls().n_unique() > DISCRETE_MAX:
        return "numeric"
    return "categorical"


def profile_column(series: pl.Series, kind: Kind | None = None) -> ColumnProfile:
    kind = kind or column_kind(series)
    nulls = series.null_count()
    base = ColumnProfile(
        name=series.name, kind=kind, dtype=str(series.dtype), count=series.len() - nulls, nulls=nulls
    )
    if kind == "numeric":
        values = numeric_values(series)
        base.nulls += base.count - values.size  # NaN and infinities count as missing
        base.count = int(values.size)
        if values.size == 0:
            return base
        quantiles = sketch(values)
        edges = np.unique(quantiles[np.linspace(0, QUANTILES - 1, BINS + 1).astype(int)[1:-1]])
        base.minimum, base.maximum = float(values[0]), float(values[-1])
        base.mean, base.std = float(values.mean()), float(values.std())
        base.quantiles = quantiles.tolist()
        base.slice_means = slice_means(values).tolist()
        base.edges = edges.tolist()
        base.bin_counts = bin_counts(values, edges).tolist()
        return base
    counts = as_categories(series).drop_nulls().value_counts(sort=True)
    names, numbers = counts.columns
    top = counts.head(MAX_CATEGORIES)
    base.categories = dict(zip(top[names].to_list(), top[numbers].to_list(), strict=True))
    base.other = int(counts[numbers].sum()) - sum(base.categories.values())
    return base


def build_profile(
    frame: pl.DataFrame,
    columns: Iterable[str] | None = None,
    *,
    prediction: pl.Series | None = None,
    source: Mapping[str, Any] | None = None,
) -> Profile:
    """The profile of the named columns of a (training) table, and of its label or prediction
    column when given: the reference every monitoring window is compared with."""
    names = [n for n in (columns if columns is not None else frame.columns) if is_profiled(frame.schema[n])]
    return Profile(
        rows=frame.height,
        columns={name: profile_column(frame[name]) for name in names},
        prediction=profile_column(prediction.alias("prediction"))
        if prediction is not None and is_profiled(prediction.dtype)
        else None,
        source=dict(source or {}),
    )
