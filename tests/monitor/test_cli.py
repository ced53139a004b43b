"""`loopline monitor` as a user runs it: exit 0 without drift (and on an empty window), 1 with
drift, 2 on bad input; --json, --html, --fleet on the local executor and on Dask."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from loopline.core.errors import InvalidInput
from loopline.project import Project
from tests.conftest import cli
from tests.monitor.conftest import NOW, Setup, make_setup, sample


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    made = make_setup(tmp_path_factory.mktemp("monitor") / "proj")
    made.log(made.project.load("table").head(500), start=NOW, prefix="calm")  # hour 0: as trained
    made.log(sample(500, 3, shift=1.0), start=NOW + timedelta(hours=1), prefix="moved")  # hour 1
    made.project.close()
    yield made


def window(hour: int) -> list[str]:
    start = NOW + timedelta(hours=hour)
    return ["--since", start.isoformat(), "--until", (start + timedelta(hours=1)).isoformat()]


def test_no_drift_exits_0(logged: Setup):
    result = cli("monitor", "clf", *window(0), cwd=logged.root)
    assert result.returncode == 0, result.stderr
    assert "no drift, 0 of 5 columns" in result.stdout


def test_drift_exits_1_and_json_has_the_contract(logged: Setup, tmp_path: Path):
    html = tmp_path / "report.html"
    result = cli("monitor", "clf", *window(1), "--json", "--html", str(html), cwd=logged.root)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["model"] == "clf" and report["version"] == logged.version
    assert report["window"]["rows"] == 500
    assert report["window"]["since"].startswith("2030-01-01T13:00")
    assert report["drift"]["drifted"] and report["drift"]["share"] == pytest.approx(0.2)
    column = next(c for c in report["drift"]["columns"] if c["name"] == "x1")
    assert {"name", "test", "statistic", "p_value", "drifted"} <= set(column) and column["drifted"]
    for key in ("prediction_drift", "quality", "performance", "estimated_performance", "alerts", "report_id"):
        assert key in report
    assert "figures" not in report  # in the artifact and the server, not on the terminal
    page = html.read_text()
    assert "Plotly" in page and "<script src=" not in page  # plotly.js inlined: opens offline


def test_empty_window_exits_0_and_says_so(logged: Setup):
    result = cli("monitor", "clf", *window(7), cwd=logged.root)
    assert result.returncode == 0, result.stderr
    assert "no predictions of clf between" in result.stdout


def test_a_data_file_window(logged: Setup, tmp_path: Path):
    path = tmp_path / "current.csv"
    sample(1000, 9, shift=1.0).write_csv(path)
    assert cli("monitor", "clf", "--data", str(path), cwd=logged.root).returncode == 1


@pytest.mark.parametrize(
    "args",
    [
        ("clf", "--since", "yesterday"),
        ("nope",),
        ("clf", "--data", "missing.parquet"),
        ("clf", "--fleet"),
    ],
)
def test_bad_input_exits_2(logged: Setup, args: tuple[str, ...]):
    result = cli("monitor", *args, cwd=logged.root)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "error" in result.stderr.lower()


def test_fleet_on_dask(logged: Setup):
    until = (NOW + timedelta(hours=2)).isoformat()
    result = cli(
        "monitor",
        "--fleet",
        "--executor",
        "dask",
        "--json",
        *window(0)[:2],
        "--until",
        until,
        cwd=logged.root,
    )
    assert result.returncode == 1, result.stderr  # all of clf's log: half of it moved
    rows = json.loads(result.stdout)
    assert [(r["model"], r["rows"], r["drifted"]) for r in rows] == [("clf", 1000, True)]


def test_fleet_in_process_and_its_bad_input(logged: Setup):
    project = Project.open(logged.root)
    try:
        rows = project.monitor_fleet(since=NOW, until=NOW + timedelta(hours=1))
        assert [(r["model"], r["rows"], r["drifted"]) for r in rows] == [("clf", 500, False)]
        with pytest.raises(InvalidInput, match="unknown executor"):
            project.monitor_fleet(executor="spark")
        late = project.monitor_fleet(since=NOW)  # until defaults to now, before the log's 2030
        assert "after it ends" in late[0]["error"]
    finally:
        project.close()
