"""Dashboard pages: audit. `/audit` is the log, newest first, a page at a time (paged in SQL like
GET /api/v1/audit), filtered by object, actor and action, each actor, action and object a link
that filters by it. The chain's verify status heads the page: walking a long chain takes seconds,
so the page asks GET /api/v1/audit/verify for it after it has loaded (static/dash-audit.js)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from loopline.api.paging import clamp_limit, decode_token, encode_token
from loopline.serve.access import Key, Rule, need
from loopline.server.api.audit import Text, events_page
from loopline.server.api.params import DEFAULT_LIMIT, Limit, PageToken
from loopline.server.dashboard.common import page

router = APIRouter(include_in_schema=False)

RULES: dict[Key, Rule] = {("GET", "/audit"): need("project", "read")}


@router.get("/audit")
def log_page(
    request: Request,
    object: Text = None,
    actor: Text = None,
    action: Text = None,
    limit: Limit = DEFAULT_LIMIT,
    page_token: PageToken = None,
) -> Response:
    filters = {
        k: v.strip() for k, v in (("object", object), ("actor", actor), ("action", action)) if v and v.strip()
    }
    found = events_page(
        request, filters.get("object"), filters.get("actor"), filters.get("action"), limit, page_token
    )
    offset, size = decode_token(page_token), clamp_limit(limit)
    kept = filters | ({"limit": str(size)} if size != DEFAULT_LIMIT else {})  # the default stays out of links

    def link(**changes: str | None) -> str:
        query = {k: v for k, v in (kept | changes).items() if v}
        return "/audit" + ("?" + urlencode(query) if query else "")

    newer = (
        None
        if offset == 0
        else link(page_token=encode_token(max(offset - size, 0)) if offset > size else None)
    )
    older = link(page_token=found.next_page_token) if found.next_page_token else None
    return page(
        request,
        "audit_log.html",
        events=found.items,
        filters=filters,
        link=link,
        newer=newer,
        older=older,
        first_seq=offset + 1,
    )
