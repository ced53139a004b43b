"""What the command line shows a user: runs with their trials folded, --version, the commented
init template, diff samples and head previews as readable rows, listings that fit the terminal."""

from __future__ import annotations

import json
import os
from datetime import date, datetime
from pathlib import Path

import polars as pl
import yaml

from loopline import Project
from loopline.pipeline.config import read_project_file
from tests.conftest import cli
from tests.train.test_train import tune_project

NARROW = {**os.environ, "COLUMNS": "80"}


def test_runs_fold_trials_under_their_run(tmp_path: Path) -> None:
    root = tune_project(tmp_path / "p")
    cli("init", cwd=root, check=True)
    run = json.loads(cli("run", "--json", cwd=root, check=True).stdout)
    listed = json.loads(cli("runs", "--json", cwd=root, check=True).stdout)
    assert [r["run_id"] for r in listed] == [run["run_id"]]  # the 6 trials are not runs of their own
    assert listed[0]["trials"] == 6 and "children" not in listed[0]
    everything = json.loads(cli("runs", "--all", "--json", cwd=root, check=True).stdout)
    children = everything[0]["children"]
    assert [c["name"] for c in children] == [f"trial-{i}" for i in range(6)]
    assert {c["tags"]["loopline.parent_run"] for c in children} == {run["run_id"]}
    starts = [datetime.fromisoformat(c["started_at"]) for c in children]
    assert starts == sorted(starts) and len(set(starts)) == 6
    # each trial is stamped with its own start: within the run, not all at the moment it ended
    began = datetime.fromisoformat(everything[0]["started_at"])
    ended = datetime.fromisoformat(everything[0]["finished_at"])
    assert began <= starts[0] and starts[-1] <= ended
    assert all(datetime.fromisoformat(c["finished_at"]) >= s for c, s in zip(children, starts, strict=True))
    folded = cli("runs", cwd=root, env=NARROW, check=True).stdout
    assert run["run_id"] in folded and "6 trials" in " ".join(folded.split()) and "trial-0" not in folded
    assert "`loopline runs --all` lists them" in folded
    shown = cli("runs", "--all", cwd=root, env=NARROW, check=True).stdout
    lines = shown.splitlines()
    parent = next(i for i, line in enumerate(lines) if line.startswith(run["run_id"]))
    trials = [i for i, line in enumerate(lines) if line.startswith("  trial-")]
    assert [lines[i].split()[0] for i in trials] == [f"trial-{i}" for i in range(6)] and trials[0] > parent
    assert all(len(line) <= 80 for line in lines)
    # the search view lists the trials themselves: ids and names whole, params go first
    found = cli(
        "runs", "-e", "tune", "--metric", "f1_macro", "--sort", cwd=root, env=NARROW, check=True
    ).stdout
    rows = found.splitlines()
    assert rows[0].split()[:2] == ["run", "name"] and "params" not in rows[0]
    assert sorted(line.split()[1] for line in rows[1:]) == [f"trial-{i}" for i in range(6)]
    assert {line.split()[0] for line in rows[1:]} == {c["run_id"] for c in children}
    assert all(len(line) <= 80 for line in rows)


def test_version_and_init_template(tmp_path: Path) -> None:
    from loopline import __version__

    version = cli("--version", cwd=tmp_path, check=True)
    assert version.stdout == f"loopline {__version__}\n"
    cli("init", str(tmp_path / "p"), cwd=tmp_path, check=True)
    text = (tmp_path / "p" / "loopline.yaml").read_text()
    assert yaml.safe_load(text) == {"steps": {}}  # empty-ish: only comments besides
    for section in ("# project:", "# sources:", "# steps:", "#     uses: loopline.clean:apply"):
        assert section in text
    # uncommented, the examples are a valid project file
    body = "\n".join(
        line[2:] for line in text.splitlines() if line.startswith("# ") and not line.startswith("# loopline")
    )
    uncommented = "\n".join(line for line in body.splitlines() if not line.startswith("`loopline status`"))
    (tmp_path / "q").mkdir()
    (tmp_path / "q" / "loopline.yaml").write_text(uncommented)
    parsed = read_project_file(tmp_path / "q" / "loopline.yaml")
    assert list(parsed.sources) == ["people"] and list(parsed.steps) == ["clean", "train"]
    assert parsed.project["store"].startswith("postgresql")
    status = cli("status", cwd=tmp_path / "p")
    assert (
        status.returncode == 2 and "declares no steps" in status.stderr and "Traceback" not in status.stderr
    )


def _dated(root: Path, rows: list[tuple[int, str, date, datetime]]) -> Path:
    path = root / "people.parquet"
    pl.DataFrame(
        rows,
        schema={"id": pl.Int64, "name": pl.String, "signup": pl.Date, "seen": pl.Datetime("us")},
        orient="row",
    ).write_parquet(path)
    return path


def test_diff_and_head_print_readable_rows(tmp_path: Path) -> None:
    cli("init", cwd=tmp_path, check=True)
    long_name = "carol-with-a-rather-long-name-that-must-not-be-cut"
    first = [
        (1, "alice", date(2024, 1, 5), datetime(2024, 1, 5, 10, 0)),
        (2, "bob", date(2024, 2, 1), datetime(2024, 2, 1, 11, 30)),
    ]
    cli("add", str(_dated(tmp_path, first)), "--name", "people", cwd=tmp_path, check=True)
    second = [
        first[0],
        (2, "bobby", date(2024, 2, 1), datetime(2024, 2, 1, 11, 30)),
        (3, long_name, date(2024, 3, 1), datetime(2024, 3, 1, 9, 0)),
    ]
    cli("add", str(_dated(tmp_path, second)), "--name", "people", cwd=tmp_path, check=True)
    diff = json.loads(
        cli("diff", "people@1", "people@2", "--key", "id", "--json", cwd=tmp_path, check=True).stdout
    )
    assert diff["sample"]["added"][0]["signup"] == "2024-03-01"
    assert diff["sample"]["added"][0]["seen"] == "2024-03-01T09:00:00"
    text = cli("diff", "people@1", "people@2", "--key", "id", cwd=tmp_path, env=NARROW, check=True).stdout
    assert "datetime" not in text and "{" not in text  # rows, not Python reprs
    changed = next(line for line in text.splitlines() if line.startswith("2 "))
    assert changed.split() == ["2", "bobby", "2024-02-01", "2024-02-01T11:30:00"]
    assert "added (first 1 of 1)" in text and "changed (first 1 of 1)" in text
    head = json.loads(cli("head", "people", "-n", "2", "--json", cwd=tmp_path, check=True).stdout)
    assert head["artifact"]["version"] == 2 and [r["id"] for r in head["rows"]] == [1, 2]
    assert head["rows"][1] == {
        "id": 2,
        "name": "bobby",
        "signup": "2024-02-01",
        "seen": "2024-02-01T11:30:00",
    }
    shown = cli("head", "people@1", cwd=tmp_path, env=NARROW, check=True).stdout
    assert shown.splitlines()[0] == "people@1: first 2 of 2 rows"
    assert shown.splitlines()[2].split() == ["1", "alice", "2024-01-05", "2024-01-05T10:00:00"]
    wide = cli(
        "head", "people", "-n", "3", cwd=tmp_path, env={**os.environ, "COLUMNS": "60"}, check=True
    ).stdout
    header = wide.splitlines()[1]
    start, end = header.index("name"), header.index("signup")
    column = "".join(line[start:end].strip() for line in wide.splitlines()[2:])
    assert long_name in column and "…" not in wide  # folded, never cut
    missing = cli("head", "nobody", cwd=tmp_path)
    assert missing.returncode == 2 and "no artifact named 'nobody'" in missing.stderr
    negative = cli("head", "people", "-n", "-1", cwd=tmp_path)
    assert negative.returncode == 2 and "Traceback" not in negative.stderr


def test_listings_keep_names_whole_at_80_columns(tmp_path: Path) -> None:
    cli("init", cwd=tmp_path, check=True)
    names = ["a-dataset-with-a-long-descriptive-name-v1", "short"]
    (tmp_path / "deep" / "folder" / "with" / "a" / "long" / "path").mkdir(parents=True)
    for name in names:
        path = tmp_path / "deep" / "folder" / "with" / "a" / "long" / "path" / f"{name}.csv"
        path.write_text("a,b\n1,2\n")
        cli("add", str(path), "--name", name, cwd=tmp_path, check=True)
    text = cli("datasets", cwd=tmp_path, env=NARROW, check=True).stdout
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert lines[0].split()[:2] == ["name", "version"]
    assert [line.split()[0] for line in lines[1:]] == sorted(names)  # whole, one per line
    wide = cli(
        "datasets", cwd=tmp_path, env={**os.environ, "COLUMNS": "400"}, check=True
    ).stdout  # tmp paths are long
    assert "source" in wide.splitlines()[0] and "deep/folder/with/a/long/path" in wide, wide


def test_project_open_takes_a_str_or_a_path(tmp_path: Path) -> None:
    Project.init(str(tmp_path / "p"))
    assert Project.open(str(tmp_path / "p")).root == Project.open(tmp_path / "p").root == tmp_path / "p"


def test_head_of_a_wide_table_keeps_names_whole_and_names_what_did_not_fit(tmp_path: Path) -> None:
    cli("init", cwd=tmp_path, check=True)
    wide = tmp_path / "wide.csv"
    pl.DataFrame({f"column_{i}": [0.123456 * i, 1.5] for i in range(1, 13)}).write_csv(wide)
    cli("add", str(wide), "--name", "wide", cwd=tmp_path, check=True)
    shown = cli("head", "wide", cwd=tmp_path, env=NARROW, check=True).stdout.splitlines()
    header = shown[1].split()
    assert header == [f"column_{i}" for i in range(1, len(header) + 1)] and 4 <= len(header) < 12
    assert all(len(line) <= 80 for line in shown[1:4])  # the table fits; the note may wrap
    rest = ", ".join(f"column_{i}" for i in range(len(header) + 1, 13))
    assert f"{12 - len(header)} more column(s) than fit: {rest}" in " ".join(shown)


def test_final_error_keeps_a_multiline_message_and_drops_the_frames() -> None:
    from loopline.cli.render import final_error

    recorded = (
        "Traceback (most recent call last):\n"
        '  File "steps.py", line 3, in double\n'
        "    return rows.select(pl.col('missing'))\n"
        "           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
        'polars.exceptions.ColumnNotFoundError: unable to find column "missing"\n'
        "\n"
        "This error occurred in the following expression:\n"
        '\tcol("missing")\n'
    )
    shown = final_error(recorded)
    assert shown.startswith("polars.exceptions.ColumnNotFoundError: unable to find column")
    assert 'col("missing")' in shown and "File" not in shown
    gate = "loopline.core.errors.GateFailed: gate accuracy failed\n  accuracy 0.5 < 0.9\n"
    assert final_error(gate) == "GateFailed: gate accuracy failed\n  accuracy 0.5 < 0.9"
