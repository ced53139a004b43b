"""`authenticate(request)`: who sends a request to `loopline server`, from a bearer token, HTTP
basic auth (user and token, as MLflow's MLFLOW_TRACKING_USERNAME/PASSWORD) or the UI's sign-in
cookie. With auth off (`loopline server --no-auth`, loopback only) everyone is the local admin.

The one seam between the routes' guard and the project's identities (project/_users.py):
tokens, basic auth and sessions are checked there, each answer a Principal.
"""

from __future__ import annotations

from fastapi import Request

from loopline.core.errors import Forbidden
from loopline.core.identity import Principal, local_principal
from loopline.serve.access import from_header
from loopline.server.deps import COOKIE, UI_HEADER


def authenticate(request: Request) -> Principal | None:
    """The principal of the request; None without credentials; Unauthorized for a token that
    is unknown, inactive or not the basic auth user's. A write signed in by cookie must carry
    the page's X-Loopline-UI header: another site can make a browser send the cookie (were
    SameSite ignored), but not a custom header without a CORS preflight this server never grants."""
    project = request.app.state.project
    if not request.app.state.auth:
        return local_principal(str(project.settings.user))
    principal = from_header(request, project)
    if principal is not None:
        return principal
    session = request.cookies.get(COOKIE)
    if not session:
        return None
    if request.method not in ("GET", "HEAD") and request.headers.get(UI_HEADER) != "1":
        raise Forbidden(f"a write signed in by cookie needs the {UI_HEADER} header")
    principal = project.authenticate_session(session)
    return principal
