"""The NumPy path for linear models gives exactly the model's answers, or is not used."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge, SGDClassifier

from loopline.serve.compiled import compile_predictor

rng = np.random.default_rng(0)
X = rng.normal(size=(300, 5))


def reference(model):
    def predict(matrix):
        conf = model.predict_proba(matrix).max(axis=1).tolist() if hasattr(model, "predict_proba") else None
        return np.asarray(model.predict(matrix)).tolist(), conf

    return predict


@pytest.mark.parametrize(
    ("model", "y"),
    [
        (LogisticRegression(), (X[:, 0] > 0).astype(int)),
        (LogisticRegression(C=0.1), np.digitize(X[:, 0], [-0.5, 0.5])),
        (LogisticRegression(), np.where(X[:, 1] > 0, "yes", "no")),
        (LinearRegression(), X @ np.arange(5.0)),
        (Ridge(), np.c_[X[:, 0], X[:, 1]]),
        (SGDClassifier(random_state=0), (X[:, 0] > 0).astype(int)),
    ],
)
def test_linear_models_are_compiled_and_agree_on_new_rows(model, y):
    model.fit(X, y)
    fast = compile_predictor(model, 5, reference(model))
    assert fast is not None
    rows = rng.normal(scale=2.0, size=(50, 5))
    want, want_conf = reference(model)(rows)
    got, got_conf = fast(rows)
    if isinstance(want[0], str) or hasattr(model, "classes_"):
        assert got == want
    else:
        assert np.allclose(got, want, rtol=1e-12)
    assert (want_conf is None) == (got_conf is None)
    if want_conf is not None:
        assert np.allclose(got_conf, want_conf, rtol=1e-12)


def test_other_models_and_disagreeing_references_keep_the_models_own_path():
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, X[:, 0] > 0)
    assert compile_predictor(forest, 5, reference(forest)) is None
    model = LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))

    def flipped(matrix):
        predictions, conf = reference(model)(matrix)
        return [1 - p for p in predictions], conf

    assert compile_predictor(model, 5, flipped) is None
