"""Metrics as weighted sums, so one formula gives the point estimate (every row weighs 1) and
every bootstrap resample at once (row weights = how often the resample drew the row).

A resample's weights are one row of a (resamples x rows) count matrix built from a numpy index
matrix; each metric is then a few matrix products: the model predicts once, never per resample.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

ECE_BINS = 15
CHUNK = 250  # resamples per block: bounds the count matrix at CHUNK x rows
LOWER_IS_BETTER = frozenset({"rmse", "mae", "log_loss", "ece"})
CLASSIFICATION = ("accuracy", "f1_macro", "f1_micro", "roc_auc", "log_loss", "ece")
REGRESSION = ("rmse", "mae", "r2")

Metrics = Callable[[np.ndarray], dict[str, np.ndarray]]  # weights (B x n) -> metric -> (B,)


def classification(y: np.ndarray, predicted: np.ndarray, proba: np.ndarray | None, n_classes: int) -> Metrics:
    """y and predicted are class indices; proba (n x classes) when the model gives one."""
    correct = (y == predicted).astype(np.float64)
    pairs = np.zeros((len(y), n_classes * n_classes))
    pairs[np.arange(len(y)), y * n_classes + predicted] = 1.0
    if proba is not None:
        eps = np.finfo(np.float64).eps
        proba = proba / proba.sum(axis=1, keepdims=True)
        loss = -np.log(np.clip(proba[np.arange(len(y)), y], eps, 1.0))
        confidence = proba.max(axis=1)
        bins = np.minimum((confidence * ECE_BINS).astype(int), ECE_BINS - 1)
        in_bin = np.zeros((len(y), ECE_BINS))
        in_bin[np.arange(len(y)), bins] = 1.0
        gap = in_bin * (correct - confidence)[:, None]  # per bin: sum(correct) - sum(confidence)
        aucs = [_auc_parts(proba[:, k], y == k) for k in range(n_classes)]

    def metrics(w: np.ndarray) -> dict[str, np.ndarray]:
        total = w.sum(axis=1)
        confusion = (w @ pairs).reshape(len(w), n_classes, n_classes)
        tp = np.einsum("bkk->bk", confusion)
        support, predicted_n = confusion.sum(axis=2), confusion.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            f1 = np.where(support + predicted_n > 0, 2 * tp / (support + predicted_n), np.nan)
            present = support + predicted_n > 0  # classes seen in y or predicted, as scikit-learn
            macro = np.nansum(np.where(present, f1, 0.0), axis=1) / present.sum(axis=1)
        out = {
            "accuracy": (w @ correct) / total,
            "f1_macro": macro,
            "f1_micro": tp.sum(axis=1) / total,
        }
        if proba is not None:
            out["log_loss"] = (w @ loss) / total
            out["ece"] = np.abs(w @ gap).sum(axis=1) / total
            with np.errstate(invalid="ignore"):
                out["roc_auc"] = np.nanmean(np.stack([_auc(w, *parts) for parts in aucs]), axis=0)
        return out

    return metrics


def _auc_parts(score: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows in score order, the start of each run of equal scores, and which rows are positive."""
    order = np.argsort(score, kind="stable")
    ordered = score[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    return order, starts, positive[order].astype(np.float64)


def _auc(w: np.ndarray, order: np.ndarray, starts: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """Weighted Mann-Whitney: P(score of a positive > score of a negative), ties count half."""
    ws = w[:, order]
    pos = np.add.reduceat(ws * positive, starts, axis=1)
    neg = np.add.reduceat(ws * (1.0 - positive), starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    with np.errstate(invalid="ignore", divide="ignore"):
        return (pos * (below + 0.5 * neg)).sum(axis=1) / (pos.sum(axis=1) * neg.sum(axis=1))


def regression(y: np.ndarray, predicted: np.ndarray) -> Metrics:
    y = y.astype(np.float64)
    error = y - predicted.astype(np.float64)
    columns = np.stack([error**2, np.abs(error), y, y**2], axis=1)

    def metrics(w: np.ndarray) -> dict[str, np.ndarray]:
        total = w.sum(axis=1)
        sse, sae, sy, syy = (w @ columns).T
        sst = syy - sy**2 / total
        with np.errstate(invalid="ignore", divide="ignore"):
            r2 = np.where(sst > 0, 1 - sse / sst, np.nan)
        return {"rmse": np.sqrt(sse / total), "mae": sae / total, "r2": r2}

    return metrics


def estimate(
    metrics: Metrics, n: int, resamples: int, seed: int, level: float
) -> dict[str, dict[str, float | None]]:
    """Point estimate and percentile bootstrap interval of each metric."""
    point = metrics(np.ones((1, n)))
    draws: dict[str, list[np.ndarray]] = {k: [] for k in point}
    rng = np.random.default_rng(seed)
    for start in range(0, resamples, CHUNK):
        b = min(CHUNK, resamples - start)
        index = rng.integers(0, n, size=(b, n))
        flat = (np.arange(b)[:, None] * n + index).ravel()
        weights = np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64)
        for key, values in metrics(weights).items():
            draws[key].append(values)
    tail = (1 - level) / 2 * 100
    result: dict[str, dict[str, float | None]] = {}
    for key, value in point.items():
        entry: dict[str, float | None] = {"value": _number(value[0]), "low": None, "high": None}
        if draws[key]:
            values = np.concatenate(draws[key])
            values = values[np.isfinite(values)]
            if values.size:
                entry["low"], entry["high"] = (_number(v) for v in np.percentile(values, [tail, 100 - tail]))
        result[key] = entry
    return result


def _number(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def confusion(y: np.ndarray, predicted: np.ndarray, n_classes: int) -> list[list[int]]:
    counts = np.bincount(y * n_classes + predicted, minlength=n_classes * n_classes)
    return counts.reshape(n_classes, n_classes).tolist()
