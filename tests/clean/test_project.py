"""Clean and validate inside projects: steps on both executors, the CLI's exit codes and
messages, and export round trips."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from loopline.core.errors import ConfigError
from loopline.project import Project
from tests.conftest import cli, write_project

RAW = """id,age,name,email,country,amount
1,10,  Ann  ,A@x.com,FR,1.0
2, 20,bob,b@x,DE,2.0
3,abc,c,bad,XX,3.0
3,abc,c,bad,XX,3.0
4,,d,d@y.z,FR,4.0
5,150,e,e@e.e,US,1000
6,33,f,f@f.f,FR,5.5
6,33,f,f@f.f,FR,5.5
7,41,g,g@g.g,DE,2.5
"""

PIPELINE = """steps:
  clean:
    uses: loopline.clean:apply
    inputs: {table: raw}
    params:
      partition_rows: 2
      rules:
        - {rule: trim, columns: [age, name]}
        - {rule: cast, columns: {age: Int64}}
        - {rule: missing, column: age, action: fill, with: median}
        - {rule: range, column: AGE_COLUMN, min: 0, max: 120}
        - {rule: regex, column: email, pattern: '^[^@\\s]+@[^@\\s]+$'}
        - {rule: outliers, column: amount, method: zscore, threshold: 2}
        - {rule: dedupe}
        - {rule: filter, keep: "country <> 'XX'"}
    outputs: {clean: clean, quarantine: quarantine, report: clean_report}
  check:
    uses: loopline.clean:validate
    inputs: {table: clean}
    params:
      partition_rows: 2
      threshold: THRESHOLD
      expectations:
        - {expect: allowed, column: country, values: [FR, DE]}
        - {expect: unique, column: id}
        - {expect: mean, column: age, min: 0, max: 100}
    outputs: [validation]
expectations:
  clean:
    threshold: 0.0
    checks:
      - {expect: not_null, column: age}
      - {expect: range, column: amount, max: LIMIT}
"""


def project(tmp_path: Path, *, age: str = "age", threshold: str = "0.3", limit: str = "100") -> Project:
    text = PIPELINE.replace("AGE_COLUMN", age).replace("THRESHOLD", threshold).replace("LIMIT", limit)
    write_project(tmp_path, text)
    (tmp_path / "raw.csv").write_text(RAW)
    found = Project.init(tmp_path)
    found.add(tmp_path / "raw.csv", "raw")
    return found


def test_local_and_dask_runs_give_identical_artifact_ids(tmp_path: Path) -> None:
    ids = {}
    for executor in ("local", "dask"):
        proj = project(tmp_path / executor)
        run = proj.run(executor=executor)
        assert run.status == "succeeded", [s.error for s in run.steps]
        ids[executor] = {name: out for s in run.steps for name, out in s.outputs.items()}
        quarantine = proj.load("quarantine")
        assert quarantine.select("_row", "_reason").rows() == [
            (2, "age: 'abc' is not an Int64"),
            (3, "age: 'abc' is not an Int64"),
            (5, "age 150 is above max 120"),
            (7, "duplicate of row 6"),
        ]
        report = proj.load("clean_report")
        assert (report["rows_in"], report["rows_clean"], report["rows_quarantined"]) == (9, 5, 4)
        assert "timings" not in report  # as a step, timings are run metrics: the report stays reproducible
        metrics = {m["key"] for m in proj.metrics(run.id)}
        assert "clean.total_s" in metrics
        proj.close()
    assert ids["local"] == ids["dask"]
    assert set(ids["local"]) == {"clean", "quarantine", "clean_report", "validation"}


def test_a_rule_naming_a_missing_column_fails_before_anything_runs(tmp_path: Path) -> None:
    proj = project(tmp_path, age="agee")
    with pytest.raises(
        ConfigError, match=r"step 'clean': rule 4 \(range\): column 'agee' is not in the table"
    ):
        proj.run()
    assert proj.runs() == []
    result = cli("run", cwd=tmp_path)
    assert result.returncode == 2
    assert "rule 4 (range): column 'agee' is not in the table" in result.stderr
    assert "did you mean 'age'?" in result.stderr
    assert "Traceback" not in result.stderr
    assert json.loads(cli("runs", "--json", cwd=tmp_path).stdout) == []


def test_a_rename_step_and_its_clash_at_the_cli(tmp_path: Path) -> None:
    step = (
        "steps:\n  clean:\n    uses: loopline.clean:apply\n    inputs: {table: raw}\n"
        "    params: {rules: [RULES]}\n"
        "    outputs: {clean: clean, quarantine: quarantine, report: clean_report}\n"
    )
    rules = "{rename: {age: years}}, {rule: trim, columns: [years]}, {rule: cast, columns: {years: Int64}}"
    write_project(tmp_path, step.replace("RULES", rules))
    (tmp_path / "raw.csv").write_text(RAW)
    cli("init", cwd=tmp_path, check=True)
    cli("add", "raw.csv", "--name", "raw", cwd=tmp_path, check=True)
    cli("run", cwd=tmp_path, check=True)
    proj = Project.open(tmp_path)
    assert proj.load("clean").columns == ["id", "years", "name", "email", "country", "amount"]
    assert proj.load("quarantine").select("age", "_reason").rows() == [
        ("abc", "years: 'abc' is not an Int64"),
        ("abc", "years: 'abc' is not an Int64"),
    ]
    (tmp_path / "loopline.yaml").write_text(
        step.replace("RULES", "{rule: trim, columns: [name]}, " + rules.replace("years}", "name}", 1))
    )
    result = cli("run", cwd=tmp_path)
    assert result.returncode == 2
    assert "step 'clean': rule 2 (rename): column 'name' exists already" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(proj.runs()) == 1  # the failed one never started


def test_a_bad_regex_is_exit_2_naming_the_rule(tmp_path: Path) -> None:
    write_project(
        tmp_path,
        "steps:\n  clean:\n    uses: loopline.clean:apply\n    inputs: {table: raw}\n"
        "    params: {rules: [{rule: regex, column: email, pattern: '([a-z'}]}\n"
        "    outputs: {clean: clean, quarantine: quarantine, report: clean_report}\n",
    )
    (tmp_path / "raw.csv").write_text(RAW)
    cli("init", cwd=tmp_path, check=True)
    cli("add", "raw.csv", "--name", "raw", cwd=tmp_path, check=True)
    result = cli("run", cwd=tmp_path)
    assert result.returncode == 2
    assert "step 'clean': rule 1 (regex): bad regex '([a-z'" in result.stderr


def test_validate_step_fails_the_run_with_the_readable_report(tmp_path: Path) -> None:
    proj = project(tmp_path)
    text = (tmp_path / "loopline.yaml").read_text().replace("values: [FR, DE]", "values: [FR]")
    (tmp_path / "loopline.yaml").write_text(text)
    proj = Project.open(tmp_path)
    run = proj.run()
    assert run.status == "failed"
    check = next(s for s in run.steps if s.name == "check")
    assert check.status == "failed" and check.error is not None
    assert (
        "FAIL 1:allowed(country): 2 rows (40.00%, allowed 30.00%); e.g. row 1: 'DE', row 4: 'DE'"
        in check.error
    )
    assert "ok   2:unique(id): 0 rows" in check.error
    last = check.error.strip().splitlines()[-1]  # what `loopline run` prints for a failed step
    assert last.endswith("validation FAILED: 1 of 3 expectations failed on 5 rows (threshold 30.00%)")
    assert "validation" not in {n for s in run.steps for n in s.outputs}


def test_validate_cli_exit_codes_and_json(tmp_path: Path) -> None:
    project(tmp_path).close()
    cli("run", cwd=tmp_path, check=True)
    ok = cli("validate", "clean", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "validation passed: 0 of 2 expectations failed on 5 rows" in ok.stdout
    report = json.loads(cli("validate", "clean@1", "--json", cwd=tmp_path).stdout)
    assert report["passed"] and report["dataset"] == "clean" and report["rows"] == 5

    text = (tmp_path / "loopline.yaml").read_text().replace("max: 100", "max: 4")
    (tmp_path / "loopline.yaml").write_text(text)
    failed = cli("validate", "clean", cwd=tmp_path)
    assert failed.returncode == 1
    assert (
        "FAIL 2:range(amount): 1 rows (20.00%, allowed 0.00%); observed min 1.0, max 5.5; e.g. row 3: '5.5'"
        in failed.stdout
    )

    (tmp_path / "loopline.yaml").write_text(text.replace("column: amount", "column: amout"))
    bad = cli("validate", "clean", cwd=tmp_path)
    assert bad.returncode == 2
    assert "expectations of 'clean': expectation 2 (range): column 'amout' is not in the table" in bad.stderr
    assert cli("validate", "raw", cwd=tmp_path).returncode == 2  # no expectations declared for raw


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_export_round_trips(tmp_path: Path, fmt: str) -> None:
    proj = project(tmp_path)
    proj.run()
    target = tmp_path / "out" / f"clean.{fmt}"
    result = cli("export", "clean@1", str(target), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    expected = proj.load("clean")
    read = {"parquet": pl.read_parquet, "csv": pl.read_csv, "jsonl": pl.read_ndjson}[fmt](target)
    assert read.equals(expected)
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temp file left behind


def test_export_format_option_and_refusals(tmp_path: Path) -> None:
    proj = project(tmp_path)
    proj.run()
    art, path = proj.export("quarantine", tmp_path / "q.data", "csv")
    assert pl.read_csv(path)["_reason"].to_list()[0] == "age: 'abc' is not an Int64"
    assert art.name == "quarantine"
    assert cli("export", "clean", str(tmp_path / "x.txt"), cwd=tmp_path).returncode == 2
    assert cli("export", "clean_report", str(tmp_path / "r.csv"), cwd=tmp_path).returncode == 2
