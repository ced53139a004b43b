"""The one table from errors to HTTP statuses, and the handlers that render every error alike.

Every error body is `{"error": CODE, "message": TEXT, "hint": TEXT | null}`, whether it came from
loopline, from request validation or from the auth guards. The most specific class in the table
wins (ConfigError before InvalidInput).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from loopline.core.errors import (
    CheckFailed,
    ConfigError,
    Conflict,
    Forbidden,
    Integrity,
    InvalidInput,
    LooplineError,
    NotFound,
    StepFailed,
    StorageError,
    TooManyRequests,
    Unauthorized,
)
from loopline.serve.limits import ECHO, MESSAGE, clip

log = logging.getLogger(__name__)


# class -> (HTTP status, error code), as core/errors.py draws it. ConfigError is the server's own
# loopline.yaml: the client cannot fix it, so it is a 500, not a 4xx.
STATUS: dict[type[LooplineError], tuple[int, str]] = {
    Unauthorized: (401, "unauthorized"),
    Forbidden: (403, "forbidden"),
    TooManyRequests: (429, "too_many_requests"),
    InvalidInput: (422, "invalid_input"),
    ConfigError: (500, "config_error"),
    NotFound: (404, "not_found"),
    Conflict: (409, "conflict"),
    CheckFailed: (409, "check_failed"),
    Integrity: (500, "integrity"),
    StorageError: (503, "storage_unavailable"),
    StepFailed: (500, "step_failed"),
    LooplineError: (500, "error"),
}

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    422: "invalid_input",
}
_MACHINE_PATHS = ("/api/", "/blobs/", "/health", "/static/", "/docs", "/openapi.json")

# Renders an error as a web page: (request, error, status, code, message, hint) -> Response.
PageRenderer = Callable[[Request, Exception, int, str, str, "str | None"], Response]


def status_of(exc: LooplineError) -> tuple[int, str]:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500, "error"


def body(code: str, message: str, hint: str | None = None) -> dict[str, Any]:
    return {"error": code, "message": message, "hint": hint}


def _respond(
    request: Request,
    exc: Exception,
    status: int,
    code: str,
    message: str,
    hint: str | None,
    page: PageRenderer,
) -> Response:
    message = clip(message, MESSAGE)  # a message never echoes a large input back
    if request.url.path.startswith(_MACHINE_PATHS):
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(body(code, message, hint), status_code=status, headers=headers)
    return page(request, exc, status, code, message, hint)


def respond(request: Request, exc: LooplineError, page: PageRenderer) -> Response:
    """A loopline error as JSON (API, blobs) or as a page drawn by `page`."""
    status, code = status_of(exc)
    if status >= 500:
        log.error("%s %s: %s", request.method, request.url.path, exc.render())
    message = f"{exc.where}: {exc.message}" if exc.where and status < 500 else exc.message
    return _respond(request, exc, status, code, message, exc.hint, page)


def install(app: FastAPI, page: PageRenderer) -> None:
    """JSON for the API and blobs, a web page (through `page`) for everything else."""

    def loopline_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LooplineError)
        return respond(request, exc, page)

    def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            msg = clip(str(err.get("msg", "invalid")))
            parts.append(f"{clip(where, ECHO)}: {msg}" if where else msg)
        message = "; ".join(parts) or "invalid request"
        return _respond(request, exc, 422, "invalid_input", message, "see the API schema at /docs", page)

    def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = _HTTP_CODES.get(exc.status_code, "error")
        return _respond(request, exc, exc.status_code, code, str(exc.detail), None, page)

    app.add_exception_handler(LooplineError, loopline_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
