"""Dashboard pages: models — the registry's models, one model's versions (aliases, gates,
approvals, with an Approve button for approvers and a Promote button for editors on protected
aliases), its promotion history and what the prediction log shows was deployed, and one
version's model card. Every list is a page read in SQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from loopline.api.models import DeploymentsOut, EventOut, ModelOut, VersionDetailOut, VersionOut
from loopline.api.paging import decode_token, encode_token
from loopline.serve.access import Key, Rule, need
from loopline.server.api.params import PageToken
from loopline.server.dashboard.common import page
from loopline.server.deps import Now, Who, project_of

router = APIRouter(include_in_schema=False)

RULES: dict[Key, Rule] = {
    ("GET", "/models"): need("model", "read"),
    ("GET", "/models/{name}"): need("model", "read", "name"),
    ("GET", "/models/{name}/versions/{version}"): need("model", "read", "name"),
}

PER_PAGE = 50
Name = Annotated[str, Path(max_length=200)]


def _pager(offset: int, more: bool) -> dict[str, str | None]:
    return {
        "next": encode_token(offset + PER_PAGE) if more else None,
        "previous": (encode_token(offset - PER_PAGE) if offset > PER_PAGE else "") if offset else None,
    }


def key_metric(metrics: dict[str, float]) -> tuple[str, float] | None:
    """The metric a listing shows of a version: the first by name."""
    return min(metrics.items()) if metrics else None


@router.get("/models")
def models_page(request: Request, page_token: PageToken = None) -> Response:
    project = project_of(request)
    offset = decode_token(page_token)
    found = project.models_page(offset, PER_PAGE + 1)
    shown = [ModelOut.of(m) for m in found[:PER_PAGE]]
    names = [m.name for m in shown]
    pending: dict[str, int] = {}
    for (name, _), _aliases in project.awaiting_approval(names).items():
        pending[name] = pending.get(name, 0) + 1
    production = project.alias_metrics(names, "production")
    rows = [
        {
            "model": m,
            "production": production.get(m.name, (None, {}))[0],
            "metric": key_metric(production.get(m.name, (None, {}))[1]),
            "pending": pending.get(m.name, 0),
        }
        for m in shown
    ]
    return page(request, "models_list.html", rows=rows, pager=_pager(offset, len(found) > PER_PAGE))


@router.get("/models/{name}")
def model_page(request: Request, name: Name, who: Who, now: Now, page_token: PageToken = None) -> Response:
    project = project_of(request)
    offset = decode_token(page_token)
    listed = project.registry.repo.list_models(name)
    found = project.model_versions(name, offset, PER_PAGE + 1)  # NotFound for an unknown model
    versions = [VersionOut.of(v) for v in found[:PER_PAGE]]
    numbers = [v.version for v in versions]
    awaiting = project.awaiting_approval([name], numbers)
    approvals = project.approvals_of(name, numbers)
    protected = project.registry.policy.require_approval
    aliases = listed[0].aliases if listed else {}
    rows = []
    for v in versions:
        approved = {e.alias for e in approvals.get(v.version, []) if e.kind == "approve"}
        rows.append(
            {
                "v": v,
                "approvals": [EventOut.of(e) for e in approvals.get(v.version, [])],
                "awaiting": awaiting.get((name, v.version), []),
                "promotable": [
                    a
                    for a in protected
                    if a in approved and aliases.get(a) != v.version and v.gates_passed is not False
                ],
            }
        )
    history = [EventOut.of(e) for e in project.model_events(name, 0, PER_PAGE, newest_first=True)]
    deployed = DeploymentsOut.model_validate(
        project.deployments(name, now - timedelta(hours=24), now + timedelta(microseconds=1))
    )
    return page(
        request,
        "models_model.html",
        model=ModelOut.of(listed[0]),
        rows=rows,
        history=history,
        deployed=deployed,
        protected=protected,
        can_approve=who.can_approve,
        can_promote=who.allows("model", "edit", name),
        pager=_pager(offset, len(found) > PER_PAGE),
    )


@router.get("/models/{name}/versions/{version}")
def version_page(request: Request, name: Name, version: Annotated[int, Path(ge=1, le=2**31 - 1)]) -> Response:
    project = project_of(request)
    detail = VersionDetailOut.of(*project.version_detail(name, version))
    lineage = _lineage(detail.model_card)
    run_link = project.source_run_page(detail.run_id) if detail.run_id else None
    return page(request, "models_version.html", v=detail, lineage=lineage, run_link=run_link)


def _lineage(card: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The card's data (training inputs, test set), each with the ref its lineage page takes."""
    rows = []
    for item in (card or {}).get("data", []):
        ref = (
            f"{item['name']}@{item['version']}"
            if item.get("name") and item.get("version")
            else item.get("id")
        )
        rows.append(item | {"ref": ref})
    return rows
