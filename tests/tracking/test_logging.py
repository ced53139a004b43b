"""Logging: `with project.start_run()` buffers and flushes in batches; `loopline.log_metric` &
co. reach the active run, outside steps and inside them; a step's metrics, params and tags are
written in one batch, and a param logged again with another value fails that step."""

from __future__ import annotations

from pathlib import Path

import pytest

import loopline
from loopline import Project
from loopline.core.errors import Conflict, InvalidInput
from tests.conftest import write_project


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project.init(tmp_path / "p")


def test_active_run_buffers_until_flush_every_then_writes(project: Project):
    with project.start_run("exp", "buffered", flush_every=10, flush_seconds=3600) as run:
        for step in range(9):
            loopline.log_metric("loss", 1 / (step + 1))
        assert project.metric_history(run.id, "loss") == []  # still in the buffer
        loopline.log_metric("loss", 0.05)
        assert len(project.metric_history(run.id, "loss")) == 10
        loopline.log_metric("loss", 0.01)
    history = project.metric_history(run.id, "loss")
    assert [p.step for p in history] == list(range(11))  # steps count up per key by default
    got = project.tracked_run(run.id)
    assert got.status == "succeeded" and got.metrics == {"loss": 0.01} and got.name == "buffered"
    assert got.experiment_id == project.experiments()[0].id


def test_params_tags_and_batch_api(project: Project):
    with project.start_run("exp") as run:
        loopline.log_params({"C": 0.5, "solver": "lbfgs"})
        loopline.set_tags({"team": "vision"})
        run.log_batch([("f1", 0.9, 3, 1.0), ("f1", 0.8, 1, 2.0)], params={"seed": 1}, tags={"kind": "batch"})
        with pytest.raises(Conflict):
            loopline.log_params({"C": 1})
    got = project.tracked_run(run.id)
    assert got.params == {"C": "0.5", "seed": "1", "solver": "lbfgs"}
    assert got.tags == {"kind": "batch", "team": "vision"}
    assert got.metrics == {"f1": 0.9}


def test_a_raising_block_marks_the_run_failed_and_keeps_what_was_logged(project: Project):
    with pytest.raises(ZeroDivisionError), project.start_run("exp") as run:
        loopline.log_metric("seen", 1.0)
        1 / 0  # noqa: B018
    got = project.tracked_run(run.id)
    assert got.status == "failed" and got.metrics == {"seen": 1.0} and got.finished_at is not None


def test_logging_without_an_active_run_is_a_clear_error():
    with pytest.raises(InvalidInput, match="no active run"):
        loopline.log_metric("x", 1.0)
    with pytest.raises(InvalidInput):
        loopline.log_params({"a": 1})


def test_module_level_start_run_opens_the_project_of_the_folder(project: Project, monkeypatch):
    monkeypatch.chdir(project.root)
    with loopline.start_run("exp", "cwd") as run:
        loopline.log_metric("m", 2.0, step=5)
    assert Project.open(project.root).tracked_run(run.id).metrics == {"m": 2.0}


STEPS = """
import loopline

def first(ctx):
    ctx.log_params({"lr": 0.1})
    ctx.set_tags({"stage": "first"})
    for step in range(3):
        ctx.log_metric("loss", 1.0 / (step + 1))
    loopline.log_metric("rows", 10)  # the module-level helper reaches the step's context
    trial = ctx.child_run("trial-0")
    trial.log_params({"C": 1})
    trial.log_metric("score", 0.5)
    return {"value": 1}

def clash(value, ctx):
    ctx.log_params({"lr": 0.2})
    return {"other": 2}
"""


def test_step_metrics_params_tags_and_child_runs_reach_the_tracking_store(tmp_path: Path):
    root = write_project(
        tmp_path / "proj",
        "steps:\n"
        "  first: {uses: tracking_log_steps:first, outputs: [numbers]}\n"
        "  clash: {uses: tracking_log_steps:clash, inputs: {value: numbers}, outputs: [other]}\n",
    )
    (root / "tracking_log_steps.py").write_text(STEPS)  # its own module name: tests share sys.modules
    project = Project.init(root)
    result = project.run()
    by_name = {s.name: s for s in result.steps}
    assert by_name["first"].status == "ran"
    assert by_name["clash"].status == "failed" and "Conflict" in (by_name["clash"].error or "")
    got = project.tracked_run(result.id)
    assert got.params == {"lr": "0.1"} and got.tags == {"stage": "first"}
    assert got.metrics == {"loss": pytest.approx(1 / 3), "rows": 10.0}
    assert [p.step_name for p in project.metric_history(result.id, "loss")] == ["first"] * 3
    trials = project.search_runs(experiment="first")
    assert len(trials) == 1 and trials[0].params == {"C": "1"} and trials[0].metrics == {"score": 0.5}
    assert trials[0].tags["loopline.parent_run"] == result.id
    found = project.search_runs(["params.lr=0.1", "metrics.loss<0.5"], order_by="metrics.loss")
    assert [r.id for r in found] == [result.id]
