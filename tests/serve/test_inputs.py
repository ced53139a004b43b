"""A signature compiled into a row checker: every bad field named at once, nothing let through."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from loopline.serve.inputs import InputSpec, RowsRejected

SIG = {"inputs": {"a": "Float64", "b": "Int64", "flag": "Boolean"}, "output": "Int64"}


def spec(estimator=None) -> InputSpec:
    return InputSpec.from_signature(SIG, estimator or LogisticRegression())


def test_numeric_rows_become_one_float_array_in_signature_order():
    rows, single = spec().rows_of({"flag": True, "b": 3, "a": 0.5, "extra": "ignored"})
    assert single
    matrix = spec().matrix(rows)
    assert matrix.dtype == np.float64
    assert matrix.tolist() == [[0.5, 3.0, 1.0]]
    many, single = spec().rows_of({"rows": [{"a": 1, "b": 2, "flag": False}] * 3})
    assert not single and spec().matrix(many).shape == (3, 3)
    assert spec().rows_of([{"a": 1}, {"a": 2}])[1] is False


@pytest.mark.parametrize(
    ("row", "reason", "fields"),
    [
        ({"a": 1.0, "flag": True}, "missing", {"b": "missing"}),
        ({"a": "1.0", "b": 1, "flag": True}, "type", {"a": "expected a number, got string"}),
        ({"a": 1.0, "b": 1.5, "flag": True}, "type", {"b": "expected an integer, got 1.5"}),
        ({"a": 1.0, "b": 1, "flag": 1}, "type", {"flag": "expected a boolean, got integer"}),
        ({"a": True, "b": 1, "flag": True}, "type", {"a": "expected a number, got boolean"}),
        ({"a": None, "b": 1, "flag": True}, "nan", {"a": "null is not allowed (the model reads no NaN)"}),
        ({"a": math.nan, "b": 1, "flag": True}, "nan", {"a": "NaN or infinity is not allowed"}),
        ({"a": math.inf, "b": 1, "flag": True}, "nan", {"a": "NaN or infinity is not allowed"}),
    ],
)
def test_each_bad_field_is_named_with_its_reason(row, reason, fields):
    with pytest.raises(RowsRejected) as caught:
        spec().matrix(spec().rows_of(row)[0])
    assert caught.value.reason == reason
    assert caught.value.fields == fields
    assert caught.value.status == 422


def test_all_problems_of_many_rows_are_reported_by_row():
    rows = [{"a": 1.0, "b": 1, "flag": True}, {"b": "x", "flag": True}]
    with pytest.raises(RowsRejected) as caught:
        spec().matrix(rows)
    assert caught.value.fields == {"rows[1].a": "missing", "rows[1].b": "expected an integer, got string"}


@pytest.mark.parametrize("body", [3, "text", [], [1, 2], {"rows": []}])
def test_bodies_that_are_not_rows_are_refused(body):
    with pytest.raises(RowsRejected) as caught:
        spec().rows_of(body)
    assert caught.value.reason == "shape"


def test_a_model_that_reads_nan_gets_null_as_nan():
    lenient = spec(HistGradientBoostingClassifier())
    assert lenient.allow_nan
    matrix = lenient.matrix([{"a": None, "b": 1, "flag": False}])
    assert math.isnan(matrix[0, 0])


def test_text_inputs_go_through_a_frame_by_name():
    text = InputSpec.from_signature({"inputs": {"colour": "String", "size": "Float64"}}, LogisticRegression())
    assert not text.numeric
    frame = text.matrix([{"colour": "red", "size": 2}])
    assert list(frame.columns) == ["colour", "size"]
    with pytest.raises(RowsRejected) as caught:
        text.matrix([{"colour": 3, "size": 2}])
    assert caught.value.fields == {"colour": "expected text, got integer"}


def test_without_a_signature_the_estimators_features_are_read():
    model = LogisticRegression().fit(np.eye(3), [0, 1, 1])
    unsigned = InputSpec.from_signature(None, model)
    assert unsigned.names == ("x0", "x1", "x2")
