"""MLflow's searches: experiments, runs, logged models, registered models and model versions,
each a filter string (MLflow's grammar), an order and a page.

The filters are MLflow's documented search grammar; every search here parses it with
loopline.core.search_filter and runs it as SQL in the store, on SQLite and PostgreSQL alike. A
construct a search does not support is a 400 INVALID_PARAMETER_VALUE naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter

from loopline.core.errors import InvalidInput
from loopline.core.experiments import parse_order
from loopline.core.search_filter import Clause, Spec, order_key, parse, split_order
from loopline.core.search_specs import (
    EXPERIMENT_ORDER,
    EXPERIMENTS,
    LOGGED_MODEL_ORDER,
    LOGGED_MODELS,
    MLFLOW_RUN_ORDER,
    MLFLOW_RUNS,
    MODEL_VERSION_ORDER,
    MODEL_VERSIONS,
    REGISTERED_MODEL_ORDER,
    REGISTERED_MODELS,
)
from loopline.serve.access import Key, Rule, need
from loopline.server.mlflow.experiments import experiment_id, experiment_json, mlflow_store
from loopline.server.mlflow.models import logged_models_json, model_json, registry, versions_json
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
from loopline.server.mlflow.runs import _MAX_RESULTS, runs_json
from loopline.store.metadata.mlflow_search import Order

router = APIRouter()
RULES: dict[Key, Rule] = {
    ("POST", f"{API}/experiments/search"): EXP_READ,
    ("POST", f"{API}/runs/search"): EXP_READ,
    ("POST", f"{API}/logged-models/search"): EXP_READ,
    ("GET", f"{API}/registered-models/search"): need("model", "read"),
    ("GET", f"{API}/model-versions/search"): need("model", "read"),
}

# MLflow's ViewType, by name (as the JSON client sends it) or by its proto number.
_VIEWS: dict[Any, tuple[str, ...]] = {
    "ACTIVE_ONLY": ("active",),
    "DELETED_ONLY": ("deleted",),
    "ALL": ("active", "deleted"),
}
_VIEWS |= {1: _VIEWS["ACTIVE_ONLY"], 2: _VIEWS["DELETED_ONLY"], 3: _VIEWS["ALL"]}
_VIEWS |= {str(n): v for n, v in list(_VIEWS.items()) if isinstance(n, int)}


def view_in(value: Any, what: str) -> tuple[str, ...]:
    """The lifecycles an MLflow view type keeps (ACTIVE_ONLY when absent)."""
    if value is None:
        return _VIEWS["ACTIVE_ONLY"]
    if isinstance(value, bool) or not isinstance(value, str | int) or value not in _VIEWS:
        raise InvalidInput(
            f"{what} {str(value)[:50]!r} is unknown", hint="use ACTIVE_ONLY, DELETED_ONLY or ALL"
        )
    return _VIEWS[value]


def filters_in(call: Call, spec: Spec) -> list[Clause]:
    text = filter_in(call.data)
    return parse(text, spec) if text else []


def _order_texts(call: Call) -> list[str]:
    orders = call.data.get("order_by")
    if orders is None:
        return []
    if isinstance(orders, str):  # a GET's one order_by
        orders = [orders]
    if not isinstance(orders, list):
        raise InvalidInput("order_by must be a list of strings like 'name ASC'")
    return [text_in(o, "order_by", limit=500) for o in orders]


def orders_in(call: Call, spec: Spec, orderable: Mapping[str, str]) -> list[Order]:
    """order_by strings (`KEY [ASC|DESC]`) of attributes only, as MLflow takes them."""
    out: list[Order] = []
    for text in _order_texts(call):
        key_text, descending = split_order(text)
        if not key_text:
            raise InvalidInput("an order_by is empty", hint="use one of " + ", ".join(sorted(orderable)))
        kind, key = order_key(key_text, Spec(spec.what, {}, {}), orderable)
        out.append((kind, key, descending))
    return out


def _page(result: dict[str, Any], more: bool, offset: int, limit: int) -> dict[str, Any]:
    if more:
        result["next_page_token"] = str(offset + limit)
    return result


@endpoint(
    router,
    "POST",
    f"{API}/experiments/search",
    {"max_results", "filter", "order_by", "view_type", "page_token"},
)
def search_experiments(call: Call) -> dict[str, Any]:
    filters = filters_in(call, EXPERIMENTS)
    orders = orders_in(call, EXPERIMENTS, EXPERIMENT_ORDER)
    lifecycles = view_in(call.data.get("view_type"), "view_type")
    limit, offset = page_in(call.data, 1000, 50_000)
    found, more = mlflow_store(call).search_experiments(
        filters, orders, lifecycles=lifecycles, limit=limit, offset=offset
    )
    return _page({"experiments": [experiment_json(e) for e in found]}, more, offset, limit)


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
    filters = parse(text, MLFLOW_RUNS) if text else []
    order_by = [parse_order(o, spec=MLFLOW_RUNS, orderable=MLFLOW_RUN_ORDER) for o in _order_texts(call)]
    lifecycles = view_in(call.data.get("run_view_type"), "run_view_type")
    limit, offset = page_in(call.data, 1000, _MAX_RESULTS)
    found, more = mlflow_store(call).search_runs(
        experiment_ids or None, filters, order_by, limit=limit, offset=offset, lifecycles=lifecycles
    )
    return _page({"runs": runs_json(call, found)}, more, offset, limit)


def _logged_orders(value: Any) -> list[Order]:
    """Logged-model order_by: MLflow's {field_name, ascending} messages."""
    out: list[Order] = []
    for item in list_in(value, "order_by"):
        if not isinstance(item, dict) or set(item) - {
            "field_name",
            "ascending",
            "dataset_name",
            "dataset_digest",
        }:
            raise InvalidInput(f"each order_by must be {{field_name, ascending}}, not {str(item)[:100]!r}")
        if item.get("dataset_name") or item.get("dataset_digest"):
            raise InvalidInput("ordering logged models by a dataset's metric is not supported")
        ascending = item.get("ascending", True)
        if not isinstance(ascending, bool):
            raise InvalidInput(f"order_by ascending must be true or false, not {str(ascending)[:50]!r}")
        field_name = text_in(item.get("field_name"), "order_by field_name", limit=500)
        kind, key = order_key(
            field_name, Spec("logged model", {"metrics": frozenset()}, {}), LOGGED_MODEL_ORDER
        )
        out.append((kind, key, not ascending))
    return out


@endpoint(
    router,
    "POST",
    f"{API}/logged-models/search",
    {"experiment_ids", "filter", "datasets", "max_results", "order_by", "page_token"},
)
def search_logged_models(call: Call) -> dict[str, Any]:
    filters = filters_in(call, LOGGED_MODELS)
    if list_in(call.data.get("datasets"), "datasets"):
        raise InvalidInput("searching logged models by dataset is not supported", hint="leave datasets out")
    orders = _logged_orders(call.data.get("order_by"))
    ids = [experiment_id(call, i) for i in list_in(call.data.get("experiment_ids"), "experiment_ids")]
    limit, offset = page_in(call.data, 100, 1000)
    found, more = mlflow_store(call).search_logged_models(ids, filters, orders, limit=limit, offset=offset)
    return _page({"models": logged_models_json(call, found)}, more, offset, limit)


@endpoint(
    router, "GET", f"{API}/registered-models/search", {"filter", "max_results", "order_by", "page_token"}
)
def search_registered_models(call: Call) -> dict[str, Any]:
    filters = filters_in(call, REGISTERED_MODELS)
    orders = orders_in(call, REGISTERED_MODELS, REGISTERED_MODEL_ORDER)
    limit, offset = page_in(call.data, 100, 1000)
    names, more = mlflow_store(call).search_registered_models(filters, orders, limit=limit, offset=offset)
    repo = registry(call).repo
    models = [model_json(call, m) for name in names for m in repo.list_models(name)]
    return _page({"registered_models": models}, more, offset, limit)


@endpoint(router, "GET", f"{API}/model-versions/search", {"filter", "max_results", "order_by", "page_token"})
def search_model_versions(call: Call) -> dict[str, Any]:
    filters = filters_in(call, MODEL_VERSIONS)
    orders = orders_in(call, MODEL_VERSIONS, MODEL_VERSION_ORDER)
    limit, offset = page_in(call.data, 10_000, 200_000)
    keys, more = mlflow_store(call).search_model_versions(filters, orders, limit=limit, offset=offset)
    repo = registry(call).repo
    versions = [repo.get_version(n, v) for n, v in keys]
    return _page({"model_versions": versions_json(call, versions)}, more, offset, limit)
