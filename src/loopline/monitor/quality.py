"""Data quality of a production window, measured against what training saw: missing columns,
null rates (now and then), values outside the training range, categories training never saw."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from loopline.monitor.profile import ColumnProfile, as_categories, numeric_values

_TOP_UNSEEN = 5


def column_quality(profile: ColumnProfile, series: pl.Series) -> dict[str, Any]:
    rows = series.len()
    out: dict[str, Any] = {
        "name": profile.name,
        "null_rate": None,
        "reference_null_rate": round(profile.null_rate, 6),
        "out_of_range": None,
        "unseen": None,
        "unseen_values": [],
    }
    if rows == 0:
        return out
    if profile.kind == "numeric":
        values = numeric_values(series)
        out["null_rate"] = (rows - values.size) / rows
        if values.size and profile.minimum is not None and profile.maximum is not None:
            outside = (values < profile.minimum).sum() + (values > profile.maximum).sum()
            out["out_of_range"] = float(outside / values.size)
        return out
    categories = as_categories(series)
    out["null_rate"] = categories.null_count() / rows
    present = categories.drop_nulls()
    if present.len() and profile.other == 0:  # with an `other` bucket, "never seen" is unknowable
        counts = present.value_counts(sort=True)
        name, count = counts.columns
        new = counts.filter(~pl.col(name).is_in(list(profile.categories)))
        out["unseen"] = float(new[count].sum() / present.len())
        out["unseen_values"] = [[v, int(c)] for v, c in new.head(_TOP_UNSEEN).iter_rows()]
    return out


def quality(
    reference: Mapping[str, ColumnProfile], frame: pl.DataFrame, *, null_margin: float = 0.01
) -> dict[str, Any]:
    """Per column figures and the issues worth a human's look (a null rate `null_margin` above
    training's, any value out of range, any unseen category, a column gone missing)."""
    missing = [name for name in reference if name not in frame.columns]
    columns = [column_quality(p, frame[name]) for name, p in reference.items() if name in frame.columns]
    issues: list[str] = [f"column {name!r} is missing from the window" for name in missing]
    for c in columns:
        if c["null_rate"] is not None and c["null_rate"] > c["reference_null_rate"] + null_margin:
            issues.append(
                f"{c['name']}: {c['null_rate']:.1%} nulls (training {c['reference_null_rate']:.1%})"
            )
        if c["out_of_range"]:
            issues.append(f"{c['name']}: {c['out_of_range']:.1%} of values outside the training range")
        if c["unseen"]:
            issues.append(f"{c['name']}: {c['unseen']:.1%} of values are categories training never saw")
    rates = [c["null_rate"] for c in columns if c["null_rate"] is not None]
    return {
        "columns": columns,
        "missing_columns": missing,
        "issues": issues,
        "max_null_rate": max(rates, default=0.0),
        "max_out_of_range": max((c["out_of_range"] or 0.0 for c in columns), default=0.0),
        "max_unseen": max((c["unseen"] or 0.0 for c in columns), default=0.0),
    }
