"""The CLI as a user runs it, in a subprocess: JSON shapes, exit codes, clear errors for bad input,
and data versioning (add, datasets, diff, checkout)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tests.conftest import cli, write_project

STEPS = """
import polars as pl

def make(n):
    return pl.DataFrame({"i": list(range(n))})

def double(rows, factor):
    return rows.with_columns(d=pl.col("i") * factor)

def plain(x):
    return x

def either(x=None, y=None):
    return x if x is not None else y
"""

GOOD = """
steps:
  make:
    uses: steps:make
    params: {n: 10}
    outputs: [rows]
  double:
    uses: steps:double
    inputs: [rows]
    params: {factor: 2}
    outputs: [doubled]
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write_project(tmp_path, GOOD, STEPS)
    cli("init", cwd=tmp_path, check=True)
    return tmp_path


def test_init_creates_project_with_wal_sqlite(tmp_path: Path) -> None:
    result = cli("init", str(tmp_path / "new"), cwd=tmp_path, check=True)
    assert "initialised" in result.stdout
    assert (tmp_path / "new" / "loopline.yaml").exists()
    db = tmp_path / "new" / ".loopline" / "metadata.db"
    import sqlite3

    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_run_json_shape_then_all_cached(project: Path) -> None:
    first = json.loads(cli("run", "--json", cwd=project, check=True).stdout)
    assert set(first) >= {"run_id", "status", "steps"} and first["status"] == "succeeded"
    for step in first["steps"]:
        assert set(step) >= {"name", "status", "fingerprint", "seconds", "outputs"}
        assert step["status"] == "ran" and len(step["fingerprint"]) == 64
    second = cli("run", cwd=project, check=True)
    assert "all 2 steps were cache hits" in second.stdout
    shown = json.loads(cli("show", first["run_id"], "--json", cwd=project, check=True).stdout)
    assert shown["run_id"] == first["run_id"] and shown["environment"]["python"]
    assert [s["outputs"] for s in shown["steps"]] == [s["outputs"] for s in first["steps"]]
    runs = json.loads(cli("runs", "--json", cwd=project, check=True).stdout)
    assert [r["run_id"] for r in runs][1] == first["run_id"] and len(runs) == 2


def test_status_explains_staleness(project: Path) -> None:
    cli("run", cwd=project, check=True)
    text = (project / "loopline.yaml").read_text().replace("factor: 2", "factor: 3")
    (project / "loopline.yaml").write_text(text)
    status = json.loads(cli("status", "--json", cwd=project, check=True).stdout)
    assert status["steps"] == [
        {"name": "make", "state": "fresh", "reasons": []},
        {"name": "double", "state": "stale", "reasons": ["params: factor changed"]},
    ]


def test_lineage_json_and_tree(project: Path) -> None:
    cli("run", cwd=project, check=True)
    data = json.loads(cli("lineage", "rows", "--json", cwd=project, check=True).stdout)
    assert data["artifact"]["name"] == "rows" and data["ancestors"] == []
    assert [(d["name"], d["step"], d["depth"]) for d in data["descendants"]] == [("doubled", "double", 1)]
    up = json.loads(cli("lineage", "doubled@1", "--json", cwd=project, check=True).stdout)
    assert [(a["name"], a["step"]) for a in up["ancestors"]] == [("rows", "make")]
    tree = cli("lineage", "doubled", cwd=project, check=True).stdout
    assert "rows@1" in tree and "made by step make" in tree


def test_reproduce_exit_codes(project: Path) -> None:
    run_id = json.loads(cli("run", "--json", cwd=project, check=True).stdout)["run_id"]
    same = cli("reproduce", run_id, "--json", cwd=project)
    assert same.returncode == 0, same.stderr
    report = json.loads(same.stdout)
    assert report["identical"] is True and report["run_id"] == run_id
    assert {a["name"] for a in report["artifacts"]} == {"rows", "doubled"}
    steps = (project / "steps.py").read_text().replace("* factor", "* factor + 1")
    (project / "steps.py").write_text(steps)
    changed = cli("reproduce", run_id, cwd=project)
    assert changed.returncode == 1
    assert "DIFFERS doubled" in changed.stdout and "code changed since the run" in changed.stdout


def test_failed_step_exit_1_with_short_error(project: Path) -> None:
    (project / "steps.py").write_text(
        STEPS.replace('rows.with_columns(d=pl.col("i") * factor)', 'rows.select(pl.col("missing"))')
    )
    result = cli("run", cwd=project)
    assert result.returncode == 1
    assert "step double failed" in result.stdout and "ColumnNotFoundError" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


BAD_CONFIGS = {
    "unknown key": (
        "steps:\n  a:\n    uses: steps:plain\n    inputs: [q]\n    outputs: [x]\n    colour: red\n",
        "loopline.yaml:6: unknown key 'colour' in step 'a'",
    ),
    "missing uses": ("steps:\n  a:\n    outputs: [x]\n", "loopline.yaml:2: step 'a' has no `uses`"),
    "import fails": (
        "steps:\n  a:\n    uses: nosuch.mod:f\n    outputs: [x]\n",
        "loopline.yaml:3: cannot import module 'nosuch.mod'",
    ),
    "no function": (
        "steps:\n  a:\n    uses: steps:zzz\n    outputs: [x]\n",
        "module 'steps' has no function 'zzz'",
    ),
    "cycle": (
        "steps:\n  a:\n    uses: steps:either\n    inputs: [y]\n    outputs: [x]\n"
        "  b:\n    uses: steps:either\n    inputs: [x]\n    outputs: [y]\n",
        "the pipeline has a cycle: a -> b -> a",
    ),
    "unproduced input": (
        "steps:\n  b:\n    uses: steps:plain\n    inputs: [x]\n    outputs: [y]\n",
        "input 'x' of step 'b' is produced by no step and is not a dataset",
    ),
    "unknown param": (
        "steps:\n  a:\n    uses: steps:make\n    params: {n: 1, m: 2}\n    outputs: [x]\n",
        "param 'm' is not an argument of steps:make",
    ),
    "bad yaml": ("steps:\n  a: [\n", "not valid YAML"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_exit_2_with_location_and_nothing_stored(project: Path, case: str) -> None:
    text, expected = BAD_CONFIGS[case]
    (project / "loopline.yaml").write_text(text)
    result = cli("run", cwd=project)
    assert result.returncode == 2, result.stdout + result.stderr
    assert expected in result.stderr and "hint:" in result.stderr
    assert "Traceback" not in result.stderr
    (project / "loopline.yaml").write_text(GOOD)
    assert json.loads(cli("runs", "--json", cwd=project, check=True).stdout) == []


def test_add_diff_checkout_roundtrip(project: Path, tmp_path: Path) -> None:
    data = tmp_path / "people.csv"
    data.write_bytes(b"id,name,age\n1,ann,30\n2,bob,41\n3,cy,25\n")
    first = json.loads(cli("add", str(data), "--name", "people", "--json", cwd=project, check=True).stdout)
    assert first["version"] == 1 and first["created"] is True and first["kind"] == "table"
    again = json.loads(cli("add", str(data), "--name", "people", "--json", cwd=project, check=True).stdout)
    assert again["created"] is False and again["version"] == 1 and again["hashed"] == 0
    data.write_bytes(b"id,name,age\n1,ann,31\n3,cy,25\n4,dee,52\n")
    second = json.loads(cli("add", str(data), "--name", "people", "--json", cwd=project, check=True).stdout)
    assert second["version"] == 2
    diff = json.loads(
        cli("diff", "people@1", "people@2", "--key", "id", "--json", cwd=project, check=True).stdout
    )
    assert (diff["added"], diff["removed"], diff["changed"], diff["unchanged"]) == (1, 1, 1, 1)
    assert diff["sample"]["changed"] == [{"id": 1, "name": "ann", "age": 31}]
    cli("checkout", "people@1", str(tmp_path / "out1"), cwd=project, check=True)
    assert (tmp_path / "out1" / "people.csv").read_bytes() == b"id,name,age\n1,ann,30\n2,bob,41\n3,cy,25\n"
    listing = json.loads(cli("datasets", "--json", cwd=project, check=True).stdout)
    assert [(d["name"], d["version"], d["versions"]) for d in listing] == [("people", 2, 2)]


def test_folder_add_and_checkout_byte_equal(project: Path, tmp_path: Path) -> None:
    folder = tmp_path / "images"
    (folder / "sub").mkdir(parents=True)
    files = {"a.png": os.urandom(3000), "sub/b.txt": b"hello\n", "sub/c.bin": b""}
    for name, content in files.items():
        (folder / name).write_bytes(content)
    cli("add", str(folder), "--name", "imgs", cwd=project, check=True)
    (folder / "sub" / "b.txt").write_bytes(b"changed\n")
    (folder / "d.txt").write_bytes(b"new")
    cli("add", str(folder), "--name", "imgs", cwd=project, check=True)
    diff = json.loads(cli("diff", "imgs@1", "imgs@2", "--json", cwd=project, check=True).stdout)
    assert (diff["added"], diff["removed"], diff["changed"]) == (1, 0, 1)
    assert diff["sample"] == {"added": ["d.txt"], "removed": [], "changed": ["sub/b.txt"]}
    out = tmp_path / "restored"
    cli("checkout", "imgs@1", str(out), cwd=project, check=True)
    restored = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert restored == files


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("add", "no/such/file.csv", "--name", "x"), "does not exist"),
        (("checkout", "people@7", "out"), "people has no version 7"),
        (("checkout", "ghost@1", "out"), "no artifact named 'ghost'"),
        (("diff", "people@1", "other@1"), "versions of different datasets"),
        (("show", "nope"), "no run 'nope'"),
        (("add", "people.csv", "--name", "bad name"), "is not valid"),
    ],
)
def test_bad_data_commands_exit_2(project: Path, args: tuple[str, ...], message: str) -> None:
    (project / "people.csv").write_text("id\n1\n")
    cli("add", "people.csv", "--name", "people", cwd=project, check=True)
    cli("add", "people.csv", "--name", "other", cwd=project, check=True)
    result = cli(*args, cwd=project)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_every_listing_has_json(project: Path) -> None:
    cli("run", cwd=project, check=True)
    for args in (("runs",), ("datasets",), ("status",), ("versions", "rows"), ("fsck",)):
        json.loads(cli(*args, "--json", cwd=project, check=True).stdout)


def test_demo_runs_the_whole_loop(tmp_path: Path) -> None:
    """The demo collects messy digits, cleans, takes a second batch, finds nothing new, has a crowd
    label the images; the loop trains, gates and promotes v1; it is served, traffic drifts,
    monitoring flags it and alerts; the loop collects, queues, the crowd labels, v2 passes its
    gates, the service swaps to it and does better on the new scanner; every run reproduces."""
    result = cli("demo", str(tmp_path / "demo"), cwd=tmp_path, check=True)
    out = result.stdout
    assert "collected digits@1: 1797 new" in out
    assert "quarantined at read: inbox/metadata/batch-1.csv line 103: expected 5 fields, found 3" in out
    assert "dedupe" in out and "label 11 is above max 9" in out
    assert "collected metadata@2: 297 new" in out
    assert "collect.digits ran, collect.metadata ran, clean cached, check cached" in out
    assert "project digits-labels: 1797 images, 5391 answers from 12 annotators" in out
    accuracy = dict(re.findall(r"^ (majority|dawid_skene)\s+([0-9.]+)", out, re.MULTILINE))
    assert float(accuracy["dawid_skene"]) >= float(accuracy["majority"]) > 0.8
    assert "spam01" in out.split("flagged by the gold policy")[1]
    # turn 1: the labels train a model: split, tune, evaluate on the sealed test set, gates, production
    assert "retrain: 1797 new labels (at least 200) -> version 1 (gates passed: True)" in out
    assert "split: labeled 1797" in out and "(test sealed)" in out
    measured = float(re.search(r"^ accuracy\s+([0-9.]+)", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
    assert measured >= 0.8
    assert "gate PASS: accuracy >= 0.8" in out and "no production model to compare with" in out
    assert "# Model card: model v1" in out
    # production: v1 is served; the second scanner's traffic drifts and v1 does badly on it
    served = {
        what: float(acc)
        for what, acc in re.findall(
            r"^  (scanner [12] traffic[^:]*): .*accuracy ([0-9.]+)", out, re.MULTILINE
        )
    }
    assert served["scanner 1 traffic"] > 0.9 and served["scanner 2 traffic"] < 0.6
    drift = re.search(r"drift in (\d+) of 64 features \(holm-corrected\): DRIFT", out)
    assert drift is not None and int(drift.group(1)) > 20
    assert "alert fired: drift_share > 0.2" in out
    # the loop: the new images are queued least-certain first, labeled, v2 trained and promoted
    assert "queue: 900 new tasks in digits-labels, 900 ranked by uncertainty" in out
    assert "retrain: no (waiting: 0 new labels of 200, drift seen)" in out
    assert "retrain: 900 new labels (at least 200) -> version 2 (gates passed: True)" in out
    assert "now serving v2: True" in out
    assert served["scanner 2 traffic, images never seen in training"] > served["scanner 2 traffic"] + 0.2
    reproduced = re.findall(r"reproduce \S+: (.*)", out)
    assert reproduced == ["every output bit-identical"] * 3, reproduced
    project = tmp_path / "demo"
    shown = json.loads(cli("show", "digits", "--json", cwd=project, check=True).stdout)
    assert [v["aliases"] for v in shown["versions"]] == [[], ["production", "staging"]]


def test_init_with_store_and_blobs_urls_runs_a_pipeline(tmp_path: Path, store_url: str) -> None:
    """`--store` picks the metadata engine (SQLite or PostgreSQL), `--blobs` any fsspec location."""
    blobs = f"file://{tmp_path / 'elsewhere' / 'blobs'}"
    cli("init", str(tmp_path / "p"), "--store", store_url, "--blobs", blobs, cwd=tmp_path, check=True)
    project = tmp_path / "p"
    text = (project / "loopline.yaml").read_text()
    assert store_url in text and blobs in text
    (project / "loopline.yaml").write_text(text.replace("steps: {}\n", GOOD))
    (project / "steps.py").write_text(STEPS)
    first = json.loads(cli("run", "--json", cwd=project, check=True).stdout)
    second = json.loads(cli("run", "--json", cwd=project, check=True).stdout)
    assert [s["status"] for s in second["steps"]] == ["cached", "cached"]
    assert [s["outputs"] for s in first["steps"]] == [s["outputs"] for s in second["steps"]]
    assert any((tmp_path / "elsewhere" / "blobs").rglob("*"))
    assert json.loads(cli("fsck", "--json", cwd=project, check=True).stdout)["ok"] is True
