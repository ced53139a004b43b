"""What every route needs: the project, the clock, and who is asking.

Who is asking is settled before a handler runs: the guard (server/access.py) authenticates the
request (server/auth.py), refuses it unless the route table lets that principal through, and
leaves the principal in the request's state.
The sign-in cookie holds a server-side session's id, never the token.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request

from loopline.core.errors import Unauthorized
from loopline.core.identity import Principal

__all__ = ["COOKIE", "UI_HEADER", "Now", "Who", "now_of", "principal_of", "project_of", "utc_now"]

COOKIE = "loopline_session"
UI_HEADER = "X-Loopline-UI"


def utc_now() -> datetime:
    return datetime.now(UTC)


def project_of(request: Request) -> Any:
    return request.app.state.project


def now_of(request: Request) -> datetime:
    clock: Callable[[], datetime] = request.app.state.clock
    return clock()


def principal_of(request: Request) -> Principal:
    """The principal the guard admitted (a route of the table that needs one)."""
    principal: Principal | None = request.scope.get("state", {}).get("principal")
    if principal is None:
        raise Unauthorized("sign in first")
    return principal


Who = Annotated[Principal, Depends(principal_of)]
Now = Annotated[datetime, Depends(now_of)]
