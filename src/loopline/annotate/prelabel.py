"""Model-assisted pre-labels: a trained classifier's guess for each item, stored on the task as
a suggestion (source "model") that the annotator confirms or corrects; the answer records that
a suggestion was shown, so agreement with the model can be told from independent judgement.

Any scikit-learn-style classifier with `predict_proba` and `classes_` works; its classes must be
labels of the project (a model trained on other labels would suggest answers nobody may give).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from loopline.annotate.features import feature_matrix
from loopline.core.errors import InvalidInput

__all__ = ["predict_proba", "prelabel"]


def predict_proba(model: Any, features: np.ndarray | pl.DataFrame, label_set: Sequence[Any]) -> np.ndarray:
    """(items x label set) probabilities, columns in label-set order; classes the model never
    learned get 0. Checks the model's classes against the label set."""
    if not hasattr(model, "predict_proba") or not hasattr(model, "classes_"):
        raise InvalidInput(
            f"{type(model).__name__} is not a fitted classifier with predict_proba",
            hint="fit it first; for a model without probabilities wrap it in CalibratedClassifierCV",
        )
    labels = [str(label) for label in label_set]
    classes = [str(c) for c in model.classes_]
    foreign = [c for c in classes if c not in labels]
    if foreign:
        raise InvalidInput(
            f"the model predicts {foreign[0]!r}, which is not a label of the project {labels}",
            hint="use a model trained on this project's labels",
        )
    names = getattr(model, "feature_names_in_", None)
    if names is not None and isinstance(features, pl.DataFrame):  # fitted on named columns: use them
        absent = [str(n) for n in names if n not in features.columns]
        if absent:
            raise InvalidInput(
                f"the model needs feature column {absent[0]!r}", hint=f"columns: {features.columns}"
            )
        features = features.select([str(n) for n in names])
    matrix, _ = feature_matrix(features)
    expected = getattr(model, "n_features_in_", None)
    if expected is not None and matrix.shape[1] != expected:
        raise InvalidInput(
            f"the model expects {expected} features, the items have {matrix.shape[1]}",
            hint="pass the same feature columns the model was trained on",
        )
    with warnings.catch_warnings():  # columns are in the fitted order: an array is what we mean
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        proba = np.asarray(model.predict_proba(matrix), dtype=np.float64)
    out = np.zeros((matrix.shape[0], len(labels)), dtype=np.float64)
    out[:, [labels.index(c) for c in classes]] = proba
    return out


def prelabel(
    model: Any,
    features: np.ndarray | pl.DataFrame,
    label_set: Sequence[Any],
    *,
    items: Sequence[str] | None = None,
) -> pl.DataFrame:
    """One row per item, in input order: `item` (from `items`, the table's item_id, else the row
    number as text), `suggestion` (the likeliest label) and `confidence` (its probability)."""
    proba = predict_proba(model, features, label_set)
    ids = list(items) if items is not None else feature_matrix(features)[1]
    if ids is not None and len(ids) != proba.shape[0]:
        raise InvalidInput(f"{len(ids)} item ids for {proba.shape[0]} feature rows")
    best = proba.argmax(axis=1)
    labels = np.asarray([str(label) for label in label_set], dtype=object)
    return pl.DataFrame(
        {
            "item": ids if ids is not None else [str(i) for i in range(proba.shape[0])],
            "suggestion": labels[best].tolist(),
            "confidence": proba[np.arange(proba.shape[0]), best],
        },
        schema={"item": pl.String, "suggestion": pl.String, "confidence": pl.Float64},
    )
