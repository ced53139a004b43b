"""Evaluation as a pure function: metrics against scikit-learn as the oracle, bootstrap
intervals, slices, gates, and the card."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn import metrics as skm
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression

from loopline.core.errors import CheckFailed, ConfigError, InvalidInput
from loopline.evaluate import card_markdown, check, evaluate, evaluation_report, model_card

FEATURES = [f"f{i}" for i in range(5)]


def _classification(classes: int, n: int = 1600, seed: int = 0) -> tuple[LogisticRegression, pl.DataFrame]:
    X, y = make_classification(
        n, n_features=5, n_informative=4, n_redundant=0, n_classes=classes, random_state=seed
    )
    frame = pl.DataFrame(X, schema=FEATURES).with_columns(
        label=pl.Series([f"c{v}" for v in y]),
        country=pl.Series(np.random.default_rng(seed).choice(["FR", "DE", "IT"], n).tolist()),
        age=pl.Series(np.random.default_rng(seed + 1).integers(18, 90, n)),
    )
    train, test = frame[: n // 2], frame[n // 2 :]
    return LogisticRegression(max_iter=1000).fit(train.select(FEATURES), train["label"]), test


@pytest.mark.parametrize("classes", [2, 4])
def test_classification_metrics_match_scikit_learn(classes: int) -> None:
    model, test = _classification(classes)
    report = evaluation_report(model, test, target="label", bootstrap=200)
    X, y = test.select(FEATURES), test["label"].to_numpy()
    predicted, proba = model.predict(X), model.predict_proba(X)
    auc = (
        skm.roc_auc_score(y, proba[:, 1]) if classes == 2 else skm.roc_auc_score(y, proba, multi_class="ovr")
    )
    expected = {
        "accuracy": skm.accuracy_score(y, predicted),
        "f1_macro": skm.f1_score(y, predicted, average="macro"),
        "f1_micro": skm.f1_score(y, predicted, average="micro"),
        "roc_auc": auc,
        "log_loss": skm.log_loss(y, proba, labels=model.classes_),
    }
    for name, value in expected.items():
        assert report["metrics"][name]["value"] == pytest.approx(value, rel=1e-9), name
    assert report["confusion_matrix"] == skm.confusion_matrix(y, predicted, labels=model.classes_).tolist()
    assert report["labels"] == list(model.classes_)
    # expected calibration error, written out the textbook way
    confidence, hit = proba.max(axis=1), (predicted == y)
    bins = np.minimum((confidence * 15).astype(int), 14)
    ece = sum(abs(hit[bins == b].sum() - confidence[bins == b].sum()) for b in range(15)) / len(y)
    assert report["metrics"]["ece"]["value"] == pytest.approx(ece, rel=1e-9)


def test_regression_metrics_match_scikit_learn() -> None:
    X, y = make_regression(800, n_features=5, noise=10.0, random_state=1)
    frame = pl.DataFrame(X, schema=FEATURES).with_columns(y=pl.Series(y))
    model = LinearRegression().fit(frame[:400].select(FEATURES).to_numpy(), frame[:400]["y"].to_numpy())
    test = frame[400:]
    report = evaluation_report(model, test, target="y", task="regression", bootstrap=300)
    predicted = model.predict(test.select(FEATURES).to_numpy())
    truth = test["y"].to_numpy()
    assert report["metrics"]["rmse"]["value"] == pytest.approx(
        np.sqrt(skm.mean_squared_error(truth, predicted))
    )
    assert report["metrics"]["mae"]["value"] == pytest.approx(skm.mean_absolute_error(truth, predicted))
    assert report["metrics"]["r2"]["value"] == pytest.approx(skm.r2_score(truth, predicted))
    assert "confusion_matrix" not in report


def test_bootstrap_intervals_cover_the_estimate_and_repeat_with_the_seed() -> None:
    model, test = _classification(3)
    first = evaluation_report(model, test, target="label", bootstrap=500, seed=11)
    again = evaluation_report(model, test, target="label", bootstrap=500, seed=11)
    other = evaluation_report(model, test, target="label", bootstrap=500, seed=12)
    assert first["metrics"] == again["metrics"]
    assert first["metrics"] != other["metrics"]
    for name, entry in first["metrics"].items():
        assert entry["low"] <= entry["value"] <= entry["high"], name
        assert entry["high"] - entry["low"] > 0, name
    # the interval shrinks with more data, about as 1/sqrt(n)
    small = evaluation_report(model, test[:200], target="label", bootstrap=500)["metrics"]["accuracy"]
    width = first["metrics"]["accuracy"]["high"] - first["metrics"]["accuracy"]["low"]
    assert small["high"] - small["low"] > 1.5 * width
    # and agrees with a naive per-resample loop on the same index matrices
    rng = np.random.default_rng(11)
    hits = (model.predict(test.select(FEATURES)) == test["label"].to_numpy()).astype(float)
    naive = [hits[rng.integers(0, len(hits), len(hits))].mean() for _ in range(500)]
    # (the report draws its indices in blocks of 250 rows of one matrix: same stream)
    assert np.percentile(naive, [2.5, 97.5]) == pytest.approx(
        [first["metrics"]["accuracy"]["low"], first["metrics"]["accuracy"]["high"]]
    )


def test_slices() -> None:
    model, test = _classification(2)
    report = evaluation_report(
        model,
        test,
        target="label",
        slices=["country", {"column": "age", "bins": [0, 30, 60, 120]}],
        bootstrap=100,
    )
    names = [s["slice"] for s in report["slices"]]
    assert names == ["country=DE", "country=FR", "country=IT", "age [0, 30)", "age [30, 60)", "age [60, 120)"]
    fr = test.filter(pl.col("country") == "FR")
    expected = skm.accuracy_score(fr["label"], model.predict(fr.select(FEATURES)))
    assert report["slices"][1]["metrics"]["accuracy"]["value"] == pytest.approx(expected)
    assert sum(s["rows"] for s in report["slices"][:3]) == test.height


def test_gates_pass_and_fail() -> None:
    model, test = _classification(2)
    weak = LogisticRegression().fit(test.select(FEATURES[:1])[:50], test["label"][:50])
    accuracy = evaluation_report(model, test, target="label", bootstrap=0)["metrics"]["accuracy"]["value"]

    def gates(*entries: dict, baseline=None) -> list[dict]:
        return evaluation_report(
            model, test, target="label", bootstrap=0, gates=list(entries), baseline=baseline
        )["gates"]

    assert gates({"metric": "accuracy", "min": accuracy - 0.01})[0]["passed"]
    assert not gates({"metric": "accuracy", "min": accuracy + 0.01})[0]["passed"]
    assert gates({"metric": "log_loss", "max": 5})[0]["passed"]
    # against a baseline: the weak one-feature model is beaten; the model itself is not regressed on
    assert gates({"metric": "f1_macro", "no_regression": "production"}, baseline=weak)[0]["passed"]
    same = gates({"metric": "f1_macro", "no_regression": "production", "tolerance": 0.0}, baseline=model)[0]
    assert same["passed"] and same["baseline"] == pytest.approx(same["value"])
    # no baseline yet: passes and says why
    first = gates({"metric": "f1_macro", "no_regression": "production"})[0]
    assert first["passed"] and "no production model" in first["note"]
    # slice gap
    assert gates({"metric": "accuracy", "max_slice_gap": 1.0})[0]["passed"]  # no slices: nothing to compare
    sliced = evaluation_report(
        model,
        test,
        target="label",
        bootstrap=0,
        slices=["country"],
        gates=[{"metric": "accuracy", "max_slice_gap": 0.0}],
    )
    assert not sliced["gates"][0]["passed"] and "country=" in sliced["gates"][0]["note"]
    with pytest.raises(CheckFailed) as caught:
        evaluate(model, test, target="label", bootstrap=0, gates=[{"metric": "accuracy", "min": 0.999}])
    assert (
        "1 of 1 gate(s) failed" in caught.value.message and "FAIL  accuracy >= 0.999" in caught.value.message
    )
    # a candidate worse than its baseline fails no_regression, with both figures in the result
    worse = evaluation_report(
        weak,
        test,
        target="label",
        bootstrap=0,
        baseline=model,
        gates=[{"metric": "accuracy", "no_regression": "production", "tolerance": 0.01}],
    )
    gate = worse["gates"][0]
    assert not worse["passed"] and gate["value"] < gate["baseline"] - 0.01
    assert worse["baseline"]["metrics"]["accuracy"]["value"] == pytest.approx(accuracy)


def test_bad_params_are_config_errors() -> None:
    schema = {"test": {"f0": "Float64", "label": "String"}}
    with pytest.raises(ConfigError, match="target column 'lbl'"):
        check({"target": "lbl"}, schema)
    with pytest.raises(ConfigError, match="unknown classification metric 'rmse'"):
        check({"target": "label", "gates": [{"metric": "rmse", "max": 1}]}, schema)
    with pytest.raises(ConfigError, match="exactly one of"):
        check({"target": "label", "gates": [{"metric": "accuracy", "min": 1, "max": 2}]}, schema)
    with pytest.raises(ConfigError, match="slice column 'region'"):
        check({"target": "label", "slices": ["region"]}, schema)
    with pytest.raises(ConfigError, match="increasing"):
        check({"target": "label", "slices": [{"column": "f0", "bins": [3, 1]}]}, schema)
    with pytest.raises(ConfigError, match="task"):
        check({"target": "label", "task": "ranking"}, schema)
    model, test = _classification(2)
    with pytest.raises(InvalidInput, match="feature column"):
        evaluation_report(model, test.drop("f3"), target="label")


def test_card_content() -> None:
    model, test = _classification(2)
    report = evaluation_report(
        model,
        test,
        target="label",
        slices=["country"],
        bootstrap=100,
        gates=[{"metric": "accuracy", "min": 0.5}],
        intended_use="Demo only; not for decisions about people.",
    )
    card = model_card(
        report,
        model={"id": "ab" * 32, "name": "model", "version": 3},
        data=[
            {"role": "training input train", "name": "train", "version": 2, "id": "cd" * 32, "rows": 800},
            {"role": "test", "name": "test", "version": 2, "id": "ef" * 32, "rows": 800, "reads": 4},
        ],
        environment={
            "python": "3.11",
            "platform": "linux",
            "loopline": "0.1",
            "packages": {"scikit-learn": "1.9", "rich": "1"},
        },
        run={"run_id": "r1", "git_commit": "0123456789abcdef", "git_dirty": True},
    )
    assert card["intended_use"].startswith("Demo only")
    assert card["model"]["type"] == "LogisticRegression"
    assert card["environment"]["packages"] == {"scikit-learn": "1.9"}
    assert card["gates"]["passed"] is True
    text = card_markdown(card)
    assert "# Model card: model v3" in text
    assert "| test | test | 2 | `efefefefefef` | 800 | 4 |" in text
    assert f"| accuracy | {report['metrics']['accuracy']['value']:.4f} [" in text
    assert "country=FR" in text and "## Confusion matrix" in text
    assert "✅ accuracy >= 0.5" in text and "git 0123456789ab (dirty)" in text
