"""MlflowStore on SQLite and PostgreSQL: NaN metrics, latest values, logged models, artifact paths."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from loopline.core.errors import Conflict, InvalidInput, NotFound
from loopline.core.search_filter import parse
from loopline.core.search_specs import LOGGED_MODELS
from loopline.project import Project
from loopline.store.metadata.mlflow import LoggedModel, ModelMetric, check_path


def test_log_batch_keeps_nan_and_infinity_and_the_latest_point(project: Project) -> None:
    exp = project.meta.tracking.create_experiment("e")
    run = project.meta.tracking.create_run(exp.id, executor="mlflow")
    store = project.mlflow
    store.log_batch(run.id, [("loss", 0.5, 0, 1.0), ("loss", math.nan, 1, 2.0), ("gain", math.inf, 0, 1.0)])
    store.log_batch(run.id, [("loss", 0.25, 2, 3.0)], params={"lr": "0.1"}, tags={"team": "a"})
    history = store.metric_history(run.id, "loss")
    assert [(p.step, p.value) for p in history] == [(0, 0.5), (1, None), (2, 0.25)]
    record = store.run(run.id)
    assert {p.key: (p.value, p.step) for p in record.points} == {"loss": (0.25, 2), "gain": (math.inf, 0)}
    assert record.params == {"lr": "0.1"} and record.tags == {"team": "a"}
    # the native view reads the same rows: NaN is a missing number, not a made-up one
    assert [p.value for p in project.metric_history(run.id, "loss")] == [0.5, None, 0.25]


def test_the_mlflow_api_and_tracking_read_one_run_record(project: Project) -> None:
    exp = project.meta.tracking.create_experiment("e")
    run = project.meta.tracking.create_run(exp.id, executor="mlflow")
    points = [("loss", 0.5, 1, 2.0), ("loss", 0.7, 0, 3.0), ("nan", math.nan, 0, 1.0)]
    project.mlflow.log_batch(run.id, points)
    record = project.mlflow.run(run.id)
    assert record == project.tracked_run(run.id)  # the same type, the same run
    assert [(p.key, p.value, p.step, p.timestamp) for p in record.points] == [
        ("loss", 0.5, 1, 2.0),  # the highest step, not the last logged
        ("nan", None, 0, 1.0),
    ]
    assert record.metrics == {"loss": 0.5, "nan": None}
    assert record.to_json()["metrics"] == {"loss": 0.5, "nan": None}


def test_log_batch_refuses_an_unknown_run_and_a_changed_param_writing_nothing(project: Project) -> None:
    exp = project.meta.tracking.create_experiment("e")
    run = project.meta.tracking.create_run(exp.id)
    store = project.mlflow
    with pytest.raises(NotFound):
        store.log_batch("no-such-run", [("loss", 1.0, 0, 1.0)])
    store.log_batch(run.id, params={"lr": "0.1"})
    with pytest.raises(Conflict):
        store.log_batch(run.id, [("loss", 1.0, 0, 1.0)], params={"lr": "0.2"})
    assert store.metric_history(run.id, "loss") == []


def test_linked_points_are_the_models_and_the_runs_once(project: Project) -> None:
    """Points logged with a model_id: the run's history gets each once (MLflow 3 re-sends the
    run's points to link them), the logged model's metrics get each once; an unknown model is
    refused with nothing written."""
    exp = project.meta.tracking.create_experiment("e")
    run = project.meta.tracking.create_run(exp.id)
    now = datetime.now(UTC)
    store = project.mlflow
    store.create_logged_model(
        LoggedModel("m-1", exp.id, "model", run.id, None, "LOGGED_MODEL_READY", None, {}, {}, now, now)
    )
    store.log_batch(run.id, [("loss", 0.5, 0, 1.0), ("acc", math.nan, 0, 1.0)])
    linked = [
        ModelMetric("m-1", run.id, "loss", 0.5, 0, 1.0),
        ModelMetric("m-1", run.id, "acc", None, 0, 1.0),
        ModelMetric("m-1", run.id, "loss", 0.4, 1, 2.0, "train", "abc"),
    ]
    store.log_batch(run.id, linked=linked)
    store.log_batch(run.id, linked=linked)  # a retry adds nothing
    assert len(store.metric_history(run.id, "loss")) == 2
    assert len(store.metric_history(run.id, "acc")) == 1
    got = store.model_metrics(["m-1", "m-2"])
    assert [(m.key, m.value, m.step, m.dataset_name) for m in got["m-1"]] == [
        ("acc", None, 0, None),
        ("loss", 0.5, 0, None),
        ("loss", 0.4, 1, "train"),
    ]
    assert "m-2" not in got
    with pytest.raises(NotFound):
        store.log_batch(
            run.id, [("loss", 9.0, 5, 5.0)], linked=[ModelMetric("m-2", run.id, "x", 1.0, 0, 1.0)]
        )
    assert len(store.metric_history(run.id, "loss")) == 2, "a refused batch wrote its run points"
    store.log_outputs(run.id, [("m-1", 3)])
    store.log_outputs(run.id, [("m-1", 4)])
    assert store.run_outputs([run.id, "nope"]) == {run.id: [("m-1", 4)]}
    with pytest.raises(NotFound):
        store.log_outputs(run.id, [("m-2", 0)])
    assert store.run_logged_model(run.id, "model") == store.logged_model("m-1")
    assert store.run_logged_model(run.id, "other") is None


def test_logged_models_and_artifact_paths(project: Project) -> None:
    exp = project.meta.tracking.create_experiment("e")
    now = datetime.now(UTC)
    model = LoggedModel("m-1", exp.id, "model", None, None, "LOGGED_MODEL_PENDING", None, {}, {}, now, now)
    store = project.mlflow
    store.create_logged_model(model)
    done = store.update_logged_model("m-1", status="LOGGED_MODEL_READY", tags={"a": "1"})
    assert (done.status, done.tags) == ("LOGGED_MODEL_READY", {"a": "1"})
    found, more = store.search_logged_models(
        [exp.id], parse("name = 'model'", LOGGED_MODELS), [], limit=5, offset=0
    )
    assert ([m.model_id for m in found], more) == (["m-1"], False)
    with pytest.raises(NotFound):
        store.logged_model("m-2")
    blob = project.blobs.put_bytes(b"x")
    for path in ("1/r_1/artifacts/a.txt", "1/r_1/artifacts/sub/b.txt", "1/rx1/artifacts/c.txt"):
        store.put_file(path, blob, 1)
    # `_` is a LIKE wildcard: the folder r_1 must not match rx1
    assert [p for p, _, _ in store.files_under("1/r_1/artifacts")] == ["a.txt", "sub/b.txt"]
    assert store.file("1/r_1/artifacts/a.txt") == (blob, 1)


@pytest.mark.parametrize("path", ["../x", "a/../b", "/etc/passwd", "a//b", "a\\b", "./a"])
def test_unsafe_artifact_paths_are_refused(path: str) -> None:
    with pytest.raises(InvalidInput):
        check_path(path)
