"""`loopline server`'s route x role table: the rule of every (method, path) of `create_app`, and
`install(app)`, which puts the guard (loopline.serve.access.Guard) in front of every route.

A rule names a resource kind and a level of core.identity (read < edit < manage); a role's
default levels are `ROLE_DEFAULTS`, and `name` is the path parameter or MLflow request field that
names the one resource a grant may cover (a labeling project, a registered model, an experiment
id). The MLflow handlers check that resource once the body is parsed (server/mlflow/protocol.py);
everything else is checked here before the body is read. docs/server.md shows this table.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

from loopline.core.errors import LooplineError
from loopline.serve.access import DOCS_RULES, PUBLIC, SIGNED_IN, Guard, Key, Rule, need
from loopline.server import api, dashboard, errors, mlflow
from loopline.server.auth import authenticate
from loopline.server.errors import PageRenderer
from loopline.server.mlflow.protocol import MLFLOW_PREFIXES
from loopline.server.mlflow.protocol import render_error as mlflow_error

_A = "/api/annotate"

ANNOTATION_RULES: dict[Key, Rule] = {
    ("GET", "/health"): PUBLIC,
    ("GET", f"{_A}/me"): SIGNED_IN,
    ("GET", f"{_A}/projects"): need("labeling", "read"),
    ("GET", f"{_A}/{{project}}/next"): need("labeling", "edit", "project"),
    ("POST", f"{_A}/{{project}}/tasks/{{task_id}}"): need("labeling", "edit", "project"),
    ("POST", f"{_A}/{{project}}/tasks/{{task_id}}/skip"): need("labeling", "edit", "project"),
    ("GET", f"{_A}/{{project}}/progress"): need("labeling", "manage", "project"),
    ("GET", f"{_A}/{{project}}/export"): need("labeling", "manage", "project"),
    # any signed-in user; the handler serves the blob only if they may read an object holding it
    ("GET", "/blobs/{digest}"): SIGNED_IN,
    ("GET", "/api/monitor/reports"): need("project", "read"),
    ("GET", "/api/monitor/reports/{report_id}"): need("project", "read"),
}

PAGE_RULES: dict[Key, Rule] = {
    ("GET", "/monitor/static/plotly.css"): PUBLIC,
    ("GET", "/monitor/static/plotly.min.js"): PUBLIC,
    ("GET", "/monitor"): need("project", "read"),
    ("GET", "/monitor/{report_id}"): need("project", "read"),
    ("GET", "/signin"): PUBLIC,
    ("POST", "/signin"): PUBLIC,
    ("POST", "/signout"): PUBLIC,
    ("GET", "/annotate"): need("labeling", "read"),
    ("GET", "/annotate/{project}"): need("labeling", "edit", "project"),
    ("GET", "/manage"): need("labeling", "manage"),
    ("GET", "/manage/{project}"): need("labeling", "manage", "project"),
    ("*", "/static"): PUBLIC,
}

# The REST API's and the dashboard's rules sit beside their routes (server/api, server/dashboard).
SERVER_RULES: dict[Key, Rule] = {
    **DOCS_RULES,
    **ANNOTATION_RULES,
    **PAGE_RULES,
    **api.RULES,
    **dashboard.RULES,
    **mlflow.RULES,
}


def install(app: FastAPI, page: PageRenderer) -> None:
    """Guard every route of app by SERVER_RULES; refusals drawn as the route's errors are (MLflow
    JSON, loopline JSON, or a page: the sign-in page for a page asked for without signing in)."""

    def refuse(request: Request, exc: LooplineError) -> Response:
        if request.url.path.startswith(MLFLOW_PREFIXES):
            return mlflow_error(exc, request)
        return errors.respond(request, exc, page)

    app.add_middleware(
        Guard, routes=app.router.routes, rules=SERVER_RULES, authenticate=authenticate, refuse=refuse
    )
