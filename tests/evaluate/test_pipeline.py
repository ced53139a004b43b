"""Split, train and evaluate as a pipeline: the sealed test set (refusal, read counts), gates
failing a run (exit 1), `show` and `card` on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loopline.core.errors import ConfigError
from loopline.project import Project
from tests.conftest import cli, write_project

STEPS = """
import numpy as np
import polars as pl
from sklearn.linear_model import LogisticRegression


def data(n):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 2))
    label = np.where(x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=0.5, size=n) > 0, "yes", "no")
    country = rng.choice(["FR", "DE"], n)
    return pl.DataFrame({"a": x[:, 0], "b": x[:, 1], "country": country, "label": label})


def train(train):
    return LogisticRegression().fit(train.select("a", "b"), train["label"])


def peek(test):
    return {"rows": test.height}
"""

YAML = """
steps:
  data:
    uses: steps:data
    params: {n: 2000}
    outputs: [data]
  split:
    uses: loopline.split:split
    inputs: {table: data}
    params: {stratify: label, seed: 1}
    outputs: [train, validation, test]
  train:
    uses: steps:train
    inputs: [train]
    outputs: [model]
  evaluate:
    uses: loopline.evaluate:evaluate
    inputs: [model, test]
    params:
      target: label
      slices: [country]
      bootstrap: 200
      intended_use: "A test of loopline's evaluation"
      gates:
        - {metric: accuracy, min: MIN}
        - {metric: f1_macro, no_regression: production, tolerance: 0.01}
    outputs: [evaluation]
"""


def make(root: Path, minimum: float = 0.7, extra: str = "") -> Project:
    write_project(root, YAML.replace("MIN", str(minimum)) + extra, STEPS)
    return Project.init(root)


def test_split_train_evaluate_and_count_test_reads(tmp_path: Path) -> None:
    project = make(tmp_path / "p")
    run = project.run()
    assert run.status == "succeeded", [s.error for s in run.steps]
    report = project.load("evaluation")
    assert report["passed"] and report["metrics"]["accuracy"]["value"] > 0.8
    assert [s["slice"] for s in report["slices"]] == ["country=DE", "country=FR"]
    logged = {m["key"]: m["value"] for m in project.metrics(run.id) if m["step_name"] == "evaluate"}
    assert logged["accuracy"] == pytest.approx(report["metrics"]["accuracy"]["value"])
    test = project.resolve("test")
    assert project.test_reads("test") == 1
    assert project.meta.test_read_log(test.id)[0]["step"] == "evaluate"
    assert project.meta.sealed_artifacts([test.id, project.resolve("train").id]) == {test.id}
    # a cache hit reads nothing; a forced re-run reads again
    assert {s.name: s.status for s in project.run().steps}["evaluate"] == "cached"
    assert project.test_reads("test") == 1
    project.run(use_cache=False)
    assert project.test_reads("test") == 2
    reads = project.sealed_reads(project.runs(1)[0])
    assert reads == [
        {
            "step": "evaluate",
            "input": "test",
            "artifact_id": test.id,
            "name": "test",
            "version": 1,
            "reads": 2,
        }
    ]
    # the card: lineage, reads, intended use, environment
    card = project.model_card("model")
    assert card["intended_use"] == "A test of loopline's evaluation"
    roles = {d["role"]: d for d in card["data"]}
    assert roles["test"]["reads"] == 2 and roles["test"]["id"] == test.id
    assert roles["training input train"]["id"] == project.resolve("train").id
    assert card["model"]["id"] == project.resolve("model").id and card["environment"]["python"]
    assert project.model_card("evaluation")["model"]["id"] == card["model"]["id"]


def test_only_the_evaluation_may_read_the_test_set(tmp_path: Path) -> None:
    extra = """
  peek:
    uses: steps:peek
    inputs: [test]
    outputs: [peeked]
"""
    project = make(tmp_path / "p", extra=extra)
    with pytest.raises(
        ConfigError, match="step 'peek' reads 'test', the sealed test set made by step 'split'"
    ):
        project.run()
    assert project.runs() == []  # refused before anything ran
    # once the test set exists, a pipeline that only reads it as a dataset is refused too
    make(tmp_path / "p").run()
    write_project(
        tmp_path / "p",
        "steps:\n  peek:\n    uses: steps:peek\n    inputs: [test]\n    outputs: [peeked]\n",
        STEPS,
    )
    reopened = Project.open(tmp_path / "p")
    with pytest.raises(ConfigError, match="the sealed test set made by a split"):
        reopened.run()
    # allowed when declared as the one step that reads it
    write_project(
        tmp_path / "p",
        "steps:\n  peek:\n    uses: steps:peek\n    inputs: [test]\n    outputs: [peeked]\n"
        "    reads_sealed: true\n",
        STEPS,
    )
    import sys

    sys.modules.pop("steps", None)
    allowed = Project.open(tmp_path / "p")
    assert allowed.run().status == "succeeded"
    assert allowed.test_reads("test") == 2  # the evaluation's read, then peek's


def test_failing_gate_exits_1_with_the_gate_table(tmp_path: Path) -> None:
    root = tmp_path / "p"
    make(root, minimum=0.99)
    result = cli("run", cwd=root)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "CheckFailed: 1 of 2 gate(s) failed" in result.stdout
    assert (
        "FAIL  accuracy >= 0.99" in result.stdout
        and "PASS  f1_macro no worse than production" in result.stdout
    )
    project = Project.open(root)  # the run's id, without a third process
    run_id = project.runs(1, top_level=True)[0].id
    project.close()
    shown = json.loads(cli("show", "--json", run_id, cwd=root, check=True).stdout)
    assert shown["status"] == "failed"
    assert shown["test_reads"][0]["reads"] == 1  # a failed gate still read the test set


def test_card_and_show_on_the_command_line(tmp_path: Path) -> None:
    root = tmp_path / "p"
    make(root)
    run = json.loads(cli("run", "--json", cwd=root, check=True).stdout)
    shown = cli("show", run["run_id"], cwd=root, check=True).stdout
    assert "step evaluate read the sealed test set test@1: read 1 time(s) in all runs" in shown
    cli("register", "clf", "model", cwd=root, check=True)
    markdown = cli("card", "clf", cwd=root, check=True).stdout  # the registered model's name
    assert markdown.startswith("# Model card: model v1")
    assert "| test | test | 1 |" in markdown and "## Gates: passed" in markdown
    assert cli("card", "clf", "1", cwd=root, check=True).stdout == markdown
    assert cli("card", "--artifact", "model", cwd=root, check=True).stdout == markdown
    card = json.loads(cli("card", "clf", "--json", cwd=root, check=True).stdout)
    assert card["gates"]["passed"] is True and card["task"] == "classification"
    unknown = cli("card", "model", cwd=root)  # an artifact name is not a registered model
    assert unknown.returncode == 2 and "no registered model 'model'" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    missing = cli("card", "--artifact", "data", cwd=root)
    assert missing.returncode == 2 and "neither a model nor an evaluation report" in missing.stderr
    neither = cli("card", cwd=root)
    assert neither.returncode == 2 and "give a registered model name, or --artifact" in neither.stderr


GATED = """
  evaluate:
    uses: loopline.evaluate:evaluate
    inputs: [model, test]
    params:
      target: label
      model_name: clf
      bootstrap: 0
      gates:
        - {metric: accuracy, min: MIN}
        - {metric: f1_macro, no_regression: production, tolerance: 0.01}
    outputs: [evaluation]
"""


def gated(root: Path, minimum: float = 0.7, train: str = "steps:train") -> Project:
    yaml = YAML.split("  evaluate:")[0].replace("steps:train", train) + GATED.replace("MIN", str(minimum))
    write_project(root, yaml, STEPS + BAD_TRAIN)
    import sys

    sys.modules.pop("steps", None)
    return Project.open(root) if (root / ".loopline").exists() else Project.init(root)


BAD_TRAIN = """

def train_on_b(train):
    return LogisticRegression().fit(train.select("b"), train["label"])
"""


def test_no_regression_compares_with_the_production_model_on_the_same_test_set(tmp_path: Path) -> None:
    """No `baseline` input bound: the runner passes the version of `model_name` at the gate's
    alias; with nothing there yet the gate passes saying so."""
    root = tmp_path / "p"
    project = gated(root)
    assert project.run().status == "succeeded"
    first = project.load("evaluation")
    assert "baseline" not in first and "nothing to regress" in first["gates"][1]["note"]
    assert first["model_name"] == "clf"
    version = project.register("clf", "model")
    assert version.gates_passed is True
    project.promote("clf", version.version, "production")
    # production now exists: the evaluation reruns (its baseline is an input) and compares
    run = project.run()
    steps = {s.name: s for s in run.steps}
    assert steps["train"].status == "cached" and steps["evaluate"].status == "ran"
    assert steps["evaluate"].inputs["baseline"] == version.artifact_id
    second = project.load("evaluation")
    value = second["metrics"]["f1_macro"]["value"]
    assert second["baseline"]["metrics"]["f1_macro"]["value"] == value
    assert second["gates"][1]["passed"] and second["gates"][1]["baseline"] == value
    assert {s.name: s.status for s in project.run().steps}["evaluate"] == "cached"
    # a worse model (trained on one feature) regresses against production: exit 1
    project.close()
    gated(root, train="steps:train_on_b").close()
    result = cli("run", cwd=root)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL  f1_macro no worse than production" in result.stdout


def test_a_version_whose_gates_failed_cannot_be_promoted(tmp_path: Path) -> None:
    """Registering a model records the gates of the evaluation that read it; promote refuses
    a version whose gates failed (exit 1), and `--evaluation` picks the report."""
    root = tmp_path / "p"
    gated(root, minimum=0.99).close()
    assert cli("run", cwd=root).returncode == 1
    registered = cli("register", "clf", "model", cwd=root, check=True).stdout
    assert "registered clf version 1" in registered and "gates FAILED" in registered
    shown = json.loads(cli("models", "--json", cwd=root, check=True).stdout)
    assert shown[0]["latest"]["gates_passed"] is False
    refused = cli("promote", "clf", "1", "--alias", "production", cwd=root)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    output = refused.stdout + refused.stderr
    assert "failed its gates" in output and "FAIL  accuracy >= 0.99" in output
    assert json.loads(cli("models", "--json", cwd=root, check=True).stdout)[0]["aliases"] == {}
    # gates that pass: registered with the report, promoted
    gated(root, minimum=0.7).close()
    cli("run", cwd=root, check=True)
    registered = cli("register", "clf", "model", "--evaluation", "evaluation", cwd=root, check=True).stdout
    assert "registered clf version 2" in registered and "gates passed" in registered
    cli("promote", "clf", "2", "--alias", "production", cwd=root, check=True)
    version = Project.open(root).model("clf", "production")
    assert version.version == 2 and version.gates_passed is True
    assert [g["passed"] for g in version.gate_report["gates"]] == [True, True]
    # a report of another model is bad input
    wrong = cli("register", "clf", "data", "--evaluation", "evaluation", cwd=root)
    assert wrong.returncode == 2
