"""What every route needs: the project, the clock, and who is asking.

A request names its user by `Authorization: Bearer TOKEN` (the REST API) or by the HttpOnly
cookie the sign-in page sets (the web UI), which holds a server-side session's id, never the
token. Unknown, expired or revoked credentials are 401, roles that may not do a thing 403.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request

from loopline.core.errors import Forbidden, Unauthorized
from loopline.core.identity import Principal

COOKIE = "loopline_session"
UI_HEADER = "X-Loopline-UI"
MANAGERS = frozenset({"maintainer", "admin"})


def utc_now() -> datetime:
    return datetime.now(UTC)


def project_of(request: Request) -> Any:
    return request.app.state.project


def now_of(request: Request) -> datetime:
    clock: Callable[[], datetime] = request.app.state.clock
    return clock()


def bearer_of(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized("the Authorization header must be `Bearer TOKEN`")
    return value.strip()


def lookup(project: Any, token: str) -> Principal | None:
    """The principal of a bearer token, None when it may not act (unknown, expired, revoked)."""
    try:
        principal: Principal = project.authenticate_token(token)
    except Unauthorized:
        return None
    return principal


def session_user(project: Any, session_id: str | None) -> Principal | None:
    """The principal of the sign-in cookie's session, None when there is none or it ended."""
    if not session_id:
        return None
    try:
        principal: Principal = project.authenticate_session(session_id)
    except Unauthorized:
        return None
    return principal


def current_annotator(request: Request) -> Principal:
    """The bearer token's user, else the cookie's session's. A write with the cookie must carry
    the page's `X-Loopline-UI` header: another site can make a browser send the cookie (were
    SameSite ignored), but not a custom header without a CORS preflight this server never grants."""
    project = project_of(request)
    token = bearer_of(request)
    if token is not None:
        principal: Principal = project.authenticate_token(token)
        return principal
    session_id = request.cookies.get(COOKIE) or None
    if session_id is None:
        raise Unauthorized(
            "no token given",
            hint="send `Authorization: Bearer TOKEN` (from `loopline users add` or `loopline tokens create`)",
        )
    if request.method not in ("GET", "HEAD") and request.headers.get(UI_HEADER) != "1":
        raise Forbidden(f"a write signed in by cookie needs the {UI_HEADER} header")
    principal = project.authenticate_session(session_id)
    return principal


def current_manager(who: Annotated[Principal, Depends(current_annotator)]) -> Principal:
    if who.role not in MANAGERS:
        article = "an" if who.role[0] in "aeiou" else "a"
        raise Forbidden(f"{who.name} is {article} {who.role}; this needs a maintainer or an admin")
    return who


Who = Annotated[Principal, Depends(current_annotator)]
Manager = Annotated[Principal, Depends(current_manager)]
Now = Annotated[datetime, Depends(now_of)]
