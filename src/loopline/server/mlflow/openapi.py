"""The MLflow routes in the server's OpenAPI description, generated from what `endpoint` declared
(method, path, fields), so /docs lists them and schemathesis tests them with the other routes.

The fields' types are not declared (the parsers in protocol.py check them), so each is described
as any JSON value: a generator then sends every kind of value, as the MLflow routes must take.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from loopline.server.mlflow.protocol import DECLARED, Declared

_PARAM = re.compile(r"\{([^}:]+)(?::[^}]+)?\}")
_ERROR = {
    "description": "an MLflow error: {error_code, message}",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"error_code": {"type": "string"}, "message": {"type": "string"}},
            }
        }
    },
}


def operation(route: Declared) -> dict[str, Any]:
    """The OpenAPI operation of one declared MLflow route."""
    names = _PARAM.findall(route.path)
    parameters: list[dict[str, Any]] = [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names
    ]
    op: dict[str, Any] = {
        "operationId": f"mlflow_{route.name}_{route.method.lower()}",
        "tags": ["mlflow"],
        "summary": (route.name or "").replace("_", " "),
        "responses": {"200": {"description": "the MLflow answer"}, "default": _ERROR},
    }
    fields = sorted((route.fields or frozenset()) - set(names))
    if route.fields is None:
        body = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
        op["requestBody"] = {"content": body}
    elif route.method in ("GET", "DELETE"):
        parameters += [{"name": f, "in": "query", "schema": {"type": "string"}} for f in fields]
    elif fields:
        schema = {"type": "object", "properties": {f: {} for f in fields}, "additionalProperties": False}
        op["requestBody"] = {"content": {"application/json": {"schema": schema}}}
    if parameters:
        op["parameters"] = parameters
    return op


def paths() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for route in DECLARED:
        out.setdefault(_PARAM.sub(r"{\1}", route.path), {})[route.method.lower()] = operation(route)
    return out


def install(app: FastAPI) -> None:
    """Make app.openapi() describe the MLflow routes beside FastAPI's own."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            schema.setdefault("paths", {}).update(paths())
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
