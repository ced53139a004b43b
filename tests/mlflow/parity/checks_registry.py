"""MLflow client checks: registry (see checks.py). Point 1 (stages), 5 (runs:/ sources) and
7 (model metrics, run outputs); point 9 (tracing, prompts) is loopline-only, so its client script
is tests/mlflow/test_parity_registry.py's."""

from __future__ import annotations

from typing import Any

import mlflow
import mlflow.sklearn
import numpy as np
from checks import Context, check
from mlflow.exceptions import MlflowException
from sklearn.linear_model import LinearRegression

_X = np.array([[0.0], [1.0], [2.0], [3.0]])


def _fit(slope: float) -> LinearRegression:
    return LinearRegression().fit(_X, _X[:, 0] * slope)


def _logged(ctx: Context, what: str, slope: float, registered: str | None = None) -> Any:
    """A run with one sklearn model logged in it (MLflow 3: a logged model, models:/m-…)."""
    mlflow.set_experiment(ctx.name(what))
    with mlflow.start_run() as run:
        mlflow.log_metric("loss", 0.25)
        info = mlflow.sklearn.log_model(
            _fit(slope), name="model", registered_model_name=registered, pip_requirements=["scikit-learn"]
        )  # named requirements: no inference subprocess per model
    return run.info.run_id, info


def _predicts(uri: str, slope: float) -> None:
    got = mlflow.pyfunc.load_model(uri).predict(np.array([[10.0]]))
    assert abs(float(got[0]) - 10.0 * slope) < 1e-6, (uri, got)


@check(0)
def experiment_run_metric_round_trip(ctx: Context) -> None:
    """The calls that already worked: an experiment, a run, a metric read back."""
    exp = ctx.client.create_experiment(ctx.name("basics"))
    run = ctx.client.create_run(exp)
    ctx.client.log_metric(run.info.run_id, "loss", 0.5, step=1)
    history = ctx.client.get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(1, 0.5)], history


@check(1)
def stages_move_and_get_latest_versions_follows(ctx: Context) -> None:
    """transition_model_version_stage and get_latest_versions, as a deploy script uses them."""
    name = ctx.name("staged")
    _logged(ctx, "staged", 1.0, name)
    _logged(ctx, "staged", 2.0, name)
    client = ctx.client
    assert client.get_model_version(name, "1").current_stage == "None"
    moved = client.transition_model_version_stage(name, "1", "Staging")
    assert moved.current_stage == "Staging", moved
    client.transition_model_version_stage(name, "2", "production")  # any case, as MLflow
    stages = {v.version: v.current_stage for v in client.search_model_versions(f"name = '{name}'")}
    assert stages == {"1": "Staging", "2": "Production"}, stages
    assert [v.version for v in client.get_latest_versions(name, ["Production"])] == ["2"]
    latest = {v.current_stage: v.version for v in client.get_latest_versions(name)}
    assert latest == {"Staging": "1", "Production": "2"}, latest
    listed = {v.current_stage: v.version for v in client.get_registered_model(name).latest_versions}
    assert listed == latest, listed
    # 1 to Production, archiving the holder: 2 Archived, nothing left in Staging
    client.transition_model_version_stage(name, "1", "Production", archive_existing_versions=True)
    stages = {v: client.get_model_version(name, v).current_stage for v in ("1", "2")}
    assert stages == {"1": "Production", "2": "Archived"}, stages
    assert client.get_latest_versions(name, ["Staging"]) == []
    client.transition_model_version_stage(name, "2", "None")
    assert client.get_model_version(name, "2").current_stage == "None"


@check(1)
def stage_and_latest_model_uris_load(ctx: Context) -> None:
    """models:/NAME/Production, /Staging and /latest load through the client."""
    name = ctx.name("stage-uri")
    _logged(ctx, "stage-uri", 1.0, name)
    _logged(ctx, "stage-uri", 3.0, name)
    ctx.client.transition_model_version_stage(name, "1", "Production")
    ctx.client.transition_model_version_stage(name, "2", "Staging")
    _predicts(f"models:/{name}/Production", 1.0)
    _predicts(f"models:/{name}/Staging", 3.0)
    _predicts(f"models:/{name}/latest", 3.0)
    ctx.client.transition_model_version_stage(name, "2", "Archived")
    try:
        mlflow.pyfunc.load_model(f"models:/{name}/Staging")
    except MlflowException as exc:
        assert "No versions" in str(exc), exc
    else:
        raise AssertionError("models:/NAME/Staging loaded with no version in Staging")


@check(5)
def create_model_version_from_a_runs_source(ctx: Context) -> None:
    """MlflowClient.create_model_version(source="runs:/RUN/model"): MLflow 3 logged the model as
    a logged model, not in the run's artifact folder. (mlflow server registers it but cannot load
    it, its download URI is the run's empty folder; loopline's loads: test_parity_registry.)"""
    run_id, _ = _logged(ctx, "runs-source", 2.0)
    name = ctx.name("runs-source")
    ctx.client.create_registered_model(name)
    version = ctx.client.create_model_version(name, source=f"runs:/{run_id}/model", run_id=run_id)
    assert (version.version, version.run_id) == ("1", run_id), version
    got = ctx.client.get_model_version(name, "1")
    assert (got.source, got.run_id, got.current_stage) == (f"runs:/{run_id}/model", run_id, "None"), got


@check(5)
def register_model_from_a_runs_uri_loads(ctx: Context) -> None:
    """mlflow.register_model("runs:/RUN/model", NAME)."""
    run_id, _ = _logged(ctx, "register-runs", 4.0)
    name = ctx.name("register-runs")
    version = mlflow.register_model(f"runs:/{run_id}/model", name)
    assert version.version == "1", version
    _predicts(f"models:/{name}/1", 4.0)


@check(7)
def metrics_logged_with_a_model_id_are_the_models(ctx: Context) -> None:
    """log_metric(model_id=) attaches the metric to the logged model; the run's history holds
    each point once; the run's metrics logged before log_model are linked to it too."""
    run_id, info = _logged(ctx, "model-metrics", 1.0)
    with mlflow.start_run(run_id=run_id):
        mlflow.log_metric("acc", 0.9, step=3, model_id=info.model_id)
    metrics = {(m.key, m.value, m.step) for m in ctx.client.get_logged_model(info.model_id).metrics}
    assert ("acc", 0.9, 3) in metrics and ("loss", 0.25, 0) in metrics, metrics
    model_metric = next(m for m in ctx.client.get_logged_model(info.model_id).metrics if m.key == "acc")
    assert model_metric.run_id == run_id and model_metric.model_id == info.model_id, model_metric
    run = ctx.client.get_run(run_id)
    assert run.data.metrics == {"loss": 0.25, "acc": 0.9}, run.data.metrics
    for key in ("loss", "acc"):
        assert len(ctx.client.get_metric_history(run_id, key)) == 1, key


@check(7)
def run_outputs_list_the_logged_model(ctx: Context) -> None:
    """get_run().outputs names the models logged in the run (runs/search too)."""
    run_id, info = _logged(ctx, "run-outputs", 1.0)
    outputs = ctx.client.get_run(run_id).outputs
    assert outputs is not None and [o.model_id for o in outputs.model_outputs] == [info.model_id], outputs
    found = ctx.client.search_runs([ctx.client.get_run(run_id).info.experiment_id])
    assert [o.model_id for o in found[0].outputs.model_outputs] == [info.model_id], found[0].outputs
