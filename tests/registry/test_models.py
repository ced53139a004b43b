"""Model files: skops round trip, canonical bytes, refusal of untrusted types and tampered blobs."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from loopline.core.errors import Integrity, InvalidInput
from loopline.store.artifacts import load_value, save_value
from loopline.store.blobs import LocalBlobStore
from loopline.store.models import canonicalize, dump_model, load_model, model_id, save_model


class Custom(BaseEstimator, ClassifierMixin):
    """A user's class: loopline must not construct it from a file without being told to."""

    def __init__(self, k: int = 1) -> None:
        self.k = k

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])


@pytest.fixture(scope="module")
def iris() -> tuple[np.ndarray, np.ndarray]:
    return load_iris(return_X_y=True)


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(str(tmp_path / "blobs"))


def test_round_trip_predicts_the_same(store, iris):
    X, y = iris
    model = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=7, random_state=0)).fit(X, y)
    art = save_value(store, model, output="model")
    assert art.kind == "model"
    assert art.schema == {"class": "sklearn.pipeline.Pipeline", "format": "skops"}
    back = load_value(store, art)
    assert type(back) is type(model)
    np.testing.assert_array_equal(back.predict(X), model.predict(X))
    np.testing.assert_allclose(back.predict_proba(X), model.predict_proba(X))


def test_same_model_same_id_and_bytes_across_processes(store, iris, tmp_path):
    X, y = iris
    first = save_model(store, LogisticRegression(max_iter=500).fit(X, y))
    again = save_model(store, LogisticRegression(max_iter=500).fit(X, y))
    assert (first.id, first.blob) == (again.id, again.blob)
    other = save_model(store, LogisticRegression(max_iter=500, C=0.5).fit(X, y))
    assert other.id != first.id
    # A fresh interpreter has other id()s and another clock: still the same id.
    code = (
        "from sklearn.datasets import load_iris\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "from loopline.store.models import dump_model, model_id\n"
        "X, y = load_iris(return_X_y=True)\n"
        "print(model_id(dump_model(LogisticRegression(max_iter=500).fit(X, y))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == first.id


def test_raw_skops_archives_canonicalize_to_one_id(iris):
    import skops.io as sio

    X, y = iris
    model = LogisticRegression(max_iter=500).fit(X, y)
    raw = [sio.dumps(model), sio.dumps(LogisticRegression(max_iter=500).fit(X, y))]
    assert raw[0] != raw[1]  # skops' own bytes carry id()s
    assert canonicalize(raw[0]) == canonicalize(raw[1])
    assert model_id(canonicalize(raw[0])) == model_id(dump_model(model))


def test_custom_class_is_refused_on_save_and_on_load(iris):
    import skops.io as sio

    X, y = iris
    model = Custom().fit(X, y)
    with pytest.raises(InvalidInput, match=r"test_models\.Custom"):
        dump_model(model)
    crafted = canonicalize(sio.dumps(model))
    with pytest.raises(InvalidInput, match="does not trust"):
        load_model(crafted)
    name = f"{Custom.__module__}.Custom"
    assert load_model(crafted, trusted=[name]).predict(X[:2]).tolist() == [0, 0]


def test_a_foreign_function_is_refused(iris):
    import skops.io as sio

    crafted = canonicalize(sio.dumps(FunctionTransformer(func=os.system)))
    with pytest.raises(InvalidInput, match="system"):
        load_model(crafted)


def test_sklearn_tree_internals_are_trusted(iris):
    X, y = iris
    model = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    np.testing.assert_array_equal(load_model(dump_model(model)).predict(X), model.predict(X))


def test_tampered_blob_is_refused(store, iris):
    X, y = iris
    art = save_model(store, LogisticRegression(max_iter=500).fit(X, y))
    path = Path(store.local_path(art.blob))
    data = bytearray(path.read_bytes())
    data[-30] ^= 0xFF
    os.chmod(path, 0o644)
    path.write_bytes(bytes(data))
    with pytest.raises(Integrity):
        load_value(store, art)


def test_blob_of_another_model_is_refused(store, iris):
    """The blob is intact but is not the model the metadata recorded."""
    X, y = iris
    art = save_model(store, LogisticRegression(max_iter=500).fit(X, y))
    other = save_model(store, LogisticRegression(max_iter=500, C=0.1).fit(X, y))
    with pytest.raises(Integrity, match="not the recorded"):
        load_value(store, replace(art, blob=other.blob))


def test_garbage_is_refused(store):
    blob = store.put_bytes(b"not a zip at all")
    art = replace(save_model(store, LogisticRegression()), blob=blob)
    with pytest.raises(Integrity):
        load_value(store, art)


def test_lightgbm_models_are_stored_deterministically_and_load(iris, store) -> None:
    lightgbm = pytest.importorskip("lightgbm")
    x, y = iris

    def fitted():
        return lightgbm.LGBMClassifier(n_estimators=15, verbose=-1, deterministic=True, n_jobs=1).fit(x, y)

    first, second = save_value(store, fitted(), output="model"), save_value(store, fitted(), output="model")
    assert first.kind == "model" and first.id == second.id
    loaded = load_value(store, first)
    assert type(loaded).__name__ == "LGBMClassifier"
    assert (loaded.predict(x) == fitted().predict(x)).all()
