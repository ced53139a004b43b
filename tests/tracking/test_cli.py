"""The tracking commands as a user runs them: search with filters and sort, compare, experiments,
and bad input (exit 2, a message, no traceback)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import loopline
from loopline import Project
from tests.conftest import cli


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli") / "p"
    project = Project.init(folder)
    for i in range(6):
        with project.start_run("exp", f"r{i}"):
            loopline.log_params({"C": i % 2, "solver": "lbfgs"})
            loopline.set_tags({"team": "x" if i < 3 else "y"})
            for step in range(5):
                loopline.log_metric("f1", i / 10 + step / 100, step)
    with project.start_run("other", "lonely"):
        loopline.log_metric("f1", 0.99)
    project.close()
    return folder


def test_runs_search_filters_and_sorts(root: Path):
    out = cli(
        "runs",
        "--metric",
        "f1",
        "--sort",
        "--desc",
        "--filter",
        "params.C=1",
        "--filter",
        "metrics.f1>0.1",
        "--experiment",
        "exp",
        "--json",
        cwd=root,
        check=True,
    )
    found = json.loads(out.stdout)
    assert [r["name"] for r in found] == ["r5", "r3", "r1"]
    assert all(r["params"]["C"] == "1" for r in found)
    assert found[0]["metrics"]["f1"] == pytest.approx(0.54)
    team = json.loads(cli("runs", "--filter", "tags.team=y", "--order-by", "name", "--json", cwd=root).stdout)
    assert [r["name"] for r in team] == ["r3", "r4", "r5"]
    table = cli("runs", "--metric", "f1", "--sort", "--limit", "2", cwd=root, check=True).stdout
    assert "r0" in table and "r1" in table and "r5" not in table


def test_compare_and_experiments(root: Path):
    found = json.loads(cli("runs", "-e", "exp", "--order-by", "name", "--json", cwd=root).stdout)
    a, b = found[0]["run_id"], found[1]["run_id"]
    result = json.loads(cli("compare", a, b, "--json", cwd=root, check=True).stdout)
    assert [r["name"] for r in result["runs"]] == ["r0", "r1"]
    assert {"key": "C", "values": ["0", "1"], "same": False} in result["params"]
    f1 = next(m for m in result["metrics"] if m["key"] == "f1")
    assert f1["deltas"] == [0, pytest.approx(0.1)] and not f1["same"]
    assert "b - a" in cli("compare", a, b, cwd=root, check=True).stdout
    listed = json.loads(cli("experiments", "--json", cwd=root, check=True).stdout)
    assert {e["name"]: e["runs"] for e in listed} == {"exp": 6, "other": 1}


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("runs", "--filter", "params.C>1"), "> is not supported for params.C"),
        (("runs", "--filter", "metrics.f1>high"), "is not a number"),
        (("runs", "--filter", "colour=red"), "unknown run attribute"),
        (("runs", "--sort"), "--metric"),
        (("runs", "--experiment", "nope"), "no experiment named 'nope'"),
        (("compare", "nope", "nada"), "no run 'nope'"),
    ],
)
def test_bad_input_exits_2(root: Path, args: tuple[str, ...], needle: str):
    result = cli(*args, cwd=root)
    assert result.returncode == 2, result.stdout + result.stderr
    assert needle in result.stderr and "Traceback" not in result.stderr
