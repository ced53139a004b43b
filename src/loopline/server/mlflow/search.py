"""MLflow's searches: experiments, runs, logged models, registered models and model versions,
each a filter string (MLflow's grammar), an order and a page.

The filters are MLflow's documented search grammar; every search here parses it with
loopline.core.search_filter and runs it as SQL in the store, on SQLite and PostgreSQL alike. A
construct a search does not support is a 400 INVALID_PARAMETER_VALUE naming it.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from fastapi import APIRouter

from loopline.core.errors import InvalidInput
from loopline.core.experiments import RunFilter, parse_filter, parse_order
from loopline.serve.access import Key, Rule, need
from loopline.server.mlflow.experiments import experiment_id, experiment_json, mlflow_store, tracking
from loopline.server.mlflow.models import (
    logged_models_json,
    model_json,
    registry,
    versions_json,
)
from loopline.server.mlflow.protocol import (
    API,
    EXP_READ,
    Call,
    endpoint,
    filter_in,
    list_in,
    page_in,
    text_in,
)
from loopline.server.mlflow.runs import _MAX_RESULTS, STATUS_IN, runs_json

router = APIRouter()
RULES: dict[Key, Rule] = {
    ("POST", f"{API}/experiments/search"): EXP_READ,
    ("POST", f"{API}/runs/search"): EXP_READ,
    ("POST", f"{API}/logged-models/search"): EXP_READ,
    ("GET", f"{API}/registered-models/search"): need("model", "read"),
    ("GET", f"{API}/model-versions/search"): need("model", "read"),
}

_VERSION_FILTER = re.compile(r"^\s*(name|run_id)\s*=\s*(['\"])(.*?)\2\s*$", re.IGNORECASE)
_MODEL_FILTER = re.compile(r"^\s*(name|source_run_id)\s*=\s*(['\"])(.*?)\2\s*$", re.IGNORECASE)


@endpoint(
    router,
    "POST",
    f"{API}/experiments/search",
    {"max_results", "filter", "order_by", "view_type", "page_token"},
)
def search_experiments(call: Call) -> dict[str, Any]:
    found = tracking(call).list_experiments()
    text = filter_in(call.data)
    if text:
        clause = parse_filter(text.replace("attributes.name", "name"))
        if len(clause) != 1 or clause[0].key != "name" or clause[0].op != "=":
            raise InvalidInput(f"experiment filter {text!r} is not supported", hint="use name = 'NAME'")
        found = [e for e in found if e.name == clause[0].value]
    limit, _ = page_in(call.data, 1000, 50_000)
    return {"experiments": [experiment_json(e) for e in found[:limit]]}


def _status_filter(item: RunFilter) -> RunFilter:
    if item.kind == "attributes" and item.key == "status" and isinstance(item.value, str):
        return replace(item, value=STATUS_IN.get(item.value.upper(), item.value))
    return item


@endpoint(
    router,
    "POST",
    f"{API}/runs/search",
    {"experiment_ids", "filter", "run_view_type", "max_results", "order_by", "page_token"},
)
def search_runs(call: Call) -> dict[str, Any]:
    ids = list_in(call.data.get("experiment_ids"), "experiment_ids")
    experiment_ids = [experiment_id(call, i) for i in ids]
    text = filter_in(call.data)
    filters = [_status_filter(f) for f in parse_filter(text)] if text else []
    orders = call.data.get("order_by") or []
    if not isinstance(orders, list):
        raise InvalidInput("order_by must be a list")
    order_by = [parse_order(text_in(o, "order_by", limit=500)) for o in orders]
    limit, offset = page_in(call.data, 1000, _MAX_RESULTS)
    found, more = mlflow_store(call).search_runs(
        experiment_ids or None, filters, order_by, limit=limit, offset=offset
    )
    result: dict[str, Any] = {"runs": runs_json(call, found)}
    if more:
        result["next_page_token"] = str(offset + limit)
    return result


@endpoint(
    router,
    "POST",
    f"{API}/logged-models/search",
    {"experiment_ids", "filter", "datasets", "max_results", "order_by", "page_token"},
)
def search_logged_models(call: Call) -> dict[str, Any]:
    wanted: dict[str, str] = {}
    text = filter_in(call.data)
    for clause in re.split(r"\s+and\s+", text, flags=re.IGNORECASE) if text else []:
        match = _MODEL_FILTER.match(clause)
        if match is None:
            raise InvalidInput(
                f"logged model filter {clause!r} is not supported",
                hint="use name = 'NAME' and/or source_run_id = 'RUN'",
            )
        wanted[match.group(1).lower()] = match.group(3)
    ids = [experiment_id(call, i) for i in list_in(call.data.get("experiment_ids"), "experiment_ids")]
    limit, offset = page_in(call.data, 100, 1000)
    found = mlflow_store(call).search_logged_models(
        ids, name=wanted.get("name"), run_id=wanted.get("source_run_id"), limit=limit + 1, offset=offset
    )
    result: dict[str, Any] = {"models": logged_models_json(call, found[:limit])}
    if len(found) > limit:
        result["next_page_token"] = str(offset + limit)
    return result


@endpoint(
    router, "GET", f"{API}/registered-models/search", {"filter", "max_results", "order_by", "page_token"}
)
def search_registered_models(call: Call) -> dict[str, Any]:
    models = registry(call).models()
    text = filter_in(call.data)
    if text:
        match = _VERSION_FILTER.match(text)
        if match is None or match.group(1).lower() != "name":
            raise InvalidInput(f"registered model filter {text!r} is not supported", hint="use name = 'NAME'")
        models = [m for m in models if m.name == match.group(3)]
    return {"registered_models": [model_json(call, m) for m in models]}


@endpoint(router, "GET", f"{API}/model-versions/search", {"filter", "max_results", "order_by", "page_token"})
def search_model_versions(call: Call) -> dict[str, Any]:
    text = filter_in(call.data)
    wanted: dict[str, str] = {}
    for clause in re.split(r"\s+and\s+", text, flags=re.IGNORECASE) if text else []:
        match = _VERSION_FILTER.match(clause)
        if match is None:
            raise InvalidInput(
                f"model version filter {clause!r} is not supported",
                hint="use name = 'NAME' and/or run_id = 'RUN'",
            )
        wanted[match.group(1).lower()] = match.group(3)
    limit, _ = page_in(call.data, 10_000, 200_000)
    keys = mlflow_store(call).version_keys(wanted.get("name"), wanted.get("run_id"))[:limit]
    repo = registry(call).repo
    versions = [repo.get_version(n, v) for n, v in keys]
    return {"model_versions": versions_json(call, versions)}
