"""Linear models answered in NumPy, verified against the model itself when a version loads.

For one row, scikit-learn's input validation costs ~190 µs per call (predict) and as much again
for predict_proba, while the arithmetic of a 20-feature logistic regression takes ~3 µs
(measured in benchmarks/serving.py's setting). So for the linear families whose prediction is a
formula of `coef_` and `intercept_`, the service computes the formula directly, and only after
checking, on probe rows, that it gives exactly the model's predictions and (to 1e-9) its
probabilities. Any other model, or one that fails the check, goes through its own predict.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

Predictor = Callable[[np.ndarray], tuple[list[Any], list[float] | None]]

_CLASSIFIERS = {"LogisticRegression", "LogisticRegressionCV", "SGDClassifier", "RidgeClassifier"}
_REGRESSORS = {"LinearRegression", "Ridge", "RidgeCV", "Lasso", "LassoCV", "ElasticNet", "SGDRegressor"}
# Classifiers whose predict is the class of the highest predict_proba (so one call gives both).
ARGMAX_PROBA = {
    "LogisticRegression",
    "LogisticRegressionCV",
    "RandomForestClassifier",
    "ExtraTreesClassifier",
    "DecisionTreeClassifier",
    "ExtraTreeClassifier",
    "GradientBoostingClassifier",
    "HistGradientBoostingClassifier",
    "KNeighborsClassifier",
    "GaussianNB",
    "MultinomialNB",
    "BernoulliNB",
}


def _sklearn_class(estimator: Any) -> str | None:
    cls = type(estimator)
    return cls.__name__ if cls.__module__.startswith("sklearn.") else None


def _linear(estimator: Any) -> Predictor | None:
    name = _sklearn_class(estimator)
    coef = getattr(estimator, "coef_", None)
    intercept = getattr(estimator, "intercept_", 0.0)
    if name is None or coef is None:
        return None
    coef = np.asarray(coef, dtype=np.float64)
    intercept = np.asarray(intercept, dtype=np.float64)
    if name in _REGRESSORS:
        weights = coef.T if coef.ndim == 2 else coef

        def regress(matrix: np.ndarray) -> tuple[list[Any], list[float] | None]:
            return (matrix @ weights + intercept).tolist(), None

        return regress
    if name not in _CLASSIFIERS:
        return None
    classes = estimator.classes_
    with_proba = name.startswith("LogisticRegression")
    if coef.shape[0] == 1:  # binary: one score, class 1 when positive
        w, b = coef[0], float(intercept.reshape(-1)[0])

        def binary(matrix: np.ndarray) -> tuple[list[Any], list[float] | None]:
            score = matrix @ w + b
            predictions = classes[(score > 0).astype(np.intp)].tolist()
            if not with_proba:
                return predictions, None
            p = 1.0 / (1.0 + np.exp(-score))
            return predictions, np.maximum(p, 1.0 - p).tolist()

        return binary
    weights = coef.T

    def multiclass(matrix: np.ndarray) -> tuple[list[Any], list[float] | None]:
        scores = matrix @ weights + intercept
        predictions = classes[scores.argmax(axis=1)].tolist()
        if not with_proba:
            return predictions, None
        shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
        return predictions, (1.0 / shifted.sum(axis=1)).tolist()  # the top class's softmax

    return multiclass


def compile_predictor(estimator: Any, n_features: int, reference: Predictor) -> Predictor | None:
    """A NumPy predictor equal to `reference` (the model's own path) on probe rows, or None."""
    fast = _linear(estimator)
    if fast is None or n_features == 0:
        return None
    rng = np.random.default_rng(0)
    probe = np.vstack([np.zeros((1, n_features)), rng.normal(scale=3.0, size=(256, n_features))])
    try:
        want, want_conf = reference(probe)
        got, got_conf = fast(probe)
    except Exception as exc:  # the model's own path decides
        log.debug("no compiled path for %s: %s", type(estimator).__name__, exc)
        return None
    if hasattr(estimator, "classes_"):
        same = want == got
    else:
        same = bool(np.allclose(want, got, rtol=1e-9, atol=1e-12))
    if want_conf is None or got_conf is None:
        same = same and want_conf is None and got_conf is None
    else:
        same = same and bool(np.allclose(want_conf, got_conf, rtol=1e-9, atol=1e-12))
    if not same:
        log.info("compiled path of %s disagrees with the model; using its predict", type(estimator).__name__)
        return None
    return fast
