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
from loopline.server import api, dashboard, errors
from loopline.server.auth import authenticate
from loopline.server.errors import PageRenderer
from loopline.server.mlflow.protocol import API, ARTIFACTS_API, MLFLOW_PREFIXES
from loopline.server.mlflow.protocol import render_error as mlflow_error

_A = "/api/annotate"
_FILES = f"{ARTIFACTS_API}/artifacts"
_EXP_READ = need("experiment", "read")
_EXP_EDIT = need("experiment", "edit")
_MODEL_READ = need("model", "read", "name")
_MODEL_EDIT = need("model", "edit", "name")

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

MLFLOW_RULES: dict[Key, Rule] = {
    **{("POST", f"{API}/runs/{op}"): _EXP_EDIT for op in ("log-batch", "log-metric", "update")},
    **{("POST", f"{API}/runs/{op}"): _EXP_EDIT for op in ("log-parameter", "set-tag", "delete-tag")},
    **{("POST", f"{API}/runs/{op}"): _EXP_EDIT for op in ("log-model", "log-inputs", "outputs")},
    ("POST", f"{API}/runs/create"): need("experiment", "edit", "experiment_id"),
    ("GET", f"{API}/runs/get"): _EXP_READ,
    ("POST", f"{API}/runs/search"): _EXP_READ,
    ("GET", f"{API}/metrics/get-history"): _EXP_READ,
    ("GET", f"{API}/experiments/get-by-name"): _EXP_READ,
    ("GET", f"{API}/experiments/get"): need("experiment", "read", "experiment_id"),
    ("POST", f"{API}/experiments/create"): _EXP_EDIT,
    ("POST", f"{API}/experiments/search"): _EXP_READ,
    ("POST", f"{API}/experiments/set-experiment-tag"): need("experiment", "edit", "experiment_id"),
    ("POST", f"{API}/logged-models"): need("experiment", "edit", "experiment_id"),
    ("GET", f"{API}/logged-models/{{model_id}}"): _EXP_READ,
    ("PATCH", f"{API}/logged-models/{{model_id}}"): _EXP_EDIT,
    ("PATCH", f"{API}/logged-models/{{model_id}}/tags"): _EXP_EDIT,
    ("POST", f"{API}/logged-models/{{model_id}}/params"): _EXP_EDIT,
    ("POST", f"{API}/logged-models/search"): _EXP_READ,
    ("POST", f"{API}/registered-models/create"): _MODEL_EDIT,
    ("GET", f"{API}/registered-models/get"): _MODEL_READ,
    ("GET", f"{API}/registered-models/search"): need("model", "read"),
    ("POST", f"{API}/registered-models/set-tag"): _MODEL_EDIT,
    ("POST", f"{API}/registered-models/alias"): _MODEL_EDIT,
    ("DELETE", f"{API}/registered-models/alias"): _MODEL_EDIT,
    ("GET", f"{API}/registered-models/alias"): _MODEL_READ,
    ("POST", f"{API}/model-versions/create"): _MODEL_EDIT,
    ("GET", f"{API}/model-versions/get"): _MODEL_READ,
    ("POST", f"{API}/model-versions/set-tag"): _MODEL_EDIT,
    ("GET", f"{API}/model-versions/get-download-uri"): _MODEL_READ,
    ("GET", f"{API}/model-versions/search"): need("model", "read"),
    # the handler checks the run or logged model exists and edit on its experiment
    ("PUT", f"{_FILES}/{{artifact_path:path}}"): _EXP_EDIT,
    ("GET", f"{_FILES}/{{artifact_path:path}}"): _EXP_READ,
    ("GET", _FILES): _EXP_READ,
    ("GET", f"{API}/artifacts/list"): _EXP_READ,
    ("GET", "/api/3.0/mlflow/server-info"): PUBLIC,
    # every other path under the MLflow prefixes: 404 ENDPOINT_NOT_FOUND, whoever asks
    **{
        (method, f"{prefix}{{rest:path}}"): PUBLIC
        for prefix in MLFLOW_PREFIXES
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
    },
}

# The REST API's and the dashboard's rules sit beside their routes (server/api, server/dashboard).
SERVER_RULES: dict[Key, Rule] = {
    **DOCS_RULES,
    **ANNOTATION_RULES,
    **PAGE_RULES,
    **api.RULES,
    **dashboard.RULES,
    **MLFLOW_RULES,
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
