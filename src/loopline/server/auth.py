"""`authenticate(request)`: who sends a request to `loopline server`, from a bearer token, HTTP
basic auth (user and token, as MLflow's MLFLOW_TRACKING_USERNAME/PASSWORD) or the UI's sign-in
cookie. With auth off (`loopline server --no-auth`, loopback only) everyone is the local admin.

The one seam between the routes' guard and the project's identities: a token is looked up
through the project, its annotator made a Principal.
"""

from __future__ import annotations

from fastapi import Request

from loopline.core.errors import Forbidden, NotFound, Unauthorized
from loopline.core.identity import Auth, Principal, local_principal
from loopline.serve.access import credentials
from loopline.wiring.annotate import principal_of

COOKIE = "loopline_token"
UI_HEADER = "X-Loopline-UI"


def authenticate(request: Request) -> Principal | None:
    """The principal of the request; None without credentials; Unauthorized for a token that
    is unknown, inactive or not the basic auth user's. A write signed in by cookie must carry
    the page's X-Loopline-UI header: another site can make a browser send the cookie (were
    SameSite ignored), but not a custom header without a CORS preflight this server never grants."""
    project = request.app.state.project
    if not request.app.state.auth:
        return local_principal(str(project.settings.user))
    given = credentials(request)
    how: Auth = "session"
    token, user = request.cookies.get(COOKIE), None
    if given is not None:
        how, token, user = given
    elif not token:
        return None
    elif request.method not in ("GET", "HEAD") and request.headers.get(UI_HEADER) != "1":
        raise Forbidden(f"a write signed in by cookie needs the {UI_HEADER} header")
    try:
        annotator = project.annotator_for_token(token)
    except NotFound:
        annotator = None
    if annotator is None or not annotator.active or (user is not None and user != annotator.name):
        raise Unauthorized("unknown or inactive token", hint="ask an admin for a new token")
    return principal_of(annotator, how)
