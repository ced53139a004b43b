"""The runner through the Project API: cache hits, selective reruns, status reasons, failures,
reproduce, seeding and executors."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from loopline.project import Project
from tests.conftest import write_project

STEPS = """
import os
import random

import numpy as np
import polars as pl


def numbers(n):
    return pl.DataFrame({"i": list(range(n)), "noise": np.random.rand(n)})


def square(numbers, power):
    return numbers.with_columns(sq=pl.col("i") ** power)


def total(squares, ctx):
    ctx.log_metric("rows", squares.height)
    return {"sum": float(squares["sq"].sum()), "pick": random.random()}


def shout(squares):
    return squares.head(3)


def boom(squares):
    raise ValueError("bad data in row 3")


def clock(numbers):
    return {"entropy": os.urandom(8).hex()}
"""

YAML = """
steps:
  numbers:
    uses: steps:numbers
    params: {n: 100}
    outputs: [numbers]
  square:
    uses: steps:square
    inputs: [numbers]
    params: {power: 2}
    outputs: [squares]
  total:
    uses: steps:total
    inputs: [squares]
    outputs: [total]
"""


def statuses(run) -> dict[str, str]:
    return {s.name: s.status for s in run.steps}


@pytest.fixture
def project(tmp_path: Path) -> Project:
    write_project(tmp_path / "p", YAML, STEPS)
    return Project.init(tmp_path / "p")


def reopen(project: Project) -> Project:
    """A fresh Project, as the next CLI command would get (re-reads yaml and code)."""
    import importlib
    import sys

    sys.modules.pop("steps", None)
    importlib.invalidate_caches()
    return Project.open(project.root)


def test_second_run_is_all_cache_hits_with_same_ids(project: Project) -> None:
    first = project.run()
    assert statuses(first) == {"numbers": "ran", "square": "ran", "total": "ran"}
    second = reopen(project).run()
    assert statuses(second) == {"numbers": "cached", "square": "cached", "total": "cached"}
    assert [s.outputs for s in first.steps] == [s.outputs for s in second.steps]
    assert [s.fingerprint for s in first.steps] == [s.fingerprint for s in second.steps]


def test_params_change_reruns_that_step_and_downstream_only(project: Project) -> None:
    project.run()
    yaml_path = project.root / "loopline.yaml"
    yaml_path.write_text(yaml_path.read_text().replace("power: 2", "power: 3"))
    again = reopen(project)
    assert [(s.name, s.state) for s in again.status()] == [
        ("numbers", "fresh"),
        ("square", "stale"),
        ("total", "stale"),
    ]
    reasons = {s.name: s.reasons for s in again.status()}
    assert reasons["square"] == ["params: power changed"]
    assert reasons["total"] == ["input squares: upstream step square will run"]
    assert statuses(again.run()) == {"numbers": "cached", "square": "ran", "total": "ran"}


def test_code_change_reruns_that_step_and_downstream_only(project: Project) -> None:
    first = project.run()
    steps_py = project.root / "steps.py"
    steps_py.write_text(
        steps_py.read_text().replace('sq=pl.col("i") ** power', 'sq=pl.col("i") ** power + 1')
    )
    again = reopen(project)
    reasons = {s.name: s.reasons for s in again.status()}
    assert reasons["numbers"] == []
    assert reasons["square"] == ["code: steps:square changed"]
    second = again.run()
    assert statuses(second) == {"numbers": "cached", "square": "ran", "total": "ran"}
    assert first.steps[1].outputs != second.steps[1].outputs


def test_editing_an_unrelated_function_changes_nothing(project: Project) -> None:
    project.run()
    steps_py = project.root / "steps.py"
    steps_py.write_text(steps_py.read_text().replace("bad data in row 3", "bad data in row 4"))
    assert all(s.state == "fresh" for s in reopen(project).status())


def test_failing_step_marks_run_failed_and_keeps_finished_outputs(project: Project) -> None:
    yaml_path = project.root / "loopline.yaml"
    yaml_path.write_text(yaml_path.read_text().replace("steps:total", "steps:boom"))
    failed = reopen(project).run()
    assert failed.status == "failed"
    assert statuses(failed) == {"numbers": "ran", "square": "ran", "total": "failed"}
    error = failed.steps[2].error
    assert error is not None and "ValueError: bad data in row 3" in error and "Traceback" in error
    yaml_path.write_text(yaml_path.read_text().replace("steps:boom", "steps:total"))
    fixed = reopen(project).run()
    assert fixed.status == "succeeded"
    assert statuses(fixed) == {"numbers": "cached", "square": "cached", "total": "ran"}


def test_steps_after_a_failure_are_skipped(tmp_path: Path) -> None:
    write_project(
        tmp_path,
        YAML.replace("steps:total", "steps:boom")
        + """  after:
    uses: steps:shout
    inputs: [total]
    outputs: [shouted]
""",
        STEPS.replace("def shout(squares)", "def shout(total)"),
    )
    run = Project.init(tmp_path).run()
    assert statuses(run) == {"numbers": "ran", "square": "ran", "total": "failed", "after": "skipped"}


def test_reproduce_is_bit_identical_with_seeded_randomness(project: Project) -> None:
    first = project.run()
    original, new, comparisons = project.reproduce(first.id)
    assert original.id == first.id and new.reproduce_of == first.id
    assert {c.name for c in comparisons} == {"numbers", "squares", "total"}
    assert all(c.identical for c in comparisons), comparisons
    # numbers used np.random and total used random without asking: both seeded from the fingerprint


def test_reproduce_names_the_artifact_that_differs(tmp_path: Path) -> None:
    write_project(
        tmp_path,
        YAML
        + """  clock:
    uses: steps:clock
    inputs: [numbers]
    outputs: [entropy]
""",
        STEPS,
    )
    project = Project.init(tmp_path)
    first = project.run()
    _, _, comparisons = project.reproduce(first.id)
    differing = [c.name for c in comparisons if not c.identical]
    assert differing == ["entropy"]


def test_metrics_logged_by_a_step_are_stored(project: Project) -> None:
    run = project.run()
    assert project.metrics(run.id) == [{"step_name": "total", "key": "rows", "value": 100.0, "step": 0}]


def test_environment_and_git_state_are_recorded(project: Project) -> None:
    subprocess.run(["git", "init", "-q"], cwd=project.root, check=True)
    subprocess.run(
        ["git", "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "--allow-empty", "-m", "x"],
        cwd=project.root,
        check=True,
    )
    run = project.run()
    assert run.git_commit and len(run.git_commit) == 40 and run.git_dirty is False
    env = project.environment(run.environment_id or "")
    assert env.python.count(".") == 2 and "polars" in env.packages and len(env.packages_hash) == 64
    subprocess.run(["git", "add", "steps.py"], cwd=project.root, check=True)
    assert reopen(project).run().git_dirty is True


def test_process_pool_gives_the_same_ids_as_inline(tmp_path: Path) -> None:
    a = Project.init(write_project(tmp_path / "a", YAML, STEPS)).run()
    b = Project.init(write_project(tmp_path / "b", YAML, STEPS)).run(jobs=2)
    assert b.status == "succeeded"
    assert {s.name: s.outputs for s in a.steps} == {s.name: s.outputs for s in b.steps}


def test_dask_executor_gives_the_same_ids(tmp_path: Path) -> None:
    a = Project.init(write_project(tmp_path / "a", YAML, STEPS)).run()
    b = Project.init(write_project(tmp_path / "b", YAML, STEPS)).run(executor="dask", jobs=2)
    assert b.status == "succeeded" and b.executor == "dask"
    assert {s.name: s.outputs for s in a.steps} == {s.name: s.outputs for s in b.steps}


def test_external_input_is_read_from_an_added_dataset(tmp_path: Path) -> None:
    write_project(
        tmp_path,
        """
steps:
  square:
    uses: steps:square
    inputs: [numbers]
    params: {power: 2}
    outputs: [squares]
""",
        STEPS,
    )
    (tmp_path / "numbers.csv").write_text("i,noise\n1,0.5\n2,0.25\n")
    project = Project.init(tmp_path)
    project.add(tmp_path / "numbers.csv", "numbers")
    run = project.run()
    assert run.status == "succeeded"
    assert project.load("squares")["sq"].to_list() == [1.0, 4.0]
    _, ancestors, _ = project.lineage("squares")
    assert [c.artifact.name for c in ancestors.children] == ["numbers"]


def test_fingerprint_is_taken_before_the_step_runs(tmp_path: Path) -> None:
    """A step that edits its own source while running is recorded against the code it ran."""
    steps = """
import pathlib
import polars as pl

def self_editing(n):
    path = pathlib.Path(__file__)
    old, new = "pl.DataFrame({'v': [n]})", "pl.DataFrame({'v': [n + 1]})"
    path.write_text(path.read_text().replace("return " + old, "return " + new))
    return pl.DataFrame({'v': [n]})
"""
    write_project(
        tmp_path, "steps:\n  s:\n    uses: steps:self_editing\n    params: {n: 1}\n    outputs: [v]\n", steps
    )
    project = Project.init(tmp_path)
    first = project.run()
    assert project.load("v")["v"].to_list() == [1]
    again = reopen(project)
    assert again.status()[0].reasons == ["code: steps:self_editing changed"]
    second = again.run()
    assert statuses(second) == {"s": "ran"} and second.steps[0].fingerprint != first.steps[0].fingerprint
    assert again.load("v")["v"].to_list() == [2]


def test_python_api_builds_the_same_steps_as_yaml(tmp_path: Path) -> None:
    import sys

    write_project(tmp_path, YAML, STEPS)
    project = Project.init(tmp_path)
    yaml_pipeline = project.pipeline()
    sys.path.insert(0, str(tmp_path))
    import steps  # type: ignore[import-not-found]

    import loopline

    decorated = [
        loopline.step(outputs=["numbers"], params={"n": 100})(steps.numbers),
        loopline.step(outputs=["squares"], params={"power": 2})(steps.square),
        loopline.step(outputs=["total"])(steps.total),
    ]
    python_pipeline = loopline.Pipeline(decorated)
    for name, ys in yaml_pipeline.steps.items():
        ps = python_pipeline.steps[name]
        assert (ps.uses, ps.inputs, ps.outputs, dict(ps.params), ps.code_hash) == (
            ys.uses,
            ys.inputs,
            ys.outputs,
            dict(ys.params),
            ys.code_hash,
        )
    a = project.run(yaml_pipeline)
    b = project.run(python_pipeline)
    assert statuses(b) == {"numbers": "cached", "square": "cached", "total": "cached"}
    assert [s.fingerprint for s in a.steps] == [s.fingerprint for s in b.steps]


@pytest.fixture(autouse=True)
def _fresh_step_modules():
    """Each test's project has its own steps.py: never reuse another test's imported module."""
    import sys

    sys.modules.pop("steps", None)
    yield
    sys.modules.pop("steps", None)


def test_inputs_and_outputs_can_be_renamed(tmp_path: Path) -> None:
    """A generic function binds to any artifact names: {argument: artifact}, {returned key: artifact}."""
    steps = """
import polars as pl

def make():
    return {"good": pl.DataFrame({"v": [1, 2]}), "bad": pl.DataFrame({"v": [9]}), "note": {"n": 3}}

def count(table):
    return {"rows": table.height}
"""
    write_project(
        tmp_path,
        """
steps:
  make:
    uses: steps:make
    outputs: {good: kept, bad: rejected}
  count:
    uses: steps:count
    inputs: {table: kept}
    outputs: [kept_rows]
""",
        steps,
    )
    project = Project.init(tmp_path)
    first = project.run()
    assert first.status == "succeeded", first.steps
    assert project.load("kept_rows") == {"rows": 2}
    assert project.load("rejected")["v"].to_list() == [9]
    assert first.steps[0].bindings == {"keys": {"kept": "good", "rejected": "bad"}}
    assert statuses(reopen(project).run()) == {"make": "cached", "count": "cached"}
    _, _, comparisons = project.reproduce(first.id)
    assert {c.name for c in comparisons} == {"kept", "rejected", "kept_rows"}
    assert all(c.identical for c in comparisons)


CHECKED_STEPS = """
import polars as pl
from loopline import ConfigError

def pick(table, column):
    return table.select(column)

def _check(params, schemas):
    if params["column"] not in (schemas["table"] or {}):
        raise ConfigError(f"column {params['column']!r} is not in the input", hint="fix the column name")

pick.check = _check

def squares(table, ctx):
    parts = [table.slice(i, 2) for i in range(0, table.height, 2)]
    return pl.concat(ctx.map(lambda part: part.with_columns(sq=pl.col("v") ** 2), parts))
"""


def test_preflight_check_fails_before_anything_runs(tmp_path: Path) -> None:
    from loopline.core.errors import ConfigError

    yaml = "steps:\n  pick:\n    uses: steps:pick\n    inputs: {table: data}\n    params: {column: nope}\n"
    write_project(tmp_path, yaml + "    outputs: [picked]\n", CHECKED_STEPS)
    (tmp_path / "data.csv").write_text("v\n1\n2\n")
    project = Project.init(tmp_path)
    project.add(tmp_path / "data.csv", "data")
    with pytest.raises(ConfigError, match="step 'pick': column 'nope' is not in the input"):
        project.run()
    assert project.runs() == []


@pytest.mark.parametrize("executor", ["local", "dask"])
def test_ctx_map_gives_the_same_result_on_every_executor(tmp_path: Path, executor: str) -> None:
    yaml = "steps:\n  sq:\n    uses: steps:squares\n    inputs: {table: data}\n    outputs: [sq]\n"
    write_project(tmp_path, yaml, CHECKED_STEPS)
    (tmp_path / "data.csv").write_text("v\n1\n2\n3\n4\n5\n")
    project = Project.init(tmp_path)
    project.add(tmp_path / "data.csv", "data")
    run = project.run(executor=executor)
    assert run.status == "succeeded", run.steps[0].error
    assert project.load("sq")["sq"].to_list() == [1.0, 4.0, 9.0, 16.0, 25.0]
    assert run.steps[0].outputs["sq"] == _local_sq_id(tmp_path)


def _local_sq_id(tmp_path: Path) -> str:
    import polars as pl

    from loopline.core.hashing import hash_table

    frame = pl.DataFrame({"v": [1, 2, 3, 4, 5]}).with_columns(sq=pl.col("v") ** 2)
    return hash_table(frame)


def test_two_projects_with_a_steps_module_each_in_one_process(tmp_path: Path) -> None:
    """A server or a notebook opens one project after another: each gets its own `steps.py`."""
    for name, value in (("a", 1), ("b", 2)):
        steps = f"def make_{name}():\n    return {{'value': {value}}}\n"
        yaml = f"steps:\n  make:\n    uses: steps:make_{name}\n    outputs: [out]\n"
        project = Project.init(write_project(tmp_path / name, yaml, steps))
        run = project.run()
        assert run.status == "succeeded" and project.load("out") == {"value": value}
        project.close()


STREAMING_STEPS = """
import polars as pl

from loopline import TableFile


def lazy(table: pl.LazyFrame, ctx):
    assert isinstance(table, pl.LazyFrame), type(table)
    path = ctx.scratch / "out.parquet"
    table.with_columns(sq=pl.col("v") ** 2).sink_parquet(path)
    return TableFile(path)


def eager(table):
    assert isinstance(table, pl.DataFrame), type(table)
    return table.with_columns(sq=pl.col("v") ** 2)
"""


def test_a_lazyframe_argument_gets_a_scan_and_a_tablefile_output_is_stored_as_is(tmp_path: Path) -> None:
    yaml = "steps:\n" + "".join(
        f"  {name}:\n    uses: steps:{name}\n    inputs: {{table: data}}\n    outputs: [{name}_out]\n"
        for name in ("lazy", "eager")
    )
    write_project(tmp_path, yaml, STREAMING_STEPS)
    (tmp_path / "data.csv").write_text("v\n1\n2\n3\n4\n5\n")
    project = Project.init(tmp_path)
    project.add(tmp_path / "data.csv", "data")
    run = project.run()
    assert run.status == "succeeded", [s.error for s in run.steps]
    outputs = {name: out for s in run.steps for name, out in s.outputs.items()}
    # the streamed file and the frame in memory are one table, so one artifact
    assert outputs["lazy_out"] == outputs["eager_out"] == _local_sq_id(tmp_path)
    assert project.load("lazy_out")["sq"].to_list() == [1.0, 4.0, 9.0, 16.0, 25.0]
