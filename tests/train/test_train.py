"""Train and tune as pipeline steps: a fitted model artifact, every trial tracked, the same model
id on reproduce, and bad input refused (exit 2) before anything trains."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from loopline import Project, StepContext
from loopline.core.errors import ConfigError, InvalidInput
from loopline.train import check_fit, check_tune, fit, tune
from tests.conftest import cli, write_project

STEPS = """
import numpy as np
import polars as pl
from sklearn.datasets import make_classification

def make_data():
    X, y = make_classification(n_samples=240, n_features=5, n_informative=3, random_state=3)
    frame = pl.DataFrame({f"x{i}": X[:, i] for i in range(5)}).with_columns(
        label=pl.Series(y), _item_id=pl.Series([str(i) for i in range(len(y))])
    )
    return {"train": frame[:160], "validation": frame[160:]}

def my_trainer(X, y, params, seed):
    from sklearn.tree import DecisionTreeClassifier
    return DecisionTreeClassifier(max_depth=params.get("depth", 2), random_state=seed).fit(X, y)
"""

TUNE = """
steps:
  data: {uses: steps:make_data, outputs: [train, validation]}
  tune:
    uses: loopline.train:tune
    inputs: [train, validation]
    params:
      estimator: sklearn.linear_model:LogisticRegression
      space:
        C: {type: float, low: 0.001, high: 10, log: true}
        penalty: {type: categorical, choices: [l2]}
      params: {max_iter: 200}
      metric: f1_macro
      n_trials: 6
      cv: 2
      %s
    outputs: [model, report]
"""


def tune_project(root: Path, extra: str = "") -> Path:
    return write_project(root, TUNE % extra, STEPS)


def frame(n: int = 120, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return pl.DataFrame(
        {"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "label": (X[:, 0] + X[:, 1] > 0).astype(int)}
    )


def test_tune_tracks_every_trial_and_reproduce_gives_the_same_model_id(tmp_path: Path):
    root = tune_project(tmp_path / "p")
    cli("init", cwd=root, check=True)
    first = json.loads(cli("run", "--json", cwd=root, check=True).stdout)
    outputs = next(s for s in first["steps"] if s["name"] == "tune")["outputs"]
    project = Project.open(root)
    assert project.resolve(outputs["model"]).kind == "model"
    report = project.load(outputs["report"])
    assert report["n_trials"] == 6 and set(report["best_params"]) == {"C", "penalty"}
    assert len(report["trials"]) == 6 and report["best_value"] > 0.6
    trials = json.loads(cli("runs", "--experiment", "tune", "--json", cwd=root, check=True).stdout)
    assert len(trials) == 6
    assert all(t["tags"]["loopline.parent_run"] == first["run_id"] for t in trials)
    assert {t["tags"]["optuna.trial"] for t in trials} == {str(i) for i in range(6)}
    complete = [t for t in trials if "f1_macro" in t["metrics"] and t["tags"].get("optuna.state") != "pruned"]
    best = max(t["metrics"]["f1_macro"] for t in complete)
    assert best == pytest.approx(report["best_value"])
    chosen = [t for t in trials if float(t["params"]["C"]) == pytest.approx(report["best_params"]["C"])]
    assert chosen and chosen[0]["metrics"]["f1_macro"] == pytest.approx(best)
    ranked = json.loads(
        cli(
            "runs",
            "-e",
            "tune",
            "--metric",
            "f1_macro",
            "--sort",
            "--desc",
            "--limit",
            "1",
            "--json",
            cwd=root,
        ).stdout
    )
    assert ranked[0]["metrics"]["f1_macro"] == max(t["metrics"].get("f1_macro", -1) for t in trials)
    parent = project.tracked_run(first["run_id"])
    assert parent.metrics["best_f1_macro"] == pytest.approx(report["best_value"])
    assert parent.params["tune.estimator"] == "sklearn.linear_model:LogisticRegression"
    again = json.loads(cli("reproduce", first["run_id"], "--json", cwd=root).stdout)
    assert again["identical"], again
    assert {a["name"] for a in again["artifacts"]} >= {"model", "report"}


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ("target: species", "label column 'species' is not in the train table"),
        ("estimator: sklearn.linear_model:NoSuchModel", "has no 'NoSuchModel'"),
        ("estimator: nosuchpackage.models:Model", "cannot import 'nosuchpackage.models'"),
        ("features: [x0, nope]", "feature column 'nope'"),
        ("n_trials: 0", "n_trials must be"),
    ],
)
def test_bad_input_exits_2_before_training(tmp_path: Path, extra: str, needle: str):
    root = tune_project(tmp_path / "p", extra)
    cli("init", cwd=root, check=True)
    result = cli("run", cwd=root)
    assert result.returncode == 2, result.stdout + result.stderr
    assert needle in result.stderr and "Traceback" not in result.stderr
    assert Project.open(root).meta.latest_version("model") is None


def test_a_search_space_naming_an_unknown_param_exits_2(tmp_path: Path):
    root = write_project(tmp_path / "p", (TUNE % "").replace("penalty: {type", "gamma: {type"), STEPS)
    cli("init", cwd=root, check=True)
    result = cli("run", cwd=root)
    assert result.returncode == 2
    assert (
        "the search space names 'gamma', which sklearn.linear_model:LogisticRegression does not have"
        in result.stderr
    )
    assert Project.open(root).meta.latest_version("model") is None


def test_fit_step_with_an_estimator_and_with_a_custom_trainer(tmp_path: Path):
    root = write_project(
        tmp_path / "p",
        """
steps:
  data: {uses: train_fit_steps:make_data, outputs: [train, validation]}
  fit:
    uses: loopline.train:fit
    inputs: [train, validation]
    params: {params: {C: 0.5}, metric: accuracy}
    outputs: [model]
  custom:
    uses: loopline.train:fit
    inputs: {train: train}
    params: {trainer: "train_fit_steps:my_trainer", params: {depth: 3}}
    outputs: [tree]
""",
    )
    (root / "train_fit_steps.py").write_text(STEPS)  # its own module name: tests share sys.modules
    project = Project.init(root)
    run = project.run()
    assert run.status == "succeeded", [s.error for s in run.steps]
    model, tree = project.load("model"), project.load("tree")
    assert list(model.feature_names_in_) == [
        "x0",
        "x1",
        "x2",
        "x3",
        "x4",
    ]  # `_item_id` and the label left out
    assert model.C == 0.5 and tree.get_depth() <= 3
    tracked = project.tracked_run(run.id)
    assert (
        tracked.params["fit.C"] == "0.5" and tracked.params["custom.trainer"] == "train_fit_steps:my_trainer"
    )
    assert 0.5 < tracked.metrics["validation_accuracy"] <= 1.0


def test_check_hooks_catch_mistakes_without_data():
    schema = {"a": "Float64", "b": "String", "label": "Int64"}
    with pytest.raises(ConfigError, match="'b' is String, not numeric"):
        check_fit({"features": ["a", "b"]}, {"train": schema})
    with pytest.raises(ConfigError, match="unknown metric"):
        check_fit({"metric": "goodness"}, {"train": schema})
    with pytest.raises(ConfigError, match="does not have"):
        check_fit({"params": {"depth": 3}}, {"train": schema})
    space = {"C": {"type": "float", "low": 1, "high": 0.1}}
    with pytest.raises(ConfigError, match="low"):
        check_tune({"space": space}, {})
    with pytest.raises(ConfigError, match="partial_fit"):
        check_tune({"space": {"C": {"type": "float", "low": 0.1, "high": 1}}, "epochs": 3}, {})
    with pytest.raises(ConfigError, match="both fixed"):
        check_tune({"space": {"C": {"type": "float", "low": 0.1, "high": 1}}, "params": {"C": 1}}, {})
    check_fit({}, {"train": schema})  # the defaults are fine: numeric columns but the label


def test_tune_prunes_by_epochs_with_partial_fit_and_is_deterministic():
    train, validation = frame(200, 1), frame(100, 2)
    space = {"alpha": {"type": "float", "low": 1e-5, "high": 1.0, "log": True}}

    contexts = [StepContext("run", "tune", 11, Path("."), logging.getLogger("t")) for _ in range(2)]
    runs = [
        tune(train, validation, space, "sklearn.linear_model:SGDClassifier", n_trials=10, epochs=4, ctx=ctx)
        for ctx in contexts
    ]
    assert len(contexts[0].children) == 10 and contexts[0].children[0].params.keys() == {"alpha"}
    assert contexts[0].children[0].metrics[0][0] == "accuracy"  # the default metric, by epoch
    first, second = (r["report"] for r in runs)
    assert first["trials"] == second["trials"] and first["best_params"] == second["best_params"]
    assert first["pruned"] >= 1  # the median pruner cut some trials after an epoch
    assert all(len(t["intermediate"]) <= 4 for t in first["trials"])
    assert np.array_equal(runs[0]["model"].coef_, runs[1]["model"].coef_)


def test_empty_values_are_refused_naming_the_column():
    bad = frame().with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(None).otherwise(pl.col("a")).alias("a")
    )
    with pytest.raises(InvalidInput, match="column 'a' of the train table has 1 empty value"):
        fit(bad)


def test_lightgbm_when_installed():
    pytest.importorskip("lightgbm")
    model = fit(frame(), estimator="lightgbm:LGBMClassifier", params={"n_estimators": 10})
    assert model.predict(frame(20, 5).drop("label").to_pandas()).shape == (20,)
