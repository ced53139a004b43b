"""MLflow's wire rules in one place: error bodies and codes, strict request parsing, the check
of the one resource a request names (server/access.py checked the rest), and the `endpoint`
decorator every MLflow route is declared with.

The MLflow client retries 5xx, 408 and 429 for minutes, so every client mistake must be a 4xx
with `{"error_code", "message"}`; the codes decide what the client does next
(`RESOURCE_DOES_NOT_EXIST` makes `set_experiment` create one, `RESOURCE_ALREADY_EXISTS` lets
registration go on). Handlers are plain functions run in the thread pool (the stores are
synchronous), so a slow write never stalls the event loop.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio.from_thread
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from loopline.core.errors import (
    CheckFailed,
    ConfigError,
    Conflict,
    Forbidden,
    Integrity,
    InvalidInput,
    LooplineError,
    NotFound,
    StorageError,
    Unauthorized,
)
from loopline.core.identity import Principal
from loopline.serve.access import Rule, need
from loopline.serve.limits import MESSAGE, clip

log = logging.getLogger(__name__)

API = "/api/2.0/mlflow"
ARTIFACTS_API = "/api/2.0/mlflow-artifacts"
MLFLOW_PREFIXES = ("/api/2.0/mlflow/", "/api/2.0/mlflow-artifacts/", "/api/3.0/mlflow/", "/ajax-api/")
JSON_TYPE = "application/json"

# The levels most MLflow routes need; each module's RULES (merged in __init__) say which route needs what.
EXP_READ = need("experiment", "read")
EXP_EDIT = need("experiment", "edit")
MODEL_READ = need("model", "read", "name")
MODEL_EDIT = need("model", "edit", "name")


class AlreadyExists(Conflict):
    """A create of something that exists: the client goes on with the existing one."""


class Unsupported(InvalidInput):
    """An MLflow feature loopline does not have (tracing, prompts): a 400 the client neither
    retries nor falls back from (ENDPOINT_NOT_FOUND would make it try the older API)."""


# class -> (HTTP status, MLflow error code); the most specific class wins.
STATUS: dict[type[Exception], tuple[int, str]] = {
    Unauthorized: (401, "UNAUTHENTICATED"),
    Forbidden: (403, "PERMISSION_DENIED"),
    AlreadyExists: (400, "RESOURCE_ALREADY_EXISTS"),
    Unsupported: (400, "FEATURE_DISABLED"),
    NotFound: (404, "RESOURCE_DOES_NOT_EXIST"),
    ConfigError: (500, "INTERNAL_ERROR"),  # the server's own loopline.yaml: not the client's doing
    InvalidInput: (400, "INVALID_PARAMETER_VALUE"),
    Conflict: (400, "INVALID_PARAMETER_VALUE"),
    CheckFailed: (400, "INVALID_STATE"),
    StorageError: (503, "TEMPORARILY_UNAVAILABLE"),
    Integrity: (500, "DATA_LOSS"),
    LooplineError: (500, "INTERNAL_ERROR"),
}


def error_response(status: int, code: str, message: str) -> Response:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return Response(
        json.dumps({"error_code": code, "message": clip(message, MESSAGE)}),  # never a large echo
        status_code=status,
        media_type=JSON_TYPE,
        headers=headers,
    )


def render_error(exc: Exception, request: Request) -> Response:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            status, code = STATUS[cls]
            break
    else:
        log.exception("%s %s failed", request.method, request.url.path, exc_info=exc)
        return error_response(500, "INTERNAL_ERROR", f"{type(exc).__name__}: the server failed")
    assert isinstance(exc, LooplineError)
    if status >= 500:
        log.error("%s %s: %s", request.method, request.url.path, exc.render())
    message = exc.message + (f" ({exc.hint})" if exc.hint else "")
    return error_response(status, code, message)


# -- values ---------------------------------------------------------------------------------
def number_out(value: float | None) -> float | str:
    """A double as protobuf JSON writes it: NaN and the infinities as strings; None is NaN."""
    if value is None or math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


_INT64 = (-(2**63), 2**63 - 1)
_SPECIAL = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf, "nan": math.nan}


def number_in(value: Any, what: str) -> float:
    """A double as protobuf JSON reads it: a number, or "NaN" / "Infinity" / "-Infinity"."""
    if isinstance(value, bool):
        raise InvalidInput(f"{what} must be a number, not {value!r}")
    try:
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            return _SPECIAL[value] if value in _SPECIAL else float(value)
    except (ValueError, OverflowError):
        pass
    raise InvalidInput(f"{what} must be a number (or NaN, Infinity, -Infinity), not {str(value)[:50]!r}")


def integer_in(value: Any, what: str, default: int | None = None) -> int:
    """An int64 as protobuf JSON reads it: a whole number or its decimal string (never NaN)."""
    if value is None and default is not None:
        return default
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif (isinstance(value, float) and value.is_integer()) or (
        isinstance(value, str) and value.lstrip("-").isdigit() and len(value) < 21
    ):
        number = int(value)
    if number is None or not _INT64[0] <= number <= _INT64[1]:
        raise InvalidInput(f"{what} must be a 64-bit integer, not {str(value)[:50]!r}")
    return number


def text_in(value: Any, what: str, *, required: bool = True, limit: int = 10_000) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value) or len(value) > limit:
        raise InvalidInput(f"{what} must be a non-empty string of at most {limit} characters")
    return value


def pairs_in(value: Any, what: str) -> dict[str, str]:
    """MLflow's repeated {key, value} messages as a dict."""
    if value is None:
        return {}
    if not isinstance(value, list):
        raise InvalidInput(f"{what} must be a list of {{key, value}}")
    out: dict[str, str] = {}
    for item in value:
        if not isinstance(item, dict) or set(item) - {"key", "value"}:
            raise InvalidInput(f"each of {what} must be {{key, value}}, not {item!r}")
        key = text_in(item.get("key"), f"{what} key", limit=250)
        raw = item.get("value", "")
        out[key] = raw if isinstance(raw, str) else json.dumps(raw)
    return out


def list_in(value: Any, what: str) -> list[Any]:
    """A repeated field: a list, or nothing (an empty one)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput(f"{what} must be a list, not {type(value).__name__}")
    return value


def choice_in(value: Any, what: str, choices: Iterable[str]) -> str | None:
    """An enum field: one of choices, or None when absent."""
    known = sorted(choices)
    if value is None:
        return None
    if not isinstance(value, str) or value not in known:
        raise InvalidInput(f"{what} {str(value)[:50]!r} is unknown", hint=f"use one of {', '.join(known)}")
    return value


def filter_in(data: Mapping[str, Any]) -> str:
    """A search's `filter` string ('' when absent)."""
    return text_in(data.get("filter"), "filter", required=False, limit=10_000).strip()


def page_in(data: Mapping[str, Any], default: int, most: int) -> tuple[int, int]:
    """A search's (max_results, offset from page_token): 1 to most results, a non-negative offset."""
    limit = integer_in(data.get("max_results"), "max_results", default)
    if not 0 < limit <= most:
        raise InvalidInput(f"max_results must be 1 to {most}, not {limit}")
    offset = integer_in(data.get("page_token") or "0", "page_token")
    if not 0 <= offset < 2**53:
        raise InvalidInput(f"page_token {offset} is not a page of this search")
    return limit, offset


def pairs_out(values: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in sorted(values.items())]


# -- requests -------------------------------------------------------------------------------
@dataclass
class Call:
    """One MLflow request as its handler sees it."""

    project: Any
    data: dict[str, Any]
    path: dict[str, str]
    actor: str
    chunks: Iterator[bytes] = field(default_factory=lambda: iter(()))  # a raw body, as it arrives
    base_url: str = ""  # how the client reached the server (for URLs handed back), ending in /


def body_chunks(request: Request) -> Iterator[bytes]:
    """The request body for a handler in the thread pool: each chunk fetched from the event loop
    as it is asked for, so an upload of any size is held one chunk at a time."""
    stream = request.stream().__aiter__()

    async def next_chunk() -> bytes | None:
        try:
            return await stream.__anext__()
        except StopAsyncIteration:
            return None

    while (chunk := anyio.from_thread.run(next_chunk)) is not None:
        if chunk:
            yield chunk


def _refuse_nul(*texts: str) -> None:
    """No text of a request holds NUL: PostgreSQL cannot store it, and no MLflow name needs it."""
    if any("\x00" in text for text in texts):
        raise InvalidInput("a request's text must not contain NUL (\\u0000) characters")


async def _parse(request: Request, fields: frozenset[str] | None) -> tuple[dict[str, Any], bytes]:
    _refuse_nul(request.scope["path"], *request.query_params.values())
    if fields is None:  # raw body (artifact upload): the handler reads it through body_chunks
        return dict(request.query_params), b""

    if request.method in ("GET", "DELETE") and request.query_params:
        data: dict[str, Any] = {}
        for key, value in request.query_params.multi_items():
            if key in data:
                data[key] = [*(data[key] if isinstance(data[key], list) else [data[key]]), value]
            else:
                data[key] = value
    else:
        raw = await request.body()
        if b"\\u0000" in raw:  # JSON's only spelling of NUL in a string
            _refuse_nul("\x00")
        if not raw.strip():
            data = {}
        else:
            try:
                data = json.loads(raw)
            except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
                raise InvalidInput(f"the request body is not valid JSON: {exc}") from None
            if not isinstance(data, dict):
                raise InvalidInput("the request body must be a JSON object")
    unknown = set(data) - fields
    if unknown:
        raise InvalidInput(
            f"unknown field(s) {', '.join(sorted(unknown))}",
            hint=f"this endpoint takes {', '.join(sorted(fields)) or 'no fields'}",
        )
    return data, b""


def _admitted(request: Request, data: Mapping[str, Any]) -> str:
    """The name of who acts; once the request is parsed, the rule's one named resource (a
    registered model's name, an experiment id) is checked against the principal's grants."""
    state = request.scope.get("state", {})
    principal: Principal | None = state.get("principal")
    if principal is None:  # a public route
        return "anonymous"
    rule: Rule | None = state.get("rule")
    if rule is not None and rule.name is not None and rule.name in data:
        rule.check(principal, {rule.name: data[rule.name]})
    return principal.name


def _check_run(request: Request, data: Mapping[str, Any]) -> None:
    """A run's write names the run, not its experiment: when the principal holds grants on
    experiments (which may raise or lower its role's level on some of them), check the run's
    own experiment. A read of the store: run in the thread pool, before the handler."""
    state = request.scope.get("state", {})
    principal: Principal | None = state.get("principal")
    rule: Rule | None = state.get("rule")
    if principal is None or rule is None or rule.resource != "experiment" or rule.level is None:
        return
    if rule.name is not None and rule.name in data:  # _admitted checked the named experiment
        return
    run_id = data.get("run_id") or data.get("run_uuid")
    if isinstance(run_id, str) and any(kind == "experiment" for kind, _ in principal.grants):
        experiment = request.app.state.project.mlflow.run(run_id).experiment_id
        principal.require("experiment", rule.level, str(experiment))


Handler = Callable[[Call], Any]


def _handle(handler: Handler, call: Call, request: Request) -> Any:
    _check_run(request, call.data)
    return handler(call)


@dataclass(frozen=True)
class Declared:
    """One MLflow route as `endpoint` declared it (fields None: a raw body), for the OpenAPI
    description and the fuzz tests."""

    method: str
    path: str
    fields: frozenset[str] | None
    name: str


DECLARED: list[Declared] = []


def endpoint(
    router: APIRouter,
    method: str,
    path: str,
    fields: Iterable[str] | None = (),
) -> Callable[[Handler], Handler]:
    """Declare an MLflow route: `fields` are the JSON (or query) fields it takes (None: a raw
    body); the handler returns a JSON-able dict or a Response and runs in the thread pool."""
    allowed = None if fields is None else frozenset(fields)

    def declare(handler: Handler) -> Handler:
        async def route(request: Request) -> Response:
            try:
                data, _ = await _parse(request, allowed)
                actor = _admitted(request, data)
                call = Call(request.app.state.project, data, dict(request.path_params), actor)
                call.base_url = str(request.base_url)
                if allowed is None:
                    call.chunks = body_chunks(request)
                result = await run_in_threadpool(_handle, handler, call, request)
            except Exception as exc:
                return render_error(exc, request)
            if isinstance(result, Response):
                return result
            return Response(json.dumps(result), media_type=JSON_TYPE)

        route.__name__ = f"mlflow_{handler.__name__}"
        DECLARED.append(Declared(method, path, allowed, handler.__name__))
        router.add_route(path, route, methods=[method], include_in_schema=False)
        return handler

    return declare
