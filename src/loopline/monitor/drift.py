"""Drift of a production window against a reference profile, column by column.

The decision is a hypothesis test (two-sample Kolmogorov-Smirnov for numeric columns, the
chi-square test of homogeneity for categorical ones), corrected for testing many columns at
once; PSI, Jensen-Shannon distance and Wasserstein distance are reported beside it as effect
sizes (and PSI can be required as well: `min_psi`). Why a test and not Evidently's fixed
distance thresholds: a fixed Wasserstein or Jensen-Shannon cut-off of 0.1 misses a small mean
shift in 100,000 rows that a test sees at p < 1e-10, and says nothing about how sure it is.

Why Holm (Bonferroni step-down) by default, not Benjamini-Hochberg: a drift report is read
column by column, and a flag sends someone to look at that column (and may trigger retraining),
so what matters is the chance of any false flag, the family-wise error, which Holm keeps under
alpha whatever the number of drifted columns. BH controls only the expected share of false
flags among the flagged, and it loosens exactly when real drift is present: with 5 columns
truly moved out of 25, its sixth threshold is 6/25 x alpha = 0.012, so an unmoved column at
p = 0.0099 is flagged (this happened on the 100,000-row benchmark; SciPy's own KS p-value for
that column is 0.0085). Holm tests that column at alpha/20 = 0.0025. Holm is uniformly more
powerful than plain Bonferroni with the same guarantee, and on windows of thousands of rows the
shifts worth a look have p-values far below alpha/m. `correction: bh` suits very wide tables
(hundreds of features) where a few false flags are an acceptable price for power;
`bonferroni` and `none` are there too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import polars as pl
from scipy import stats
from scipy.spatial import distance

from loopline.monitor.profile import (
    PROBS,
    ColumnProfile,
    as_categories,
    bin_counts,
    numeric_values,
    slice_means,
)

Correction = Literal["holm", "bh", "bonferroni", "none"]
_EPS = 1e-4  # proportions are clipped here before PSI's logarithm


@dataclass
class ColumnDrift:
    name: str
    kind: str
    test: str  # "ks" or "chi2"
    statistic: float | None
    p_value: float | None
    p_adjusted: float | None = None
    drifted: bool = False
    psi: float | None = None
    jensen_shannon: float | None = None
    wasserstein: float | None = None  # numeric only, in the column's units
    wasserstein_normed: float | None = None  # divided by the reference standard deviation
    rows: int = 0
    reference: list[float] | None = None  # bin or category proportions, for the plots
    current: list[float] | None = None
    labels: list[str] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def reference_cdf(profile: ColumnProfile) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Knots of the reference CDF from the sketch: each distinct quantile value u with the lowest
    and highest probability it holds (lo < hi where the data has a mass point at u: the CDF
    jumps there). Between knots the CDF runs linearly from one knot's hi to the next one's lo."""
    values = np.asarray(profile.quantiles)
    knots, first = np.unique(values, return_index=True)
    _, last = np.unique(values[::-1], return_index=True)
    return knots, PROBS[first], PROBS[::-1][last]


def _cdf(knots: np.ndarray, lo: np.ndarray, hi: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The reference CDF at x and just left of x."""
    i = np.searchsorted(knots, x, side="right") - 1
    inside = (i >= 0) & (i < knots.size - 1)
    j = np.clip(i, 0, knots.size - 1)
    k = np.clip(i + 1, 0, knots.size - 1)
    span = np.where(inside, knots[k] - knots[j], 1.0)
    between = hi[j] + (lo[k] - hi[j]) * np.where(inside, (x - knots[j]) / span, 0.0)
    at_knot = (i >= 0) & (knots[j] == x)
    right = np.where(i < 0, 0.0, np.where(at_knot, hi[j], np.where(inside, between, 1.0)))
    left = np.where(at_knot, lo[j], right)
    return right, left


def ks_sketch(profile: ColumnProfile, current: np.ndarray) -> tuple[float, float]:
    """Two-sample KS distance between the sketched reference and sorted current values: the
    supremum is taken at every current value and every knot, from the left and from the right,
    which is exact for the sketched reference CDF (ties and mass points included). The p-value is
    SciPy's asymptotic one for (reference rows, current rows), as
    `scipy.stats.ks_2samp(method="asymp")` computes it."""
    knots, lo, hi = reference_cdf(profile)
    n = current.size
    ref_right, ref_left = _cdf(knots, lo, hi, current)
    cur_right = np.searchsorted(current, current, side="right") / n
    cur_left = np.searchsorted(current, current, side="left") / n
    knot_right = np.searchsorted(current, knots, side="right") / n
    knot_left = np.searchsorted(current, knots, side="left") / n
    distance_ = max(
        float(np.max(np.abs(cur_right - ref_right))),
        float(np.max(np.abs(cur_left - ref_left))),
        float(np.max(np.abs(knot_right - hi))),
        float(np.max(np.abs(knot_left - lo))),
    )
    m, k = sorted([float(profile.count), float(n)], reverse=True)
    effective = np.round(m * k / (m + k))
    return distance_, float(stats.kstwo.sf(distance_, effective))


def chi2_homogeneity(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Pearson's chi-square test that two count vectors come from one distribution (no Yates
    correction), as `scipy.stats.chi2_contingency([reference, current], correction=False)`."""
    keep = (reference + current) > 0
    table = np.vstack([reference[keep], current[keep]]).astype(float)
    if table.shape[1] < 2 or table[0].sum() == 0 or table[1].sum() == 0:
        return 0.0, 1.0
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    statistic = float(((table - expected) ** 2 / expected).sum())
    return statistic, float(stats.chi2.sf(statistic, table.shape[1] - 1))


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    r = np.clip(reference / max(reference.sum(), 1), _EPS, None)
    c = np.clip(current / max(current.sum(), 1), _EPS, None)
    return float(np.sum((c - r) * np.log(c / r)))


def jensen_shannon(reference: np.ndarray, current: np.ndarray) -> float:
    if reference.sum() == 0 or current.sum() == 0:
        return 0.0
    return float(distance.jensenshannon(reference, current, base=2))


def wasserstein_sketch(profile: ColumnProfile, current: np.ndarray) -> float:
    """W1 = the integral over u of |F_ref^-1(u) - F_cur^-1(u)|: the mean gap between the two
    vectors of slice means (see profile.slice_means)."""
    return float(np.mean(np.abs(np.asarray(profile.slice_means) - slice_means(current))))


def adjust(p_values: Sequence[float], correction: Correction) -> list[float]:
    """Adjusted p-values: Holm (step-down Bonferroni), Benjamini-Hochberg (step-up),
    Bonferroni, or none. A column is flagged when its adjusted p-value is under alpha."""
    p = np.asarray(p_values, dtype=float)
    m = p.size
    if m == 0 or correction == "none":
        return p.tolist()
    if correction == "bonferroni":
        return np.minimum(p * m, 1.0).tolist()
    order = np.argsort(p)
    if correction == "holm":
        stepped = np.maximum.accumulate(p[order] * (m - np.arange(m)))
        out = np.empty(m)
        out[order] = np.minimum(stepped, 1.0)
        return out.tolist()
    scaled = p[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out.tolist()


def column_drift(profile: ColumnProfile, series: pl.Series) -> ColumnDrift:
    """One column's test and effect sizes (not yet corrected: see `drift`)."""
    if profile.kind == "numeric":
        values = numeric_values(series)
        result = ColumnDrift(profile.name, "numeric", "ks", None, None, rows=int(values.size))
        if values.size == 0 or not profile.quantiles:
            return result
        result.statistic, result.p_value = ks_sketch(profile, values)
        edges = np.asarray(profile.edges)
        ref_bins = np.asarray(profile.bin_counts, dtype=float)
        cur_bins = bin_counts(values, edges).astype(float)
        result.wasserstein = wasserstein_sketch(profile, values)
        if profile.std:
            result.wasserstein_normed = result.wasserstein / profile.std
        labels = [f"≤ {e:.4g}" for e in edges] + [f"> {edges[-1]:.4g}" if edges.size else "all"]
    else:
        categories = as_categories(series).drop_nulls()
        result = ColumnDrift(profile.name, "categorical", "chi2", None, None, rows=categories.len())
        if categories.len() == 0:
            return result
        counts = dict(categories.value_counts().iter_rows())
        labels = list(profile.categories)
        unseen = sorted(set(counts) - set(labels), key=lambda c: -counts[c])
        ref_bins = np.asarray([*profile.categories.values(), profile.other], dtype=float)
        cur_bins = np.asarray(
            [*(counts.get(c, 0) for c in labels), sum(counts[c] for c in unseen)], dtype=float
        )
        if profile.other == 0 and unseen:  # new categories: each its own cell, reference count 0
            ref_bins = np.concatenate([ref_bins[:-1], np.zeros(len(unseen))])
            cur_bins = np.concatenate([cur_bins[:-1], [counts[c] for c in unseen]])
            labels = [*labels, *unseen]
        else:
            labels = [*labels, "(other)"]
        result.statistic, result.p_value = chi2_homogeneity(ref_bins, cur_bins)
    result.psi = psi(ref_bins, cur_bins)
    result.jensen_shannon = jensen_shannon(ref_bins, cur_bins)
    result.labels = labels[:60]
    result.reference = (ref_bins / max(ref_bins.sum(), 1)).round(6).tolist()[:60]
    result.current = (cur_bins / max(cur_bins.sum(), 1)).round(6).tolist()[:60]
    return result


def drift(
    reference: Mapping[str, ColumnProfile],
    frame: pl.DataFrame,
    *,
    alpha: float = 0.05,
    correction: Correction = "holm",
    min_psi: float = 0.0,
    share: float = 0.0,
) -> dict[str, Any]:
    """Drift of every reference column present in the frame. A column drifted when its adjusted
    p-value is under alpha (and its PSI at least min_psi); the window drifted when the share of
    drifted columns is above `share` (0: any column)."""
    results = [column_drift(profile, frame[name]) for name, profile in reference.items() if name in frame]
    tested = [r for r in results if r.p_value is not None]
    p_values = [r.p_value for r in tested if r.p_value is not None]  # all of them: the filter above
    for r, p in zip(tested, adjust(p_values, correction), strict=True):
        r.p_adjusted = p
        r.drifted = p < alpha and (r.psi or 0.0) >= min_psi
    drifted = sum(r.drifted for r in results)
    ratio = drifted / len(tested) if tested else 0.0
    return {
        "columns": [r.to_json() for r in results],
        "tested": len(tested),
        "drifted_columns": drifted,
        "share": ratio,
        "drifted": drifted > 0 and ratio > share,
        "alpha": alpha,
        "correction": correction,
        "min_psi": min_psi,
        "share_threshold": share,
    }


def single_drift(
    profile: ColumnProfile | None, series: pl.Series | None, alpha: float
) -> dict[str, Any] | None:
    """Prediction drift: the one column, uncorrected."""
    if profile is None or series is None:
        return None
    result = column_drift(profile, series)
    result.p_adjusted = result.p_value
    result.drifted = result.p_value is not None and result.p_value < alpha
    return result.to_json()
