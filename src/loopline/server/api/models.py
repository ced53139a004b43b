"""The REST API under /api/v1: models — registered models, versions, aliases, cards, approvals,
promotion history, and what the prediction log shows was deployed.

Writes go through the Project's registry, which enforces the promotion policy (gates, and four
eyes on `require_approval` aliases: the approver neither registered the version nor moves the
alias). Who acts is the principal the guard authenticated, never an OS user; the audit log
records it. Lists are `Page`s paged in SQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from loopline.api.models import (
    ApprovalOut,
    ApproveBody,
    DeploymentsOut,
    EventOut,
    ModelDetailOut,
    ModelOut,
    MovedOut,
    PredictionOut,
    PromoteBody,
    RollbackBody,
    VersionDetailOut,
)
from loopline.api.paging import Page, decode_token, page_of
from loopline.core.errors import InvalidInput
from loopline.serve.access import Key, Rule, need
from loopline.server.api.params import DEFAULT_LIMIT, Limit, PageToken, When
from loopline.server.deps import Now, Who, project_of

router = APIRouter(prefix="/api/v1", tags=["models"])

_M = "/api/v1/models"
_READ = need("model", "read", "name")
RULES: dict[Key, Rule] = {
    ("GET", _M): need("model", "read"),
    ("GET", f"{_M}/{{name}}"): _READ,
    ("GET", f"{_M}/{{name}}/versions/{{version}}"): _READ,
    ("GET", f"{_M}/{{name}}/history"): _READ,
    ("GET", f"{_M}/{{name}}/deployments"): _READ,
    ("GET", f"{_M}/{{name}}/predictions"): _READ,
    ("POST", f"{_M}/{{name}}/versions/{{version}}/promote"): need("model", "edit", "name"),
    # an approver with read on the model; the registry then checks four eyes (not its registrant)
    ("POST", f"{_M}/{{name}}/versions/{{version}}/approve"): need("model", "read", "name", approver=True),
    ("POST", f"{_M}/{{name}}/rollback"): need("model", "edit", "name"),
}

Name = Annotated[str, Path(max_length=200, description="registered model name")]
Version = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("/models", response_model=Page[ModelOut])
def list_models(
    request: Request, limit: Limit = DEFAULT_LIMIT, page_token: PageToken = None
) -> Page[ModelOut]:
    """Registered models by name, each with its latest version and aliases (`loopline models`)."""
    offset = decode_token(page_token)
    found = project_of(request).models_page(offset, limit + 1)
    return page_of([ModelOut.of(m) for m in found], offset, limit)


@router.get("/models/{name}", response_model=ModelDetailOut)
def get_model(request: Request, name: Name) -> ModelDetailOut:
    """A model with all its versions and aliases (`loopline models show NAME`)."""
    return ModelDetailOut.of(*project_of(request).registry.model(name))


@router.get("/models/{name}/versions/{version}", response_model=VersionDetailOut)
def get_version(request: Request, name: Name, version: Version) -> VersionDetailOut:
    """One version: metrics, gates, model card (`loopline card NAME VERSION`), approvals."""
    return VersionDetailOut.of(*project_of(request).version_detail(name, version))


@router.get("/models/{name}/history", response_model=Page[EventOut])
def history(
    request: Request, name: Name, limit: Limit = DEFAULT_LIMIT, page_token: PageToken = None
) -> Page[EventOut]:
    """Registrations, approvals, promotions, rollbacks, oldest first (`loopline models history`)."""
    offset = decode_token(page_token)
    found = project_of(request).model_events(name, offset, limit + 1)
    return page_of([EventOut.of(e) for e in found], offset, limit)


@router.post("/models/{name}/versions/{version}/promote", response_model=MovedOut)
def promote(request: Request, name: Name, version: Version, body: PromoteBody) -> MovedOut:
    """Point an alias at the version, if the policy allows (gates; four eyes on a protected alias)."""
    moved = project_of(request).promote(name, version, body.alias, body.reason)
    return MovedOut.model_validate(moved)


@router.post("/models/{name}/versions/{version}/approve", response_model=ApprovalOut)
def approve(request: Request, name: Name, version: Version, body: ApproveBody, who: Who) -> ApprovalOut:
    """Approve the version for an alias (or its removal from it), as a signed-in approver who did
    not register it."""
    event = project_of(request).approve(name, version, body.alias, body.reason, removal=body.removal)
    return ApprovalOut.model_validate(event.to_json() | {"auth": who.auth})


@router.post("/models/{name}/rollback", response_model=MovedOut)
def rollback(request: Request, name: Name, body: RollbackBody) -> MovedOut:
    """Point an alias back at the version it had before its last promotion."""
    return MovedOut.model_validate(project_of(request).rollback(name, body.alias, body.reason))


@router.get("/models/{name}/deployments", response_model=DeploymentsOut)
def deployments(
    request: Request,
    name: Name,
    now: Now,
    hours: Annotated[int, Query(ge=1, le=24 * 90, description="the window, back from now")] = 24,
) -> DeploymentsOut:
    """What is deployed where, per variant (primary, canary, shadow): the versions seen, when last
    seen, and the share of requests in the last `hours`. Observed, not declared: there is no
    deployment record; this is what the prediction log shows the servers answered with."""
    until = now + _TICK  # up to and including now
    found = project_of(request).deployments(name, now - timedelta(hours=hours), until)
    return DeploymentsOut.model_validate(found)


_TICK = timedelta(microseconds=1)


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


@router.get("/models/{name}/predictions", response_model=Page[PredictionOut])
def predictions(
    request: Request,
    name: Name,
    now: Now,
    since: When = None,
    until: When = None,
    limit: Limit = DEFAULT_LIMIT,
    page_token: PageToken = None,
) -> Page[PredictionOut]:
    """Logged predictions in [since, until), newest first; until defaults to now and since to a
    day before until (a log holds millions of rows: ask for a window)."""
    end = _aware(until) or now + _TICK
    try:
        start = _aware(since) or end - timedelta(days=1)
    except OverflowError:  # a day before 0001-01-01
        raise InvalidInput("until is too early for a default since", hint="give since too") from None
    if start > end:
        raise InvalidInput("since is after until", hint="since is the window's start, until its end")
    offset = decode_token(page_token)
    found = project_of(request).predictions_page(name, start, end, offset, limit + 1)
    return page_of([PredictionOut.model_validate(p) for p in found], offset, limit)
