"""MLflow 3 logged models and the model registry, on loopline's registry.

An MLflow registered model is a loopline registered model, an MLflow model version a loopline
model version: `model-versions/create` turns the logged model's folder into a loopline artifact
(a skops `model` when MLflow saved it with skops, see loopline.registry.mlflow_models) and
registers it through the Registry, so it is checked, gated, promoted and served like a native one.
Aliases move through `Registry.promote`, under the project's promotion policy.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter

from loopline.core.errors import Conflict, Integrity, InvalidInput, NotFound
from loopline.registry import Registry
from loopline.registry.mlflow_models import model_artifact
from loopline.registry.mlflow_stages import latest_per_stage, stage_of
from loopline.serve.access import Key, Rule, need
from loopline.server.mlflow.experiments import experiment_id, mlflow_store, ms
from loopline.server.mlflow.protocol import (
    API,
    EXP_EDIT,
    EXP_READ,
    MODEL_EDIT,
    MODEL_READ,
    AlreadyExists,
    Call,
    choice_in,
    endpoint,
    integer_in,
    number_out,
    pairs_in,
    pairs_out,
    text_in,
)
from loopline.server.mlflow.unsupported import refuse_prompt
from loopline.store.metadata.mlflow import LoggedModel, ModelMetric, VersionExtra, check_path
from loopline.store.metadata.registry import ModelVersion
from loopline.store.metadata.summaries import RegisteredModel

router = APIRouter()
RULES: dict[Key, Rule] = {
    ("POST", f"{API}/logged-models"): need("experiment", "edit", "experiment_id"),
    ("GET", f"{API}/logged-models/{{model_id}}"): EXP_READ,
    ("PATCH", f"{API}/logged-models/{{model_id}}"): EXP_EDIT,
    ("PATCH", f"{API}/logged-models/{{model_id}}/tags"): EXP_EDIT,
    ("POST", f"{API}/logged-models/{{model_id}}/params"): EXP_EDIT,
    ("POST", f"{API}/registered-models/create"): MODEL_EDIT,
    ("GET", f"{API}/registered-models/get"): MODEL_READ,
    ("POST", f"{API}/registered-models/set-tag"): MODEL_EDIT,
    ("POST", f"{API}/registered-models/alias"): MODEL_EDIT,
    ("DELETE", f"{API}/registered-models/alias"): MODEL_EDIT,
    ("GET", f"{API}/registered-models/alias"): MODEL_READ,
    ("POST", f"{API}/model-versions/create"): MODEL_EDIT,
    ("GET", f"{API}/model-versions/get"): MODEL_READ,
    ("POST", f"{API}/model-versions/set-tag"): MODEL_EDIT,
    ("GET", f"{API}/model-versions/get-download-uri"): MODEL_READ,
}

_STATUS = {"LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED"}


def registry(call: Call) -> Registry:
    """The project's registry, acting as the caller (token holder, else the server's user)."""
    base: Registry = call.project.registry
    return Registry(base.meta, base.blobs, base.policy, call.actor)


# -- logged models --------------------------------------------------------------------------
def model_folder(model: LoggedModel) -> str:
    return f"{model.experiment_id}/models/{model.model_id}/artifacts"


def model_metric_json(metric: ModelMetric) -> dict[str, Any]:
    out: dict[str, Any] = {
        "key": metric.key,
        "value": number_out(metric.value),
        "timestamp": round(metric.timestamp * 1000),
        "step": metric.step,
        "model_id": metric.model_id,
        "run_id": metric.run_id or "",
    }
    if metric.dataset_name:
        out["dataset_name"] = metric.dataset_name
    if metric.dataset_digest:
        out["dataset_digest"] = metric.dataset_digest
    return out


def logged_models_json(call: Call, models: Sequence[LoggedModel]) -> list[dict[str, Any]]:
    """A page of logged models, their metrics read in one query."""
    metrics = mlflow_store(call).model_metrics([m.model_id for m in models])
    return [logged_model_json(m, metrics.get(m.model_id, ())) for m in models]


def logged_model_json(model: LoggedModel, metrics: Sequence[ModelMetric] = ()) -> dict[str, Any]:
    """One logged model; `metrics`: those logged with its id (see logged_models_json)."""
    return {
        "info": {
            "experiment_id": str(model.experiment_id),
            "model_id": model.model_id,
            "name": model.name,
            "artifact_uri": f"mlflow-artifacts:/{model_folder(model)}",
            "creation_timestamp_ms": ms(model.created_at),
            "last_updated_timestamp_ms": ms(model.updated_at),
            "model_type": model.model_type or "",
            "source_run_id": model.source_run_id or "",
            "status": model.status,
            "status_message": model.status_message or "",
            "tags": pairs_out(model.tags),
        },
        "data": {"params": pairs_out(model.params), "metrics": [model_metric_json(m) for m in metrics]},
    }


@endpoint(
    router,
    "POST",
    f"{API}/logged-models",
    {"experiment_id", "name", "model_type", "source_run_id", "params", "tags"},
)
def create_logged_model(call: Call) -> dict[str, Any]:
    now = datetime.now(UTC)
    model = LoggedModel(
        model_id=f"m-{uuid.uuid4().hex}",
        experiment_id=experiment_id(call, call.data.get("experiment_id")),
        name=text_in(call.data.get("name"), "name", required=False, limit=250) or "model",
        source_run_id=text_in(call.data.get("source_run_id"), "source_run_id", required=False, limit=40)
        or None,
        model_type=text_in(call.data.get("model_type"), "model_type", required=False, limit=100) or None,
        status="LOGGED_MODEL_PENDING",
        status_message=None,
        tags=pairs_in(call.data.get("tags"), "tags"),
        params=pairs_in(call.data.get("params"), "params"),
        created_at=now,
        updated_at=now,
    )
    mlflow_store(call).create_logged_model(model)
    return {"model": logged_model_json(model)}


@endpoint(router, "GET", f"{API}/logged-models/{{model_id}}", {"model_id"})
def get_logged_model(call: Call) -> dict[str, Any]:
    return {"model": logged_models_json(call, [mlflow_store(call).logged_model(call.path["model_id"])])[0]}


@endpoint(router, "PATCH", f"{API}/logged-models/{{model_id}}", {"model_id", "status"})
def finalize_logged_model(call: Call) -> dict[str, Any]:
    status = choice_in(call.data.get("status"), "logged model status", _STATUS)
    if status is None:
        raise InvalidInput("a logged model's status is required", hint=", ".join(sorted(_STATUS)))
    model = mlflow_store(call).update_logged_model(call.path["model_id"], status=status)
    return {"model": logged_models_json(call, [model])[0]}


@endpoint(router, "PATCH", f"{API}/logged-models/{{model_id}}/tags", {"model_id", "tags"})
def set_logged_model_tags(call: Call) -> dict[str, Any]:
    mlflow_store(call).update_logged_model(
        call.path["model_id"], tags=pairs_in(call.data.get("tags"), "tags")
    )
    return {}


@endpoint(router, "POST", f"{API}/logged-models/{{model_id}}/params", {"model_id", "params"})
def log_logged_model_params(call: Call) -> dict[str, Any]:
    params = pairs_in(call.data.get("params"), "params")
    mlflow_store(call).update_logged_model(call.path["model_id"], params=params)
    return {}


# -- registered models and versions ---------------------------------------------------------
def version_json(version: ModelVersion, extra: VersionExtra | None) -> dict[str, Any]:
    created = ms(version.created_at)
    return {
        "name": version.name,
        "version": str(version.version),
        "creation_timestamp": created,
        "last_updated_timestamp": created,
        "current_stage": stage_of(version.aliases, version.status),
        "description": version.description,
        "source": extra.source if extra else f"loopline:{version.artifact_id}",
        "run_id": version.run_id or "",
        "run_link": "",
        "status": "READY",
        "tags": pairs_out(extra.tags if extra else {}),
        "aliases": list(version.aliases),
        **({"model_id": extra.model_id} if extra and extra.model_id else {}),
    }


def versions_json(call: Call, versions: list[ModelVersion]) -> list[dict[str, Any]]:
    extras = mlflow_store(call).version_extras([(v.name, v.version) for v in versions])
    return [version_json(v, extras.get((v.name, v.version))) for v in versions]


def model_json(call: Call, model: RegisteredModel) -> dict[str, Any]:
    """A registered model; its latest_versions are MLflow's: the latest version of each stage."""
    latest = []
    if model.latest is not None:
        latest = versions_json(call, latest_per_stage(registry(call).repo.versions(model.name)))
    return {
        "name": model.name,
        "creation_timestamp": ms(model.created_at),
        "last_updated_timestamp": ms(model.updated_at),
        "description": model.description,
        "latest_versions": latest,
        "tags": pairs_out(model.tags),
        "aliases": [{"alias": a, "version": str(v)} for a, v in sorted(model.aliases.items())],
    }


def _model(call: Call, name: str) -> RegisteredModel:
    found = registry(call).repo.list_models(name)
    if not found:
        raise NotFound(f"no registered model {name!r}", hint="`loopline models` lists them")
    return found[0]


def _name(call: Call) -> str:
    return text_in(call.data.get("name"), "name", limit=200)


def _version(call: Call) -> int:
    return integer_in(call.data.get("version"), "version")


@endpoint(
    router, "POST", f"{API}/registered-models/create", {"name", "tags", "description", "deployment_job_id"}
)
def create_registered_model(call: Call) -> dict[str, Any]:
    name = _name(call)
    description = text_in(call.data.get("description"), "description", required=False)
    tags = pairs_in(call.data.get("tags"), "tags")
    refuse_prompt(tags)
    try:
        mlflow_store(call).create_registered_model(name, description, tags)
    except Conflict as exc:
        raise AlreadyExists(exc.message) from None
    return {"registered_model": model_json(call, _model(call, name))}


@endpoint(router, "GET", f"{API}/registered-models/get", {"name"})
def get_registered_model(call: Call) -> dict[str, Any]:
    return {"registered_model": model_json(call, _model(call, _name(call)))}


@endpoint(router, "POST", f"{API}/registered-models/set-tag", {"name", "key", "value"})
def set_registered_model_tag(call: Call) -> dict[str, Any]:
    key = text_in(call.data.get("key"), "key", limit=250)
    value = text_in(call.data.get("value"), "value", required=False)
    refuse_prompt({}, key, value)
    mlflow_store(call).set_registered_model_tag(_name(call), key, value)
    return {}


@endpoint(router, "POST", f"{API}/registered-models/alias", {"name", "alias", "version"})
def set_alias(call: Call) -> dict[str, Any]:
    alias = text_in(call.data.get("alias"), "alias", limit=64)
    registry(call).promote(_name(call), _version(call), alias, reason="MLflow set_registered_model_alias")
    return {}


@endpoint(router, "DELETE", f"{API}/registered-models/alias", {"name", "alias"})
def delete_alias(call: Call) -> dict[str, Any]:
    alias = text_in(call.data.get("alias"), "alias", limit=64)
    registry(call).delete_alias(_name(call), alias, reason="MLflow delete_registered_model_alias")
    return {}


@endpoint(router, "GET", f"{API}/registered-models/alias", {"name", "alias"})
def get_version_by_alias(call: Call) -> dict[str, Any]:
    alias = text_in(call.data.get("alias"), "alias", limit=64)
    version = registry(call).repo.get_alias(_name(call), alias)
    return {"model_version": versions_json(call, [version])[0]}


def source_folder(call: Call, source: str, model_id: str | None) -> tuple[str, str | None]:
    """The artifact folder a model version's files are in, and the logged model's id."""
    if model_id is None and source.startswith("models:/m-"):
        model_id = source[len("models:/") :].strip("/")
    if model_id:
        return model_folder(mlflow_store(call).logged_model(model_id)), model_id
    if source.startswith("mlflow-artifacts:"):
        return check_path(source[len("mlflow-artifacts:") :].lstrip("/")), None
    if source.startswith("runs:/"):
        return run_source(call, source)
    raise InvalidInput(
        f"model source {source!r} is not on this server",
        hint="log the model to this server (models:/m-…, runs:/… or mlflow-artifacts:/…)",
    )


def run_source(call: Call, source: str) -> tuple[str, str | None]:
    """runs:/RUN/PATH as MLflow 3 reads it: the run's artifact folder PATH when it holds a model
    (an MLmodel file), else the run's logged model named PATH (MLflow 3 logs models so)."""
    run_id, _, rest = source[len("runs:/") :].partition("/")
    store = mlflow_store(call)
    run = store.run(text_in(run_id, "the run id of a runs:/ source", limit=40))
    folder = check_path(f"{run.experiment_id}/{run.id}/artifacts/{rest}".rstrip("/"))
    path = rest.strip("/")
    if path and not any(p == "MLmodel" for p, _, _ in store.files_under(folder)):
        logged = store.run_logged_model(run.id, path)
        if logged is not None:
            return model_folder(logged), logged.model_id
    return folder, None


@endpoint(
    router,
    "POST",
    f"{API}/model-versions/create",
    {"name", "source", "run_id", "tags", "run_link", "description", "model_id"},
)
def create_model_version(call: Call) -> dict[str, Any]:
    name = _name(call)
    source = text_in(call.data.get("source"), "source", limit=1000)
    tags = pairs_in(call.data.get("tags"), "tags")
    refuse_prompt(tags)
    model_id = text_in(call.data.get("model_id"), "model_id", required=False, limit=40) or None
    folder, model_id = source_folder(call, source, model_id)
    store = mlflow_store(call)
    files = store.files_under(folder)
    if not files:
        raise InvalidInput(f"no model files at {source!r}", hint="upload the model's artifacts first")
    run_id = text_in(call.data.get("run_id"), "run_id", required=False, limit=40) or None
    if run_id is None and model_id is not None:  # MLflow 3 names the logged model, not the run
        run_id = store.logged_model(model_id).source_run_id
    metrics = {}
    if run_id is not None:
        metrics = {k: v for k, v in store.run(run_id).metrics.items() if v is not None}
    description = text_in(call.data.get("description"), "description", required=False)
    try:  # a broken upload is the client's to fix: 400, never a 5xx the client would retry
        art = model_artifact(call.project.blobs, files)
        store.record_artifact(art)
        version = registry(call).register(
            name, art, run_id=run_id, metrics=metrics, description=description, reason=f"MLflow: {source}"
        )
    except Integrity as exc:
        raise InvalidInput(f"the model files at {source!r} are unreadable: {exc.message}") from None
    extra = VersionExtra(source, model_id, tags)
    store.save_version_extra(name, version.version, extra)
    return {"model_version": version_json(version, extra)}


@endpoint(router, "GET", f"{API}/model-versions/get", {"name", "version"})
def get_model_version(call: Call) -> dict[str, Any]:
    version = registry(call).repo.get_version(_name(call), _version(call))
    return {"model_version": versions_json(call, [version])[0]}


@endpoint(router, "POST", f"{API}/model-versions/set-tag", {"name", "version", "key", "value"})
def set_model_version_tag(call: Call) -> dict[str, Any]:
    key = text_in(call.data.get("key"), "key", limit=250)
    value = text_in(call.data.get("value"), "value", required=False)
    refuse_prompt({}, key, value)
    mlflow_store(call).set_version_tag(_name(call), _version(call), key, value)
    return {}


@endpoint(router, "GET", f"{API}/model-versions/get-download-uri", {"name", "version"})
def get_download_uri(call: Call) -> dict[str, Any]:
    name, number = _name(call), _version(call)
    registry(call).repo.get_version(name, number)
    extra = mlflow_store(call).version_extras([(name, number)]).get((name, number))
    if extra is None:
        raise InvalidInput(
            f"{name} version {number} was registered by loopline, not through MLflow",
            hint=f"load it with loopline: Project.load_model({name!r}, {number})",
        )
    folder, _ = source_folder(call, extra.source, extra.model_id)
    return {"artifact_uri": f"mlflow-artifacts:/{folder}"}
