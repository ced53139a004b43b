"""Performance in production: measured once ground truth arrives, estimated before it does.

The estimate for classifiers follows the idea of NannyML's CBPE: if the model's confidence (its
highest class probability) is calibrated, a prediction made with confidence c is right with
probability c, so the expected accuracy of a window is the mean confidence. Unlike NannyML we do
not recalibrate on a labelled reference first (the profile holds no predictions), so the
estimate is as good as the model's calibration, which evaluate measures (expected calibration
error) before a model ships. Both are given per time window (`every`) and overall.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import polars as pl


def is_classification(frame: pl.DataFrame) -> bool:
    """Confidences logged, or labels that are not numbers: a classifier."""
    if "confidence" in frame.columns and frame["confidence"].null_count() < frame.height:
        return True
    dtype = frame["prediction"].dtype
    return not (dtype.is_numeric() and dtype.is_float())


def _metrics(predicted: pl.Series, truth: pl.Series, classification: bool) -> dict[str, float]:
    if classification:
        p = predicted.cast(pl.Utf8).to_numpy()
        t = truth.cast(pl.Utf8).to_numpy()
        labels = np.unique(np.concatenate([p, t]))
        f1s = []
        for label in labels:
            tp = np.sum((p == label) & (t == label))
            denom = np.sum(p == label) + np.sum(t == label)
            f1s.append(2 * tp / denom if denom else 0.0)
        return {"accuracy": float(np.mean(p == t)), "f1_macro": float(np.mean(f1s))}
    p = predicted.cast(pl.Float64).to_numpy()
    t = truth.cast(pl.Float64).to_numpy()
    err = p - t
    return {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err**2)))}


def _windows(frame: pl.DataFrame, every: str) -> list[pl.DataFrame]:
    if frame.is_empty():
        return []
    bucket = frame.with_columns(pl.col("at").dt.truncate(every).alias("_window")).sort("_window")
    return bucket.partition_by("_window", maintain_order=True)


def performance(frame: pl.DataFrame, truth: pl.DataFrame | None, every: str = "1h") -> dict[str, Any] | None:
    """Metrics on the predictions whose truth arrived (joined by request id); None without any."""
    if truth is None or truth.is_empty() or frame.is_empty():
        return None
    joined = (
        frame.select(
            "request_id", "at", "prediction", *(["confidence"] if "confidence" in frame.columns else [])
        )
        .join(truth.select("request_id", pl.col("truth")), on="request_id", how="inner")
        .filter(pl.col("truth").is_not_null())
    )
    if joined.is_empty():
        return None
    classification = is_classification(frame)
    windows = [
        {
            "start": w["_window"][0].isoformat(),
            "rows": w.height,
            **_metrics(w["prediction"], w["truth"], classification),
        }
        for w in _windows(joined, every)
    ]
    return {
        "task": "classification" if classification else "regression",
        "labelled": joined.height,
        "coverage": joined.height / frame.height,
        **_metrics(joined["prediction"], joined["truth"], classification),
        "windows": windows,
    }


def _mean_confidence(rows: pl.DataFrame) -> float:
    # Polars types any Series' mean as any scalar or None; rows here are non-empty, confidences
    # non-null floats, so it is a float.
    return float(cast(float, rows["confidence"].mean()))


def estimated_performance(frame: pl.DataFrame, every: str = "1h") -> dict[str, Any] | None:
    """Expected accuracy from the confidences (classifiers that log them); None otherwise."""
    if frame.is_empty() or "confidence" not in frame.columns:
        return None
    scored = frame.select("at", "confidence").drop_nulls("confidence")
    if scored.is_empty():
        return None
    windows = [
        {"start": w["_window"][0].isoformat(), "rows": w.height, "accuracy": _mean_confidence(w)}
        for w in _windows(scored, every)
    ]
    return {
        "method": "mean confidence (CBPE-style, assumes calibrated probabilities)",
        "rows": scored.height,
        "accuracy": _mean_confidence(scored),
        "windows": windows,
    }
