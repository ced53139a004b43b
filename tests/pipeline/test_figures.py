"""What `run` and `show RUN` print per step: rows in / out / quarantined, metrics and the gate
table, the same in `--json`, recorded at run time (a failed gate's table too; a cached step
shows the figures of the run that computed it)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import cli, write_project
from tests.evaluate.test_pipeline import make

CLEAN_STEPS = """
import polars as pl

def raw(n):
    return pl.DataFrame({"age": [20 + i for i in range(n)] + [500, -3], "name": ["x"] * (n + 2)})

def count(table):
    return {"rows": table.height}
"""

CLEAN_YAML = """
steps:
  raw:
    uses: steps:raw
    params: {n: 8}
    outputs: [raw]
  clean:
    uses: loopline.clean:apply
    inputs: {table: raw}
    params:
      rules:
        - {rule: range, column: age, min: 0, max: 120}
    outputs: {clean: people, quarantine: rejected, report: clean_report}
  count:
    uses: steps:count
    inputs: {table: people}
    outputs: [summary]
"""


def _steps(report: dict) -> dict[str, dict]:
    return {s["name"]: s for s in report["steps"]}


def test_rows_in_out_quarantined_per_step(tmp_path: Path) -> None:
    write_project(tmp_path, CLEAN_YAML, CLEAN_STEPS)
    cli("init", cwd=tmp_path, check=True)
    first = json.loads(cli("run", "--json", cwd=tmp_path, check=True).stdout)
    steps = _steps(first)
    assert set(steps["clean"]) >= {
        "name",
        "status",
        "fingerprint",
        "seconds",
        "outputs",
        "rows",
        "metrics",
        "gates",
    }
    assert steps["raw"]["rows"] == {"in": None, "out": 10, "quarantined": None}
    # the output renamed `rejected` is the function's `quarantine`: counted apart from `out`
    assert steps["clean"]["rows"] == {"in": 10, "out": 8, "quarantined": 2}
    assert steps["count"]["rows"] == {"in": 8, "out": None, "quarantined": None}
    assert steps["clean"]["gates"] == [] and "clean.seconds" not in steps["raw"]["metrics"]
    text = cli("show", first["run_id"], cwd=tmp_path, check=True).stdout
    header = next(line for line in text.splitlines() if line.startswith("step"))
    assert header.split()[:7] == ["step", "status", "seconds", "rows", "in", "rows", "out"]
    clean_line = next(line for line in text.splitlines() if line.startswith("clean "))
    assert clean_line.split()[3:6] == ["10", "8", "2"]
    # a cache hit knows its rows too (from the artifact records, nothing is read again)
    second = json.loads(cli("run", "--json", cwd=tmp_path, check=True).stdout)
    assert {s["status"] for s in second["steps"]} == {"cached"}
    assert _steps(second)["clean"]["rows"] == {"in": 10, "out": 8, "quarantined": 2}
    shown = json.loads(cli("show", second["run_id"], "--json", cwd=tmp_path, check=True).stdout)
    assert [s["rows"] for s in shown["steps"]] == [s["rows"] for s in second["steps"]]


def test_metrics_and_gates_per_step_and_for_a_cache_hit(tmp_path: Path) -> None:
    root = tmp_path / "p"
    make(root)
    first = json.loads(cli("run", "--json", cwd=root, check=True).stdout)
    evaluate = _steps(first)["evaluate"]
    split = _steps(first)["split"]
    assert split["rows"]["in"] == 2000 and split["rows"]["out"] == 2000
    assert split["metrics"]["test_rows"] == evaluate["rows"]["in"]
    assert 0.8 < evaluate["metrics"]["accuracy"] <= 1
    gates = evaluate["gates"]
    assert [g["name"] for g in gates] == [
        "accuracy >= 0.7",
        "f1_macro no worse than production (tolerance 0.01)",
    ]
    assert gates[0]["value"] == evaluate["metrics"]["accuracy"] and gates[0]["threshold"] == 0.7
    assert [g["passed"] for g in gates] == [True, True] and gates[1]["threshold"] is None
    assert _steps(first)["train"]["gates"] == [] and _steps(first)["train"]["rows"]["out"] is None
    text = cli("show", first["run_id"], cwd=root, check=True).stdout
    assert "evaluate gates" in text and "threshold" in text
    gate_line = next(line for line in text.splitlines() if line.startswith("accuracy >= 0.7"))
    assert gate_line.split()[-3:] == [f"{gates[0]['value']:.6g}", "0.7", "pass"]
    assert f"accuracy={evaluate['metrics']['accuracy']:.6g}" in text
    # all cached: the figures are those of the run that computed them, and it says which
    second = json.loads(cli("run", "--json", cwd=root, check=True).stdout)
    cached = _steps(second)["evaluate"]
    assert cached["status"] == "cached" and cached["recorded_in"] == first["run_id"]
    assert cached["gates"] == gates and cached["metrics"] == evaluate["metrics"]
    again = cli("show", second["run_id"], cwd=root, check=True).stdout
    assert f"evaluate gates (cached: as computed in run {first['run_id']})" in again


def test_a_failed_gate_keeps_its_table(tmp_path: Path) -> None:
    root = tmp_path / "p"
    make(root, minimum=0.99)
    result = cli("run", "--json", cwd=root)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    evaluate = _steps(report)["evaluate"]
    assert evaluate["status"] == "failed" and evaluate["outputs"] == {}
    assert [(g["threshold"], g["passed"]) for g in evaluate["gates"]] == [(0.99, False), (None, True)]
    assert evaluate["gates"][0]["value"] == evaluate["metrics"]["accuracy"] < 0.99
    shown = json.loads(cli("show", report["run_id"], "--json", cwd=root).stdout)
    assert _steps(shown)["evaluate"]["gates"] == evaluate["gates"]
    text = cli("show", report["run_id"], cwd=root).stdout
    fail = next(line for line in text.splitlines() if line.startswith("accuracy >= 0.99"))
    assert fail.split()[-2:] == ["0.99", "FAIL"]
