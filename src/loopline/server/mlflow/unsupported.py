"""What loopline does not do (MLflow tracing, the prompt registry): refused loudly, with a 4xx
that names it, and nothing stored.

The answer is 400 FEATURE_DISABLED: the MLflow client retries 408, 429 and 5xx, and on
ENDPOINT_NOT_FOUND it falls back to the older trace API, so neither would be loud. The client
shows the message: `search_traces` and `register_prompt` raise it; a traced function's export
(`@mlflow.trace`, `start_span`) runs after the function and only logs it as a warning ("Failed
to send trace to MLflow backend: ..."). Prompts are registered models tagged
`mlflow.prompt.is_prompt` = true, so the registered-model routes refuse that tag before they
store anything (models.py calls `refuse_prompt`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import APIRouter

from loopline.serve.access import PUBLIC, Key, Rule
from loopline.server.mlflow.protocol import Call, Unsupported, endpoint

router = APIRouter()

TRACING = (
    "tracing is not supported by loopline server; use an MLflow tracking server or an OpenTelemetry "
    "backend for traces (loopline keeps runs, metrics and models), or turn tracing off with "
    "mlflow.tracing.disable()"
)
PROMPTS = (
    "the prompt registry is not supported by loopline server; use an MLflow tracking server for "
    "prompts (loopline's registered models are models only)"
)
PROMPT_TAG = "mlflow.prompt.is_prompt"

# Every trace route of the 3.x client, v3 and v2 (rest_store.py): GET/POST traces, and below it
# get, batchGet, search, {id}, {id}/info, {id}/tags, {id}/assessments, delete-traces, link-*.
_PREFIXES = ("/api/2.0/mlflow", "/api/3.0/mlflow")
_ROOT_METHODS = ("GET", "POST")
_SUB_METHODS = ("GET", "POST", "PATCH", "DELETE")
RULES: dict[Key, Rule] = {
    # public: nothing is read or stored, and the answer is the same for everyone
    **{(m, f"{p}/traces"): PUBLIC for p in _PREFIXES for m in _ROOT_METHODS},
    **{(m, f"{p}/traces/{{rest:path}}"): PUBLIC for p in _PREFIXES for m in _SUB_METHODS},
}


def _refusal(name: str) -> Callable[[Call], dict[str, Any]]:
    def refuse(call: Call) -> dict[str, Any]:
        raise Unsupported(TRACING)

    refuse.__name__ = name  # one name a route: the OpenAPI operation ids stay unique
    return refuse


for _prefix in _PREFIXES:
    _api = "v3" if "3.0" in _prefix else "v2"
    for _method in _ROOT_METHODS:
        endpoint(router, _method, f"{_prefix}/traces", None)(_refusal(f"traces_{_api}"))
    for _method in _SUB_METHODS:
        endpoint(router, _method, f"{_prefix}/traces/{{rest:path}}", None)(_refusal(f"trace_{_api}"))


def refuse_prompt(tags: Mapping[str, str], key: str | None = None, value: str | None = None) -> None:
    """Refuse a registered model (or version) that would be an MLflow prompt."""
    held = dict(tags) | ({key: value or ""} if key is not None else {})
    if held.get(PROMPT_TAG, "").strip().lower() == "true":
        raise Unsupported(PROMPTS)
