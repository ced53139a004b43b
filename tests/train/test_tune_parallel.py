"""Tuning with several jobs reproduces: trials N at a time with pruning and a tree model give the
same trials, the same pruning decisions and the same model on every run, and `reproduce` of the
pipeline is bit-identical (Optuna's own threaded `optimize(n_jobs=2)` gave a different best trial
and pruned count on each run)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.datasets import make_classification

from loopline import Project, StepContext
from loopline.core.errors import ConfigError
from loopline.train import check_tune, tune
from tests.conftest import write_project

HGB = "sklearn.ensemble:HistGradientBoostingClassifier"
SPACE = {
    "learning_rate": {"type": "float", "low": 0.01, "high": 0.5, "log": True},
    "max_leaf_nodes": {"type": "int", "low": 4, "high": 31},
    "max_iter": {"type": "int", "low": 10, "high": 40},
}


def data() -> tuple[pl.DataFrame, pl.DataFrame]:
    X, y = make_classification(n_samples=300, n_features=6, n_informative=4, random_state=3)
    frame = pl.DataFrame({f"x{i}": X[:, i] for i in range(6)}).with_columns(label=pl.Series(y))
    return frame[:220], frame[220:]


def run_tune(n_jobs: int, space: dict | None = None) -> tuple[dict, StepContext, object]:
    train, validation = data()
    ctx = StepContext("run", "tune", 11, Path("."), logging.getLogger("t"))
    out = tune(train, validation, space or SPACE, HGB, n_trials=14, n_jobs=n_jobs, cv=3, ctx=ctx)
    return out["report"], ctx, out["model"]


def test_parallel_trials_with_pruning_and_a_tree_model_are_the_same_on_every_run():
    runs = [run_tune(n_jobs=2) for _ in range(3)]
    first, ctx, model = runs[0]
    assert first["n_trials"] == 14 and first["n_jobs"] == 2
    assert first["pruned"] >= 1 and first["complete"] >= 4  # the pruner did cut trials
    for report, other_ctx, other_model in runs[1:]:
        assert report["trials"] == first["trials"]  # same params, values, states, in the same order
        assert (report["best_trial"], report["pruned"]) == (first["best_trial"], first["pruned"])
        assert [c.tags for c in other_ctx.children] == [c.tags for c in ctx.children]
        assert [c.metrics[i][:3] for c in other_ctx.children for i in range(len(c.metrics))] == [
            c.metrics[i][:3] for c in ctx.children for i in range(len(c.metrics))
        ]
        grid = data()[1].drop("label")
        assert np.array_equal(other_model.predict_proba(grid), model.predict_proba(grid))
    assert [c.name for c in ctx.children] == [f"trial-{i}" for i in range(14)]
    pruned = [t for t in first["trials"] if t["state"] == "pruned"]
    assert all(len(t["intermediate"]) < 3 for t in pruned)  # cut before the last fold


def test_the_order_of_the_space_does_not_change_the_search():
    # `reproduce` gets the params back from the store with sorted keys; a sampler that drew the
    # params in mapping order gave trial 0 other values for all but the first param
    report, _, _ = run_tune(n_jobs=1)
    again, _, _ = run_tune(n_jobs=1, space=dict(reversed(SPACE.items())))
    assert report["trials"] == again["trials"] and report["n_jobs"] == 1


def test_bad_n_jobs_is_refused():
    for bad in (0, 1.5, True):
        with pytest.raises(ConfigError, match="n_jobs must be a whole number of at least 1"):
            check_tune({"space": {"C": {"type": "float", "low": 0.1, "high": 1}}, "n_jobs": bad}, {})


STEPS = """
import polars as pl
from sklearn.datasets import make_classification

def make_data():
    X, y = make_classification(n_samples=300, n_features=6, n_informative=4, random_state=3)
    frame = pl.DataFrame({f"x{i}": X[:, i] for i in range(6)}).with_columns(label=pl.Series(y))
    return {"train": frame[:220], "validation": frame[220:]}
"""

YAML = f"""
steps:
  data: {{uses: steps:make_data, outputs: [train, validation]}}
  tune:
    uses: loopline.train:tune
    inputs: [train, validation]
    params:
      estimator: {HGB}
      space: {json.dumps(SPACE)}
      n_trials: 12
      n_jobs: 2
      cv: 3
    outputs: [model, report]
"""


def test_a_pipeline_tuned_with_two_jobs_reproduces_bit_identically(tmp_path: Path):
    project = Project.init(write_project(tmp_path / "p", YAML, STEPS))
    first = project.run()
    assert first.status == "succeeded"
    report = project.load(next(s for s in first.steps if s.name == "tune").outputs["report"])
    assert report["pruned"] >= 1 and report["n_jobs"] == 2
    for _ in range(3):
        _, again, comparisons = project.reproduce(first.id)
        assert again.status == "succeeded"
        assert {c.name for c in comparisons} == {"train", "validation", "model", "report"}
        assert all(c.identical for c in comparisons), [c.to_json() for c in comparisons]
