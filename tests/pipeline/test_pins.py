"""Pinned inputs: `inputs: {numbers: numbers@1}` reads that stored version, whatever the latest
is; the fingerprint is that of any input with that artifact, so a pin to the latest version is a
cache hit, and the run records the exact version it read."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import loopline
from loopline.core.errors import ConfigError
from loopline.project import Project
from tests.conftest import cli, write_project

STEPS = """
import polars as pl


def square(numbers, power):
    return numbers.with_columns(sq=pl.col("i") ** power)


def square_table(table, power):
    return square(table, power)


def make():
    return pl.DataFrame({"i": [7]})
"""


def pinned(inputs: str, uses: str = "steps:square") -> str:
    return f"""
steps:
  square:
    uses: {uses}
    inputs: {inputs}
    params: {{power: 2}}
    outputs: [squares]
"""


@pytest.fixture(autouse=True)
def _fresh_step_modules():
    sys.modules.pop("steps", None)
    yield
    sys.modules.pop("steps", None)


def two_versions(root: Path, inputs: str) -> Project:
    """A project whose dataset `numbers` has version 1 (i = 1, 2) and version 2 (i = 1, 2, 3)."""
    write_project(root, pinned(inputs), STEPS)
    project = Project.init(root)
    for rows in ("1,0.5\n2,0.25\n", "1,0.5\n2,0.25\n3,0.125\n"):
        (root / "numbers.csv").write_text("i,noise\n" + rows)
        project.add(root / "numbers.csv", "numbers")
    return project


def reopen(root: Path, inputs: str, uses: str = "steps:square") -> Project:
    sys.modules.pop("steps", None)
    (root / "loopline.yaml").write_text(pinned(inputs, uses))
    return Project.open(root)


def test_a_pinned_input_reads_that_version_and_the_run_records_it(tmp_path: Path) -> None:
    project = two_versions(tmp_path, "{numbers: numbers@1}")
    first = project.meta.get_version("numbers", 1)
    run = project.run()
    assert run.status == "succeeded", run.steps
    assert project.load("squares")["sq"].to_list() == [1.0, 4.0]  # version 1, not the latest
    step = run.steps[0]
    assert step.inputs == {"numbers": first.id}
    assert step.bindings["versions"] == {"numbers": "numbers@1"}
    assert step.to_json()["input_versions"] == {"numbers": "numbers@1"}
    _, ancestors, _ = project.lineage("squares")
    assert [c.artifact.id for c in ancestors.children] == [first.id]


def test_list_form_and_a_renamed_argument(tmp_path: Path) -> None:
    project = two_versions(tmp_path, "[numbers@1]")
    assert project.run().status == "succeeded"
    assert project.load("squares")["sq"].to_list() == [1.0, 4.0]
    again = reopen(tmp_path, "{table: numbers@2}", "steps:square_table")
    run = again.run()
    assert run.status == "succeeded", run.steps
    assert again.load("squares")["sq"].to_list() == [1.0, 4.0, 9.0]
    assert run.steps[0].bindings["args"] == {"numbers": "table"}


def test_pinning_the_latest_version_is_a_cache_hit_and_another_version_is_not(tmp_path: Path) -> None:
    project = two_versions(tmp_path, "[numbers]")
    latest = project.run()
    assert [s.status for s in latest.steps] == ["ran"]
    same = reopen(tmp_path, "[numbers@2]")
    assert [s.state for s in same.status()] == ["fresh"]
    hit = same.run()
    assert [s.status for s in hit.steps] == ["cached"]
    assert hit.steps[0].fingerprint == latest.steps[0].fingerprint
    assert hit.steps[0].bindings["versions"] == {"numbers": "numbers@2"}
    older = reopen(tmp_path, "[numbers@1]")
    assert older.status()[0].reasons == ["input: numbers changed"]
    miss = older.run()
    assert [s.status for s in miss.steps] == ["ran"]
    assert miss.steps[0].fingerprint != latest.steps[0].fingerprint
    assert older.load("squares")["sq"].to_list() == [1.0, 4.0]


def test_unknown_versions_and_datasets_fail_before_anything_runs(tmp_path: Path) -> None:
    project = two_versions(tmp_path, "{numbers: numbers@5}")
    with pytest.raises(ConfigError) as caught:
        project.run()
    message = caught.value.render()
    assert "input 'numbers@5' of step 'square'" in message and "versions are 1 to 2" in message
    assert project.status()[0].reasons == ["input numbers: no version 5 of numbers"]
    result = cli("run", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "numbers has no version 5 (its versions are 1 to 2)" in result.stderr
    assert "Traceback" not in result.stderr
    for inputs, expected in (
        (
            "{numbers: nothing@1}",
            "input 'nothing@1' of step 'square' is produced by no step and is not a dataset",
        ),
        ("[numbers@0]", "step 'square': input 'numbers@0' has version '0', not a number from 1"),
        ("[numbers@two]", "has version 'two', not a number from 1"),
        ("{numbers: numbers@1, power: numbers@2}", "step 'square' reads 'numbers' twice"),
    ):
        (tmp_path / "loopline.yaml").write_text(pinned(inputs))
        result = cli("run", cwd=tmp_path)
        assert result.returncode == 2, (inputs, result.stdout, result.stderr)
        assert expected in result.stderr and "Traceback" not in result.stderr
    assert Project.open(tmp_path).meta.count_runs() == 0  # nothing ran, nothing was recorded


def test_a_pin_reads_the_stored_version_of_what_a_step_of_the_pipeline_makes(tmp_path: Path) -> None:
    """Train on numbers@1 while collection (here a step) goes on making new versions."""
    project = two_versions(tmp_path, "[numbers@1]")
    yaml_text = pinned("[numbers@1]") + "  make:\n    uses: steps:make\n    outputs: [numbers]\n"
    (tmp_path / "loopline.yaml").write_text(yaml_text)
    pipeline = Project.open(tmp_path).pipeline()
    assert pipeline.upstream("square") == []  # it waits for no step
    run = Project.open(tmp_path).run()
    assert run.status == "succeeded", run.steps
    assert project.load("squares")["sq"].to_list() == [1.0, 4.0]
    assert project.load("numbers")["i"].to_list() == [7]  # `make` made version 3
    assert [v.version for v in project.versions("numbers")] == [1, 2, 3]


def test_the_python_api_takes_the_same_pins(tmp_path: Path) -> None:
    project = two_versions(tmp_path, "{numbers: numbers@1}")
    yaml_run = project.run()
    sys.path.insert(0, str(tmp_path))
    import steps  # type: ignore[import-not-found]

    for inputs in (["numbers@1"], {"numbers": "numbers@1"}):
        made = loopline.step(outputs=["squares"], inputs=inputs, params={"power": 2}, name="square")
        pipeline = loopline.Pipeline([made(steps.square)])
        assert dict(pipeline.steps["square"].pins) == {"numbers": 1}
        run = project.run(pipeline)
        assert [s.status for s in run.steps] == ["cached"]
        assert run.steps[0].fingerprint == yaml_run.steps[0].fingerprint
