"""`loopline drift REF CUR`: data-only drift between two datasets or files, no model, with the
tests, threshold and report of `monitor` (its code, not a copy: the figures are the same)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loopline.core.errors import InvalidInput
from loopline.monitor import MonitorConfig, build_profile, drift
from loopline.monitor.report import data_drift_report
from tests.conftest import cli
from tests.monitor.shifts import SHIFTED, frames


@pytest.fixture(scope="module")
def tables():
    reference, current = frames(30_000)
    return reference, current


def test_the_report_is_monitors_drift_on_the_same_data(tables):
    reference, current = tables
    report = data_drift_report(reference, current, names=("ref", "cur"))
    theirs = drift(build_profile(reference).columns, current)
    assert report["drift"] == theirs
    assert {c["name"] for c in report["drift"]["columns"] if c["drifted"]} == set(SHIFTED)
    assert report["model"] is None and report["reference"]["table"] == "ref" and report["current"] == "cur"
    assert report["quality"]["issues"]  # cat_3's unseen category is a quality issue too
    picked = data_drift_report(reference, current, names=("ref", "cur"), columns=["num_01", "cat_1"])
    assert [c["name"] for c in picked["drift"]["columns"]] == ["num_01", "cat_1"]
    bh = data_drift_report(reference, current, names=("r", "c"), config=MonitorConfig(correction="bh"))
    assert bh["drift"]["correction"] == "bh"
    with pytest.raises(InvalidInput, match="cur has no column 'num_02'"):
        data_drift_report(reference, current.drop("num_02"), names=("ref", "cur"), columns=["num_02"])
    with pytest.raises(InvalidInput, match="no column in common"):
        data_drift_report(reference.select("num_00"), current.select("num_01"), names=("ref", "cur"))


def test_drift_cli_on_datasets_and_files(tables, tmp_path: Path):
    reference, current = tables
    root = tmp_path / "proj"
    root.mkdir()
    cli("init", ".", cwd=root, check=True)
    reference.write_csv(root / "ref.csv")
    cli("add", "ref.csv", "--name", "features", cwd=root, check=True)
    current.write_ndjson(root / "cur.jsonl")
    current.drop(list(SHIFTED)).write_parquet(root / "calm.parquet")

    out = cli("drift", "features@1", "cur.jsonl", "--json", "--html", "report.html", cwd=root)
    assert out.returncode == 1, out.stderr  # drift over the threshold, as `monitor`
    report = json.loads(out.stdout)
    assert {c["name"] for c in report["drift"]["columns"] if c["drifted"]} == set(SHIFTED)
    assert report["drift"]["tested"] == 25 and report["window"]["rows"] == 30_000
    html = (root / "report.html").read_text()
    assert "cur.jsonl against features@1" in html and "plotly" in html.lower()

    calm = cli("drift", "features", "calm.parquet", cwd=root)
    assert calm.returncode == 0, calm.stderr
    assert "no drift, 0 of 20 columns" in calm.stdout

    only = json.loads(
        cli("drift", "ref.csv", "cur.jsonl", "--columns", "num_01,num_02", "--json", cwd=root).stdout
    )
    assert [c["name"] for c in only["drift"]["columns"]] == ["num_01", "num_02"] and not only["drift"][
        "drifted"
    ]

    for args, said in (
        (("features", "cur.jsonl", "--columns", "nope"), "features has no column 'nope'"),
        (("features", "missing.csv"), "no file missing.csv"),
        (("nosuch", "cur.jsonl"), "no artifact named 'nosuch'"),
    ):
        bad = cli("drift", *args, cwd=root)
        text = bad.stdout + bad.stderr
        assert bad.returncode == 2 and said in text and "Traceback" not in text
