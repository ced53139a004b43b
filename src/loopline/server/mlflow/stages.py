"""MLflow's stage-based registry (deprecated in MLflow, still in many deploy scripts), mapped
onto loopline's aliases (the rules: loopline.registry.mlflow_stages).

Moving a version into Production or Staging is `Registry.promote` to the alias `production` or
`staging`, so the project's promotion policy, roles and approvals apply and the move is a model
event in the audit log; a refusal is MLflow's error body (400 INVALID_STATE) with the policy's
message. Leaving a stage is `Registry.delete_alias` (a protected alias needs an approved
removal). Archived is the version's loopline status `archived` (model_versions.status, shown by
`loopline models`), set with a model event of its own. A transition is these steps in order, the
policy's first: a refused promotion changes nothing.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from loopline.core.errors import InvalidInput, NotFound
from loopline.registry.mlflow_stages import (
    ARCHIVED,
    READY,
    STAGE_ALIASES,
    STAGES,
    canonical_stage,
    latest_per_stage,
)
from loopline.serve.access import Key, Rule
from loopline.server.mlflow.experiments import mlflow_store
from loopline.server.mlflow.models import registry, versions_json
from loopline.server.mlflow.protocol import (
    API,
    MODEL_EDIT,
    MODEL_READ,
    Call,
    endpoint,
    integer_in,
    list_in,
    text_in,
)

router = APIRouter()
RULES: dict[Key, Rule] = {
    ("POST", f"{API}/model-versions/transition-stage"): MODEL_EDIT,
    ("POST", f"{API}/registered-models/get-latest-versions"): MODEL_READ,
    ("GET", f"{API}/registered-models/get-latest-versions"): MODEL_READ,
}


def _flag(value: Any, what: str) -> bool:
    """A protobuf bool: true/false, or its string as a query parameter carries it."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InvalidInput(f"{what} must be true or false, not {str(value)[:50]!r}")


@endpoint(
    router,
    "POST",
    f"{API}/model-versions/transition-stage",
    {"name", "version", "stage", "archive_existing_versions", "comment"},
)
def transition_stage(call: Call) -> dict[str, Any]:
    name = text_in(call.data.get("name"), "name", limit=200)
    number = integer_in(call.data.get("version"), "version")
    stage = canonical_stage(call.data.get("stage"))
    archive = _flag(call.data.get("archive_existing_versions"), "archive_existing_versions")
    if archive and stage not in STAGE_ALIASES:
        raise InvalidInput(
            f"archive_existing_versions is only for a transition to Staging or Production, not {stage}",
            hint="leave it false",
        )
    comment = text_in(call.data.get("comment"), "comment", required=False, limit=1000)
    reason = f"MLflow transition_model_version_stage to {stage}" + (f": {comment}" if comment else "")
    reg = registry(call)
    version = reg.repo.get_version(name, number)  # RESOURCE_DOES_NOT_EXIST first
    held = [alias for alias in STAGE_ALIASES.values() if alias in version.aliases]
    who = reg.principal().name
    store = mlflow_store(call)
    if stage in STAGE_ALIASES:
        alias = STAGE_ALIASES[stage]
        # the policy decides first; the holder it replaces is Archived (an alias holds one version)
        previous = reg.promote(name, number, alias, reason=reason)["from_version"]
        for other in held:
            if other != alias:
                reg.delete_alias(name, other, reason=reason)
        if previous is not None and previous != number:
            store.set_version_status(name, previous, ARCHIVED, actor=who, reason=reason, stage=alias)
        if version.status == ARCHIVED:
            store.set_version_status(name, number, READY, actor=who, reason=reason, stage=alias)
    else:
        for alias in held:
            reg.delete_alias(name, alias, reason=reason)
        status = ARCHIVED if stage == "Archived" else READY
        if version.status != status:
            store.set_version_status(
                name, number, status, actor=who, reason=reason, stage=held[0] if held else None
            )
    return {"model_version": versions_json(call, [reg.repo.get_version(name, number)])[0]}


@endpoint(router, "POST", f"{API}/registered-models/get-latest-versions", {"name", "stages"})
def get_latest_versions(call: Call) -> dict[str, Any]:
    return _latest(call)


@endpoint(router, "GET", f"{API}/registered-models/get-latest-versions", {"name", "stages"})
def get_latest_versions_get(call: Call) -> dict[str, Any]:
    return _latest(call)


def _latest(call: Call) -> dict[str, Any]:
    """The latest version of each stage asked for (none asked: of every stage)."""
    name = text_in(call.data.get("name"), "name", limit=200)
    raw = call.data.get("stages")
    asked = [raw] if isinstance(raw, str) else list_in(raw, "stages")
    stages = {canonical_stage(s) for s in asked} or set(STAGES)
    repo = registry(call).repo
    found = repo.list_models(name)
    if not found:
        raise NotFound(f"no registered model {name!r}", hint="`loopline models` lists them")
    if found[0].latest is None:  # a model with no versions yet
        return {"model_versions": []}
    return {"model_versions": versions_json(call, latest_per_stage(repo.versions(name), stages))}
