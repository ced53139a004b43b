"""The registry through the `loopline` command: register, promote under the policy, approve,
rollback, history, --json listings and exit codes (2 bad input, 1 a gate or policy said no)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loopline.project import Project
from tests.conftest import cli, write_project

STEPS = """
import polars as pl
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

def data():
    X, y = load_iris(return_X_y=True, as_frame=True)
    return pl.from_pandas(X.assign(target=y))

def train(iris, C: float = 1.0):
    X = iris.drop("target").to_pandas()
    return LogisticRegression(C=C, max_iter=500).fit(X, iris["target"].to_numpy())
"""
YAML = """
steps:
  data: {uses: "steps:data", outputs: [iris]}
  train: {uses: "steps:train", inputs: [iris], params: {C: 1.0}, outputs: [model]}
registry:
  require_approval: [production]
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_project(tmp_path_factory.mktemp("registry"), YAML, STEPS)
    cli("init", cwd=root, check=True)
    run = json.loads(cli("run", "--json", cwd=root, check=True).stdout)
    assert [s["status"] for s in run["steps"]] == ["ran", "ran"]
    return root


def as_json(root: Path, *args: str, user: str = "carol") -> object:
    return json.loads(cli(*args, "--json", cwd=root, check=True, env={"LOOPLINE_USER": user}).stdout)


def test_register_promote_approve_rollback(project: Path):
    first = as_json(project, "register", "iris", "model", "--description", "baseline")
    assert first["version"] == 1 and first["run_id"] and first["description"] == "baseline"
    assert next(iter(first["signature"]["inputs"])) == "sepal length (cm)"
    assert first["signature"]["inputs"]["sepal length (cm)"] == "Float64"
    second = as_json(project, "register", "iris", "model@1")
    assert second["version"] == 2 and second["artifact_id"] == first["artifact_id"]

    refused = cli("promote", "iris", "2", "--alias", "production", cwd=project)
    assert refused.returncode == 1 and "needs an approval" in refused.stderr
    assert "Traceback" not in refused.stderr
    as_json(project, "approve", "iris", "1", "--alias", "production", "--reason", "reviewed", user="dave")
    moved = as_json(project, "promote", "iris", "1", "--alias", "production", "--reason", "go")
    assert moved["from_version"] is None and moved["version"] == 1 and moved["actor"] == "carol"
    as_json(project, "approve", "iris", "2", "--alias", "production", user="dave")
    assert as_json(project, "promote", "iris", "2", "--alias", "production")["from_version"] == 1

    listed = as_json(project, "models")
    rows = [(m["name"], m["latest_version"], m["aliases"]) for m in listed]
    assert rows == [("iris", 2, {"production": 2})]
    shown = as_json(project, "models", "show", "iris", "production")
    assert shown["version"] == 2 and shown["aliases"] == ["production"]

    back = as_json(project, "rollback", "iris", "--reason", "latency")
    assert (back["from_version"], back["version"]) == (2, 1)
    history = as_json(project, "models", "history", "iris")
    rows = [(e["kind"], e["alias"], e["from_version"], e["version"], e["actor"]) for e in history]
    assert rows == [
        ("register", None, None, 1, "carol"),
        ("register", None, None, 2, "carol"),
        ("approve", "production", None, 1, "dave"),
        ("promote", "production", None, 1, "carol"),
        ("approve", "production", None, 2, "dave"),
        ("promote", "production", 1, 2, "carol"),
        ("rollback", "production", 2, 1, "carol"),
    ]
    assert history[-1]["reason"] == "latency" and history[-1]["at"]
    text = cli("models", "history", "iris", cwd=project, check=True).stdout
    assert "rollback production: 2 → 1" in text and "latency" in text
    project_api = Project.open(project)
    try:
        assert project_api.load_model("iris").predict([[5.1, 3.5, 1.4, 0.2]]).tolist() == [0]
    finally:
        project_api.close()


def test_failed_gates_exit_1_with_the_report(project: Path):
    api = Project.open(project)
    try:
        report = {"gates": [{"name": "f1_macro>=0.99", "passed": False, "value": 0.95}]}
        version = api.register("gated", "model", gates_passed=False, gate_report=report).version
    finally:
        api.close()
    result = cli("promote", "gated", str(version), "--alias", "staging", cwd=project)
    assert result.returncode == 1
    assert "failed its gates" in result.stderr and "FAILED f1_macro>=0.99" in result.stderr
    assert as_json(project, "models", "show", "gated")["aliases"] == {}
    assert [e["kind"] for e in as_json(project, "models", "history", "gated")] == ["register"]


@pytest.mark.parametrize(
    "args",
    [
        ("models", "show", "nope"),
        ("models", "show", "iris", "99"),
        ("models", "show", "iris", "nosuchalias"),
        ("models", "history", "nope"),
        ("promote", "nope", "1", "--alias", "staging"),
        ("promote", "iris", "1", "--alias", "latest"),
        ("register", "iris", "nosuchartifact"),
        ("register", "iris", "iris"),  # a table, not a model
        ("rollback", "nope"),
    ],
)
def test_bad_input_exits_2(project: Path, args: tuple[str, ...]):
    result = cli(*args, cwd=project)
    assert result.returncode == 2, result.stderr
    assert "error:" in result.stderr and "Traceback" not in result.stderr
