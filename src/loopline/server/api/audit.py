"""The REST API under /api/v1: audit. Viewers and approvers read the log (read on the project);
it is paged in SQL, newest first, so a long log costs one page per request."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from loopline.api.audit import AuditEventOut, AuditHead, AuditVerified
from loopline.api.paging import Page, clamp_limit, decode_token, page_of
from loopline.serve.access import Key, Rule, need
from loopline.server.api.params import DEFAULT_LIMIT, NO_NUL, Limit, PageToken
from loopline.server.deps import project_of

router = APIRouter(prefix="/api/v1", tags=["audit"])

_READ = need("project", "read")
RULES: dict[Key, Rule] = {
    ("GET", "/api/v1/audit"): _READ,
    ("GET", "/api/v1/audit/verify"): _READ,
    ("GET", "/api/v1/audit/head"): _READ,
}

Text = Annotated[str | None, Query(max_length=500, pattern=NO_NUL)]


def events_page(
    request: Request,
    object: str | None,
    actor: str | None,
    action: str | None,
    limit: int | None,
    page_token: str | None,
) -> Page[AuditEventOut]:
    """One page of the log (the page /audit renders the same)."""
    offset, size = decode_token(page_token), clamp_limit(limit)
    found = project_of(request).audit_log(
        object=object or None, actor=actor or None, action=action or None, limit=size + 1, offset=offset
    )
    return page_of([AuditEventOut.of(e) for e in found], offset, size)


@router.get("/audit", summary="Audit events, newest first (as `loopline audit log --json`)")
def log(
    request: Request,
    object: Annotated[
        str | None, Query(max_length=500, pattern=NO_NUL, description="this object and what is in it")
    ] = None,
    actor: Text = None,
    action: Annotated[
        str | None, Query(max_length=200, pattern=NO_NUL, description="an action, or a family: `model.`")
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    page_token: PageToken = None,
) -> Page[AuditEventOut]:
    return events_page(request, object, actor, action, limit, page_token)


@router.get("/audit/verify", summary="Walk the hash chain (as `loopline audit verify --json`)")
def verify(
    request: Request,
    head: Annotated[
        str | None, Query(max_length=200, description="a kept SEQ:HASH that must be there")
    ] = None,
) -> AuditVerified:
    return AuditVerified.of(project_of(request).audit_verify(head))


@router.get("/audit/head", summary="The last event's SEQ and hash (null for an empty log)")
def head(request: Request) -> AuditHead | None:
    return AuditHead.of(project_of(request).audit_head())
