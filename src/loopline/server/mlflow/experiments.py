"""MLflow experiments on loopline's: an MLflow experiment id is loopline's experiment id as a
string, and "0" (MLflow's default experiment) is loopline's "Default". Shared by the run and
model routes: the id mapping, the epoch-millisecond times and the stores a call works on."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter

from loopline.core.errors import Conflict, InvalidInput
from loopline.core.experiments import Experiment
from loopline.serve.access import Key, Rule, need
from loopline.server.mlflow.protocol import (
    API,
    EXP_EDIT,
    EXP_READ,
    AlreadyExists,
    Call,
    endpoint,
    integer_in,
    pairs_in,
    pairs_out,
    text_in,
)
from loopline.store.metadata.experiments import DEFAULT_EXPERIMENT, TrackingStore
from loopline.store.metadata.mlflow import MlflowStore

router = APIRouter()
RULES: dict[Key, Rule] = {
    ("GET", f"{API}/experiments/get-by-name"): EXP_READ,
    ("GET", f"{API}/experiments/get"): need("experiment", "read", "experiment_id"),
    ("POST", f"{API}/experiments/create"): EXP_EDIT,
    ("POST", f"{API}/experiments/set-experiment-tag"): need("experiment", "edit", "experiment_id"),
}


def ms(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


def time_in(value: Any, what: str) -> datetime | None:
    if value is None:
        return None
    return datetime.fromtimestamp(integer_in(value, what) / 1000, UTC)


def mlflow_store(call: Call) -> MlflowStore:
    return call.project.mlflow


def tracking(call: Call) -> TrackingStore:
    return call.project.meta.tracking


# -- experiments ----------------------------------------------------------------------------
def experiment_id(call: Call, value: Any) -> int:
    text = text_in(value, "experiment_id", limit=20)
    if text == "0":
        return tracking(call).ensure_experiment(DEFAULT_EXPERIMENT).id
    if not text.isdigit():
        raise InvalidInput(f"experiment_id {text!r} is not a number")
    return integer_in(text, "experiment_id")


def experiment_json(exp: Experiment) -> dict[str, Any]:
    created = ms(exp.created_at)
    return {
        "experiment_id": str(exp.id),
        "name": exp.name,
        "artifact_location": exp.artifact_location or f"mlflow-artifacts:/{exp.id}",
        "lifecycle_stage": "active" if exp.lifecycle == "active" else "deleted",
        "creation_time": created,
        "last_update_time": created,
        "tags": pairs_out(exp.tags),
    }


@endpoint(router, "GET", f"{API}/experiments/get-by-name", {"experiment_name"})
def get_experiment_by_name(call: Call) -> dict[str, Any]:
    name = text_in(call.data.get("experiment_name"), "experiment_name", limit=250)
    return {"experiment": experiment_json(tracking(call).get_experiment_by_name(name))}


@endpoint(router, "GET", f"{API}/experiments/get", {"experiment_id"})
def get_experiment(call: Call) -> dict[str, Any]:
    exp_id = experiment_id(call, call.data.get("experiment_id"))
    return {"experiment": experiment_json(tracking(call).get_experiment(exp_id))}


@endpoint(router, "POST", f"{API}/experiments/create", {"name", "artifact_location", "tags"})
def create_experiment(call: Call) -> dict[str, Any]:
    name = text_in(call.data.get("name"), "name", limit=250)
    location = call.data.get("artifact_location") or None
    if location is not None:
        text_in(location, "artifact_location")
    tags = pairs_in(call.data.get("tags"), "tags")
    try:
        exp = tracking(call).create_experiment(name, artifact_location=location, tags=tags)
    except Conflict as exc:
        raise AlreadyExists(exc.message, hint=exc.hint) from None
    return {"experiment_id": str(exp.id)}


@endpoint(router, "POST", f"{API}/experiments/set-experiment-tag", {"experiment_id", "key", "value"})
def set_experiment_tag(call: Call) -> dict[str, Any]:
    exp_id = experiment_id(call, call.data.get("experiment_id"))
    key = text_in(call.data.get("key"), "key", limit=250)
    mlflow_store(call).set_experiment_tag(
        exp_id, key, text_in(call.data.get("value"), "value", required=False)
    )
    return {}
