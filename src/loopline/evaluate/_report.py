"""The evaluation report: a fitted model predicts the test table once; metrics overall and per
slice, each with a bootstrap interval, and a confusion matrix for classifiers."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from loopline.core.errors import ConfigError, InvalidInput
from loopline.evaluate import _metrics

TASKS = ("classification", "regression")


@dataclass(frozen=True)
class Slice:
    column: str
    bins: tuple[float, ...] | None = None

    def groups(self, frame: pl.DataFrame) -> list[tuple[str, np.ndarray]]:
        """(name, row mask) of each slice value or bin, in order."""
        values = frame[self.column]
        if self.bins is None:
            distinct = values.drop_nulls().unique().sort()
            return [(f"{self.column}={v}", (values == v).fill_null(False).to_numpy()) for v in distinct]
        numbers = values.cast(pl.Float64).to_numpy()
        edges = self.bins
        return [
            (f"{self.column} [{_fmt(lo)}, {_fmt(hi)})", (numbers >= lo) & (numbers < hi))
            for lo, hi in itertools.pairwise(edges)
        ]


def _fmt(value: float) -> str:
    return f"{value:g}"


def parse_slices(value: Any) -> list[Slice]:
    if value is None:
        return []
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ConfigError(
            "`slices` must be a list", hint="write `slices: [country, {column: age, bins: [0, 30, 60]}]`"
        )
    slices = []
    for entry in value:
        if isinstance(entry, str):
            slices.append(Slice(entry))
            continue
        if not isinstance(entry, Mapping) or set(entry) != {"column", "bins"}:
            raise ConfigError(
                f"slice {entry!r} must be a column name or {{column, bins}}",
                hint="e.g. `{column: age, bins: [0, 30, 60, 120]}`",
            )
        bins = entry["bins"]
        if (
            not isinstance(bins, Sequence)
            or len(bins) < 2
            or not all(isinstance(b, int | float) and not isinstance(b, bool) for b in bins)
            or any(b >= c for b, c in itertools.pairwise(bins))
        ):
            raise ConfigError(f"bins of slice {entry['column']!r} must be at least two increasing numbers")
        slices.append(Slice(str(entry["column"]), tuple(float(b) for b in bins)))
    return slices


def feature_frame(model: Any, test: pl.DataFrame, target: str, features: Sequence[str] | None) -> Any:
    """What the model predicts from: the columns it was fitted on (by name when it knows them),
    the declared `features`, or every column but the target and loopline's `_` columns."""
    known = getattr(model, "feature_names_in_", None)
    names = list(features) if features else [str(n) for n in known] if known is not None else None
    if names is None:
        names = [c for c in test.columns if c != target and not c.startswith("_")]
    missing = [n for n in names if n not in test.columns]
    if missing:
        raise InvalidInput(
            f"the test table lacks feature column(s) {', '.join(missing)} the model needs",
            hint="evaluate on a table with the training table's columns",
        )
    return test.select(names) if known is not None else test.select(names).to_numpy()


@dataclass
class Prediction:
    task: str
    y: np.ndarray  # class indices (classification) or values
    predicted: np.ndarray
    proba: np.ndarray | None = None
    labels: list[Any] | None = None

    def subset(self, mask: np.ndarray) -> Prediction:
        proba = self.proba[mask] if self.proba is not None else None
        return Prediction(self.task, self.y[mask], self.predicted[mask], proba, self.labels)

    def metrics(self) -> _metrics.Metrics:
        if self.task == "regression":
            return _metrics.regression(self.y, self.predicted)
        assert self.labels is not None
        return _metrics.classification(self.y, self.predicted, self.proba, len(self.labels))


def predict(
    model: Any, test: pl.DataFrame, target: str, task: str, features: Sequence[str] | None
) -> Prediction:
    if target not in test.columns:
        raise InvalidInput(
            f"target column {target!r} is not in the test table", hint=f"columns: {', '.join(test.columns)}"
        )
    truth = test[target]
    if truth.null_count():
        raise InvalidInput(f"target column {target!r} has {truth.null_count()} empty value(s)")
    X = feature_frame(model, test, target, features)
    predicted = np.asarray(model.predict(X))
    if task == "regression":
        return Prediction(task, truth.cast(pl.Float64).to_numpy(), predicted.astype(np.float64))
    classes = list(getattr(model, "classes_", []))
    labels = classes + sorted({*truth.to_list(), *predicted.tolist()} - set(classes), key=str)
    index = {label: i for i, label in enumerate(labels)}
    proba = None
    if callable(getattr(model, "predict_proba", None)) and classes:
        given = np.asarray(model.predict_proba(X), dtype=np.float64)
        proba = np.zeros((len(test), len(labels)))
        proba[:, : len(classes)] = given
    y = np.array([index[v] for v in truth.to_list()], dtype=np.int64)
    return Prediction(
        task, y, np.array([index[v] for v in predicted.tolist()], dtype=np.int64), proba, labels
    )


def report(
    prediction: Prediction,
    test: pl.DataFrame,
    slices: Sequence[Slice],
    resamples: int,
    seed: int,
    level: float,
) -> dict[str, Any]:
    """Overall and per-slice metrics with intervals; each slice gets its own resamples."""
    n = len(prediction.y)
    if n == 0:
        raise InvalidInput("the test table is empty: nothing to evaluate")
    out: dict[str, Any] = {
        "task": prediction.task,
        "rows": n,
        "metrics": _metrics.estimate(prediction.metrics(), n, resamples, seed, level),
        "bootstrap": {"resamples": resamples, "seed": seed, "level": level},
    }
    if prediction.task == "classification":
        assert prediction.labels is not None
        out["labels"] = [_plain(v) for v in prediction.labels]
        out["confusion_matrix"] = _metrics.confusion(
            prediction.y, prediction.predicted, len(prediction.labels)
        )
    out["slices"] = []
    for number, spec in enumerate(slices):
        for offset, (name, mask) in enumerate(spec.groups(test)):
            rows = int(mask.sum())
            entry: dict[str, Any] = {"slice": name, "column": spec.column, "rows": rows, "metrics": None}
            if rows:
                part = prediction.subset(mask)
                entry["metrics"] = _metrics.estimate(
                    part.metrics(), rows, resamples, seed + 1000 * (number + 1) + offset, level
                )
            out["slices"].append(entry)
    return out


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
