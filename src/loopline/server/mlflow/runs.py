"""MLflow runs, params, tags and metrics on loopline's tracking tables.

Ids: an MLflow run id is the loopline run id (experiments: experiments.py), so `loopline runs`,
`loopline show` and lineage name the same run. Times cross the wire as epoch milliseconds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter

from loopline.core.errors import InvalidInput
from loopline.core.experiments import MetricPoint, TrackedRun
from loopline.serve.access import Key, Rule, need
from loopline.server.mlflow.experiments import experiment_id, mlflow_store, ms, time_in, tracking
from loopline.server.mlflow.protocol import (
    API,
    EXP_EDIT,
    EXP_READ,
    Call,
    choice_in,
    endpoint,
    integer_in,
    list_in,
    number_in,
    number_out,
    pairs_in,
    pairs_out,
    text_in,
)
from loopline.store.metadata.mlflow import Metric, ModelMetric

router = APIRouter()
RULES: dict[Key, Rule] = {
    **{("POST", f"{API}/runs/{op}"): EXP_EDIT for op in ("log-batch", "log-metric", "update")},
    **{("POST", f"{API}/runs/{op}"): EXP_EDIT for op in ("log-parameter", "set-tag", "delete-tag")},
    **{("POST", f"{API}/runs/{op}"): EXP_EDIT for op in ("log-model", "log-inputs", "outputs")},
    ("POST", f"{API}/runs/create"): need("experiment", "edit", "experiment_id"),
    ("GET", f"{API}/runs/get"): EXP_READ,
    ("GET", f"{API}/metrics/get-history"): EXP_READ,
}

STATUS_OUT = {
    "running": "RUNNING",
    "scheduled": "SCHEDULED",
    "succeeded": "FINISHED",
    "failed": "FAILED",
    "killed": "KILLED",
    "interrupted": "KILLED",
}
STATUS_IN = {
    "RUNNING": "running",
    "SCHEDULED": "scheduled",
    "FINISHED": "succeeded",
    "FAILED": "failed",
    "KILLED": "killed",
}
_METRIC_FIELDS = frozenset(
    {"key", "value", "timestamp", "step", "run_id", "model_id", "dataset_name", "dataset_digest"}
)
_MAX_RESULTS = 50_000
# MLflow's own server caps a log-batch request so (and answers INVALID_PARAMETER_VALUE past them).
_MAX_METRICS = 1000
_MAX_PARAMS_TAGS = 100
_MAX_ENTITIES = 1000


# -- runs -----------------------------------------------------------------------------------
def runs_json(call: Call, runs: Sequence[TrackedRun]) -> list[dict[str, Any]]:
    """A page of runs as MLflow's Run messages, their output models read in one query."""
    outputs = mlflow_store(call).run_outputs([r.id for r in runs])
    return [run_json(r, outputs.get(r.id, ())) for r in runs]


def run_json(run: TrackedRun, outputs: Sequence[tuple[str, int]] = ()) -> dict[str, Any]:
    """One run; `outputs`: its output models (model id, step), see runs_json."""
    root = f"mlflow-artifacts:/{run.experiment_id}/{run.id}/artifacts"
    info = {
        "run_id": run.id,
        "run_uuid": run.id,
        "run_name": run.name or "",
        "experiment_id": str(run.experiment_id),
        "user_id": run.user or "",
        "status": STATUS_OUT.get(run.status, "FAILED"),
        "start_time": ms(run.started_at),
        "artifact_uri": root,
        "lifecycle_stage": run.lifecycle,
    }
    if run.finished_at is not None:
        info["end_time"] = ms(run.finished_at)
    return {
        "info": info,
        "data": {
            "metrics": [metric_json(p) for p in run.points],
            "params": pairs_out(run.params),
            "tags": pairs_out({k: v for k, v in run.tags.items() if k != INPUTS_TAG}),
        },
        "inputs": json.loads(run.tags.get(INPUTS_TAG, "{}")),
        "outputs": {"model_outputs": [{"model_id": m, "step": step} for m, step in outputs]}
        if outputs
        else {},
    }


def metric_json(point: MetricPoint) -> dict[str, Any]:
    return {
        "key": point.key,
        "value": number_out(point.value),
        "timestamp": round(point.timestamp * 1000),
        "step": point.step,
    }


def run_id_of(call: Call) -> str:
    return text_in(call.data.get("run_id") or call.data.get("run_uuid"), "run_id", limit=40)


@endpoint(
    router, "POST", f"{API}/runs/create", {"experiment_id", "user_id", "run_name", "start_time", "tags"}
)
def create_run(call: Call) -> dict[str, Any]:
    exp_id = experiment_id(call, call.data.get("experiment_id") or "0")
    tags = pairs_in(call.data.get("tags"), "tags")
    name = text_in(call.data.get("run_name"), "run_name", required=False, limit=250) or tags.get(
        "mlflow.runName"
    )
    user = text_in(call.data.get("user_id"), "user_id", required=False, limit=200) or None
    started = time_in(call.data.get("start_time"), "start_time")
    created = tracking(call).create_run(
        exp_id, name=name, user=user, started_at=started, executor="mlflow", host="mlflow-client", pid=0
    )
    if name is None:
        name = f"run-{created.id[-8:]}"
        tracking(call).update_run(created.id, name=name)
    tags.setdefault("mlflow.runName", name)
    mlflow_store(call).log_batch(created.id, tags=tags)
    return {"run": run_json(mlflow_store(call).run(created.id))}


@endpoint(router, "POST", f"{API}/runs/update", {"run_id", "run_uuid", "status", "end_time", "run_name"})
def update_run(call: Call) -> dict[str, Any]:
    run_id = run_id_of(call)
    status = choice_in(call.data.get("status"), "run status", STATUS_IN)
    name = text_in(call.data.get("run_name"), "run_name", required=False, limit=250) or None
    tracking(call).update_run(
        run_id,
        status=STATUS_IN[status] if status else None,
        finished_at=time_in(call.data.get("end_time"), "end_time"),
        name=name,
    )
    if name is not None:
        mlflow_store(call).log_batch(run_id, tags={"mlflow.runName": name})
    run = mlflow_store(call).run(run_id)
    return {"run_info": run_json(run)["info"]}


@endpoint(router, "GET", f"{API}/runs/get", {"run_id", "run_uuid"})
def get_run(call: Call) -> dict[str, Any]:
    return {"run": runs_json(call, [mlflow_store(call).run(run_id_of(call))])[0]}


def metric_in(item: Any, run_id: str) -> Metric:
    if not isinstance(item, dict) or set(item) - _METRIC_FIELDS:
        raise InvalidInput(f"a metric must be {{key, value, timestamp, step}}, not {str(item)[:200]}")
    key = text_in(item.get("key"), "metric key", limit=250)
    value = number_in(item.get("value"), f"metric {key!r} value")
    step = integer_in(item.get("step", 0), f"metric {key!r} step")
    stamp = item.get("timestamp")
    seconds = time.time() if stamp is None else integer_in(stamp, f"metric {key!r} timestamp") / 1000
    return key, value, step, seconds


def linked_in(item: dict[str, Any], metric: Metric, run_id: str) -> ModelMetric | None:
    """The logged-model side of a metric sent with a model_id (None without one)."""
    model_id = text_in(item.get("model_id"), "metric model_id", required=False, limit=40)
    if not model_id:
        return None
    name = text_in(item.get("dataset_name"), "metric dataset_name", required=False, limit=500) or None
    digest = text_in(item.get("dataset_digest"), "metric dataset_digest", required=False, limit=64) or None
    key, value, step, seconds = metric
    return ModelMetric(model_id, run_id, key, value, step, seconds, name, digest)


def check_batch(metrics: list[Any], params: list[Any], tags: list[Any]) -> None:
    """MLflow's limits on one log-batch request, checked before any entry is read."""
    limits = (
        ("metrics", metrics, _MAX_METRICS),
        ("params", params, _MAX_PARAMS_TAGS),
        ("tags", tags, _MAX_PARAMS_TAGS),
    )
    for what, items, most in limits:
        if len(items) > most:
            raise InvalidInput(
                f"a batch logging request can contain at most {most} {what}; got {len(items)}",
                hint=f"split the {what} across several requests",
            )
    total = len(metrics) + len(params) + len(tags)
    if total > _MAX_ENTITIES:
        raise InvalidInput(
            f"a batch logging request can contain at most {_MAX_ENTITIES} metrics, params and tags in"
            f" total; got {total}",
            hint="split them across several requests",
        )


@endpoint(router, "POST", f"{API}/runs/log-batch", {"run_id", "metrics", "params", "tags"})
def log_batch(call: Call) -> dict[str, Any]:
    run_id = text_in(call.data.get("run_id"), "run_id", limit=40)
    raw = list_in(call.data.get("metrics"), "metrics")
    check_batch(raw, list_in(call.data.get("params"), "params"), list_in(call.data.get("tags"), "tags"))
    values, linked = metrics_in(raw, run_id)
    params = pairs_in(call.data.get("params"), "params")
    tags = pairs_in(call.data.get("tags"), "tags")
    if values or params or tags or linked:
        mlflow_store(call).log_batch(run_id, values, params, tags, linked)
    return {}


def metrics_in(raw: list[Any], run_id: str) -> tuple[list[Metric], list[ModelMetric]]:
    """A request's metrics: the run's own, and those sent with a model_id (the logged model's,
    and the run's once: MLflow 3 re-sends a run's points with a model_id to link them to a model
    it just logged, so the store adds them to the run's history only where missing)."""
    values: list[Metric] = []
    linked: list[ModelMetric] = []
    for item in raw:
        metric = metric_in(item, run_id)
        link = linked_in(item, metric, run_id)
        if link is None:
            values.append(metric)
        else:
            linked.append(link)
    return values, linked


@endpoint(
    router,
    "POST",
    f"{API}/runs/log-metric",
    {"run_id", "run_uuid", "key", "value", "timestamp", "step", "model_id", "dataset_name", "dataset_digest"},
)
def log_metric(call: Call) -> dict[str, Any]:
    run_id = run_id_of(call)
    fields = {k: v for k, v in call.data.items() if k not in ("run_id", "run_uuid")}
    values, linked = metrics_in([fields], run_id)
    mlflow_store(call).log_batch(run_id, values, linked=linked)
    return {}


@endpoint(router, "POST", f"{API}/runs/log-parameter", {"run_id", "run_uuid", "key", "value"})
def log_param(call: Call) -> dict[str, Any]:
    key = text_in(call.data.get("key"), "key", limit=250)
    value = text_in(call.data.get("value"), "value", required=False, limit=6000)
    mlflow_store(call).log_batch(run_id_of(call), params={key: value})
    return {}


@endpoint(router, "POST", f"{API}/runs/set-tag", {"run_id", "run_uuid", "key", "value"})
def set_tag(call: Call) -> dict[str, Any]:
    key = text_in(call.data.get("key"), "key", limit=250)
    value = text_in(call.data.get("value"), "value", required=False, limit=8000)
    run_id = run_id_of(call)
    mlflow_store(call).log_batch(run_id, tags={key: value})
    if key == "mlflow.runName":
        tracking(call).update_run(run_id, name=value[:250])
    return {}


@endpoint(router, "POST", f"{API}/runs/delete-tag", {"run_id", "key"})
def delete_tag(call: Call) -> dict[str, Any]:
    tracking(call).delete_tag(run_id_of(call), text_in(call.data.get("key"), "key", limit=250))
    return {}


@endpoint(router, "POST", f"{API}/runs/log-model", {"run_id", "model_json"})
def log_model(call: Call) -> dict[str, Any]:
    """MLflow's record of a model logged in a run: kept, as MLflow keeps it, in a run tag."""
    run_id = run_id_of(call)
    model = text_in(call.data.get("model_json"), "model_json", limit=1_000_000)
    try:
        json.loads(model)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"model_json is not JSON: {exc}") from None
    history = mlflow_store(call).run(run_id).tags.get("mlflow.log-model.history", "[]")
    entries = [*json.loads(history), json.loads(model)]
    mlflow_store(call).log_batch(run_id, tags={"mlflow.log-model.history": json.dumps(entries)})
    return {}


INPUTS_TAG = "loopline.mlflow.inputs"


@endpoint(router, "POST", f"{API}/runs/log-inputs", {"run_id", "datasets", "models"})
def log_inputs(call: Call) -> dict[str, Any]:
    """A run's input datasets and models (autolog logs them): kept as they came, in a run tag,
    and handed back by runs/get."""
    run_id = run_id_of(call)
    datasets, models = call.data.get("datasets") or [], call.data.get("models") or []
    if not isinstance(datasets, list) or not isinstance(models, list):
        raise InvalidInput("datasets and models must be lists")
    held = json.loads(mlflow_store(call).run(run_id).tags.get(INPUTS_TAG, "{}"))
    held = {"dataset_inputs": [*held.get("dataset_inputs", []), *datasets]} | {
        "model_inputs": [*held.get("model_inputs", []), *models]
    }
    mlflow_store(call).log_batch(run_id, tags={INPUTS_TAG: json.dumps(held)})
    return {}


@endpoint(router, "POST", f"{API}/runs/outputs", {"run_id", "models"})
def log_outputs(call: Call) -> dict[str, Any]:
    """A run's output models (MLflow 3 records each model logged in a run so), handed back as
    the run's `outputs.model_outputs`."""
    run_id = run_id_of(call)
    items = list_in(call.data.get("models"), "models")
    if len(items) > _MAX_ENTITIES:
        raise InvalidInput(f"a run may record at most {_MAX_ENTITIES} output models a request")
    outputs = []
    for item in items:
        if not isinstance(item, dict) or set(item) - {"model_id", "step"}:
            raise InvalidInput(f"an output model must be {{model_id, step}}, not {str(item)[:100]}")
        model_id = text_in(item.get("model_id"), "model_id", limit=40)
        outputs.append((model_id, integer_in(item.get("step", 0), "step")))
    if outputs:
        mlflow_store(call).log_outputs(run_id, outputs)
    else:
        mlflow_store(call).run(run_id)
    return {}


@endpoint(
    router,
    "GET",
    f"{API}/metrics/get-history",
    {"run_id", "run_uuid", "metric_key", "page_token", "max_results"},
)
def get_metric_history(call: Call) -> dict[str, Any]:
    key = text_in(call.data.get("metric_key"), "metric_key", limit=250)
    points = mlflow_store(call).metric_history(run_id_of(call), key)
    offset = integer_in(call.data.get("page_token") or "0", "page_token")
    limit = integer_in(call.data.get("max_results"), "max_results", 25_000)
    page = points[offset : offset + limit]
    result: dict[str, Any] = {"metrics": [metric_json(p) for p in page]}
    if offset + limit < len(points):
        result["next_page_token"] = str(offset + limit)
    return result
