"""Model-assisted pre-labels: suggestions and confidences from any classifier, checked against
the project's labels."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.linear_model import LogisticRegression

from loopline.annotate.prelabel import predict_proba, prelabel
from loopline.core.errors import InvalidInput


def _model() -> LogisticRegression:
    x = np.array([[0.0], [0.1], [0.2], [1.0], [1.1], [1.2]])
    return LogisticRegression().fit(x, ["cat", "cat", "cat", "dog", "dog", "dog"])


def test_suggestions_follow_the_model_and_keep_item_ids() -> None:
    table = pl.DataFrame({"item_id": ["a", "b"], "x": [0.05, 1.15], "note": ["n", "m"]})
    out = prelabel(_model(), table, ["bird", "cat", "dog"])
    assert out.columns == ["item", "suggestion", "confidence"]
    assert out["item"].to_list() == ["a", "b"]
    assert out["suggestion"].to_list() == ["cat", "dog"]
    assert (out["confidence"] > 0.5).all() and (out["confidence"] <= 1).all()
    proba = predict_proba(_model(), table, ["bird", "cat", "dog"])
    assert proba[:, 0].tolist() == [0.0, 0.0]  # a label the model never learned
    assert proba.sum(axis=1) == pytest.approx([1.0, 1.0])
    numbered = prelabel(_model(), np.array([[0.0], [1.0], [0.5]]), ["cat", "dog"])
    assert numbered["item"].to_list() == ["0", "1", "2"]


def test_a_model_of_other_labels_or_shapes_is_refused() -> None:
    with pytest.raises(InvalidInput, match="predicts 'dog', which is not a label"):
        prelabel(_model(), np.zeros((2, 1)), ["cat", "bird"])
    with pytest.raises(InvalidInput, match="expects 1 features, the items have 2"):
        prelabel(_model(), np.zeros((2, 2)), ["cat", "dog"])
    with pytest.raises(InvalidInput, match="not a fitted classifier"):
        prelabel(LogisticRegression(), np.zeros((2, 1)), ["cat", "dog"])
    with pytest.raises(InvalidInput, match="3 item ids for 2"):
        prelabel(_model(), np.zeros((2, 1)), ["cat", "dog"], items=["a", "b", "c"])
