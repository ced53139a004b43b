"""What every route needs: the project, the clock, and who is asking.

A request names its annotator by `Authorization: Bearer TOKEN` (the REST API) or by the HttpOnly
cookie the sign-in page sets (the web UI); both lead to the same lookup. Unknown tokens are 401,
roles that may not do a thing 403.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request

from loopline.core.errors import Forbidden, NotFound, Unauthorized
from loopline.core.labeling import Annotator

COOKIE = "loopline_token"
UI_HEADER = "X-Loopline-UI"
MANAGERS = frozenset({"manager", "admin"})


def utc_now() -> datetime:
    return datetime.now(UTC)


def project_of(request: Request) -> Any:
    return request.app.state.project


def now_of(request: Request) -> datetime:
    clock: Callable[[], datetime] = request.app.state.clock
    return clock()


def token_of(request: Request) -> str | None:
    """The bearer token, else the sign-in cookie. A write with the cookie must carry the page's
    `X-Loopline-UI` header: another site can make a browser send the cookie (were SameSite
    ignored), but not a custom header without a CORS preflight this server never grants."""
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized("the Authorization header must be `Bearer TOKEN`")
        return value.strip()
    cookie = request.cookies.get(COOKIE) or None
    if cookie and request.method not in ("GET", "HEAD") and request.headers.get(UI_HEADER) != "1":
        raise Forbidden(f"a write signed in by cookie needs the {UI_HEADER} header")
    return cookie


def lookup(project: Any, token: str) -> Annotator | None:
    try:
        annotator: Annotator = project.annotator_for_token(token)
    except NotFound:
        return None
    return annotator if annotator.active else None


def current_annotator(request: Request) -> Annotator:
    token = token_of(request)
    if token is None:
        raise Unauthorized(
            "no token given",
            hint="send `Authorization: Bearer TOKEN` (from `loopline annotate annotators add`)",
        )
    annotator = lookup(project_of(request), token)
    if annotator is None:
        raise Unauthorized("unknown or inactive token", hint="ask a manager for a new token")
    return annotator


def current_manager(annotator: Annotated[Annotator, Depends(current_annotator)]) -> Annotator:
    if annotator.role not in MANAGERS:
        raise Forbidden(f"{annotator.name} is an annotator; this needs a manager")
    return annotator


Who = Annotated[Annotator, Depends(current_annotator)]
Manager = Annotated[Annotator, Depends(current_manager)]
Now = Annotated[datetime, Depends(now_of)]
