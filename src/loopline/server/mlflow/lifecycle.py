"""MLflow's lifecycle calls: delete, restore and rename of experiments and runs; delete, rename
and update of registered models and versions; every delete of a tag. Deleted things are kept
(and listed by `run_view_type=DELETED_ONLY`) until `loopline gc` removes them for good.

Who may: deleting or renaming an experiment or a registered model, and deleting a version (it
removes the version's aliases, under the promotion policy), need `manage` (as MLflow's auth app,
where only MANAGE may delete); deleting or restoring a run, a logged model and any tag, and
describing a model or version, need `edit`. A registered model or version is deleted through
the Registry, so a version behind a protected alias (`registry.require_approval`) is deleted only
once the alias's removal is approved, by someone other than its registrant and the deleter.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from loopline.core.errors import Conflict
from loopline.serve.access import Key, Rule, need
from loopline.server.mlflow.experiments import experiment_id
from loopline.server.mlflow.models import _model, model_json, registry, versions_json
from loopline.server.mlflow.protocol import (
    API,
    EXP_EDIT,
    MODEL_EDIT,
    AlreadyExists,
    Call,
    endpoint,
    integer_in,
    text_in,
)
from loopline.server.mlflow.runs import run_id_of
from loopline.store.metadata.lifecycle import LifecycleStore

EXP_MANAGE = need("experiment", "manage", "experiment_id")
MODEL_MANAGE = need("model", "manage", "name")

router = APIRouter()
RULES: dict[Key, Rule] = {
    ("POST", f"{API}/experiments/delete"): EXP_MANAGE,
    ("POST", f"{API}/experiments/restore"): EXP_MANAGE,
    ("POST", f"{API}/experiments/update"): EXP_MANAGE,
    ("POST", f"{API}/experiments/delete-experiment-tag"): need("experiment", "edit", "experiment_id"),
    ("POST", f"{API}/runs/delete"): EXP_EDIT,
    ("POST", f"{API}/runs/restore"): EXP_EDIT,
    ("DELETE", f"{API}/logged-models/{{model_id}}"): EXP_EDIT,
    ("DELETE", f"{API}/logged-models/{{model_id}}/tags/{{tag_key}}"): EXP_EDIT,
    ("DELETE", f"{API}/registered-models/delete"): MODEL_MANAGE,
    ("POST", f"{API}/registered-models/rename"): MODEL_MANAGE,
    ("PATCH", f"{API}/registered-models/update"): MODEL_EDIT,
    ("DELETE", f"{API}/registered-models/delete-tag"): MODEL_EDIT,
    ("DELETE", f"{API}/model-versions/delete"): MODEL_MANAGE,
    ("PATCH", f"{API}/model-versions/update"): MODEL_EDIT,
    ("DELETE", f"{API}/model-versions/delete-tag"): MODEL_EDIT,
}


def lifecycle(call: Call) -> LifecycleStore:
    return LifecycleStore(call.project.meta)


def _experiment(call: Call) -> int:
    return experiment_id(call, call.data.get("experiment_id"))


def _name(call: Call, field: str = "name") -> str:
    return text_in(call.data.get(field), field, limit=200)


def _version(call: Call) -> int:
    return integer_in(call.data.get("version"), "version")


def _key(call: Call) -> str:
    return text_in(call.data.get("key"), "key", limit=250)


# -- experiments ----------------------------------------------------------------------------
@endpoint(router, "POST", f"{API}/experiments/delete", {"experiment_id"})
def delete_experiment(call: Call) -> dict[str, Any]:
    lifecycle(call).delete_experiment(_experiment(call))
    return {}


@endpoint(router, "POST", f"{API}/experiments/restore", {"experiment_id"})
def restore_experiment(call: Call) -> dict[str, Any]:
    lifecycle(call).restore_experiment(_experiment(call))
    return {}


@endpoint(router, "POST", f"{API}/experiments/update", {"experiment_id", "new_name"})
def rename_experiment(call: Call) -> dict[str, Any]:
    exp_id = _experiment(call)
    lifecycle(call).rename_experiment(exp_id, text_in(call.data.get("new_name"), "new_name", limit=250))
    return {}


@endpoint(router, "POST", f"{API}/experiments/delete-experiment-tag", {"experiment_id", "key"})
def delete_experiment_tag(call: Call) -> dict[str, Any]:
    lifecycle(call).delete_experiment_tag(_experiment(call), _key(call))
    return {}


# -- runs -----------------------------------------------------------------------------------
@endpoint(router, "POST", f"{API}/runs/delete", {"run_id"})
def delete_run(call: Call) -> dict[str, Any]:
    lifecycle(call).delete_run(run_id_of(call))
    return {}


@endpoint(router, "POST", f"{API}/runs/restore", {"run_id"})
def restore_run(call: Call) -> dict[str, Any]:
    lifecycle(call).restore_run(run_id_of(call))
    return {}


# -- logged models (MLflow 3) ---------------------------------------------------------------
@endpoint(router, "DELETE", f"{API}/logged-models/{{model_id}}", {"model_id"})
def delete_logged_model(call: Call) -> dict[str, Any]:
    lifecycle(call).delete_logged_model(text_in(call.path["model_id"], "model_id", limit=40))
    return {}


@endpoint(router, "DELETE", f"{API}/logged-models/{{model_id}}/tags/{{tag_key}}", {"model_id", "tag_key"})
def delete_logged_model_tag(call: Call) -> dict[str, Any]:
    model_id = text_in(call.path["model_id"], "model_id", limit=40)
    lifecycle(call).delete_logged_model_tag(model_id, text_in(call.path["tag_key"], "tag key", limit=250))
    return {}


# -- registered models and versions ---------------------------------------------------------
@endpoint(router, "DELETE", f"{API}/registered-models/delete", {"name"})
def delete_registered_model(call: Call) -> dict[str, Any]:
    registry(call).delete_model(_name(call), reason="MLflow delete_registered_model")
    return {}


@endpoint(router, "POST", f"{API}/registered-models/rename", {"name", "new_name"})
def rename_registered_model(call: Call) -> dict[str, Any]:
    new_name = _name(call, "new_name")
    try:
        registry(call).rename(_name(call), new_name)
    except Conflict as exc:
        raise AlreadyExists(exc.message, hint=exc.hint) from None
    return {"registered_model": model_json(call, _model(call, new_name))}


@endpoint(router, "PATCH", f"{API}/registered-models/update", {"name", "description", "deployment_job_id"})
def update_registered_model(call: Call) -> dict[str, Any]:
    name = _name(call)
    if "description" in call.data:
        registry(call).describe(name, text_in(call.data["description"], "description", required=False))
    return {"registered_model": model_json(call, _model(call, name))}


@endpoint(router, "DELETE", f"{API}/registered-models/delete-tag", {"name", "key"})
def delete_registered_model_tag(call: Call) -> dict[str, Any]:
    reg = registry(call)
    reg.lifecycle.delete_model_tag(_name(call), _key(call), actor=reg.principal().name)
    return {}


@endpoint(router, "DELETE", f"{API}/model-versions/delete", {"name", "version"})
def delete_model_version(call: Call) -> dict[str, Any]:
    registry(call).delete_version(_name(call), _version(call), reason="MLflow delete_model_version")
    return {}


@endpoint(router, "PATCH", f"{API}/model-versions/update", {"name", "version", "description"})
def update_model_version(call: Call) -> dict[str, Any]:
    name, number = _name(call), _version(call)
    reg = registry(call)
    if "description" in call.data:
        reg.describe(name, text_in(call.data["description"], "description", required=False), number)
    return {"model_version": versions_json(call, [reg.repo.get_version(name, number)])[0]}


@endpoint(router, "DELETE", f"{API}/model-versions/delete-tag", {"name", "version", "key"})
def delete_model_version_tag(call: Call) -> dict[str, Any]:
    reg = registry(call)
    reg.lifecycle.delete_version_tag(_name(call), _version(call), _key(call), actor=reg.principal().name)
    return {}
