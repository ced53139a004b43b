"""The REST API under /api/v1: experiments, tracked runs (search with the CLI's filter language,
one run, a metric's history) and 2 to 10 runs compared."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from loopline.api.experiments import CompareOut, ExperimentOut, MetricPointOut, RunOut
from loopline.api.paging import Page, clamp_limit, decode_token, page_of
from loopline.core.errors import InvalidInput
from loopline.serve.access import Key, Rule, need
from loopline.server.api.params import DEFAULT_LIMIT, Limit, PageToken
from loopline.server.deps import project_of

router = APIRouter(prefix="/api/v1", tags=["experiments"])

READ = need("experiment", "read")
RULES: dict[Key, Rule] = {
    ("GET", "/api/v1/experiments"): READ,
    ("GET", "/api/v1/runs"): READ,
    ("GET", "/api/v1/runs/compare"): READ,
    ("GET", "/api/v1/runs/{run_id}"): READ,
    ("GET", "/api/v1/runs/{run_id}/metrics/{key:path}"): READ,
}

MOST_FILTERS = 20
Filters = Annotated[
    list[str] | None,
    Query(
        alias="filter",
        max_length=MOST_FILTERS,
        description="`metrics.acc > 0.5`, `params.C = 1`, `tags.team = x`, `status = succeeded` "
        "(repeatable, each may join clauses with `and`; all must hold): `loopline runs --filter`",
    ),
]
OrderBy = Annotated[
    str | None,
    Query(max_length=300, description="`metrics.K [DESC]`, `params.K`, `tags.K`, `start_time`, `name`…"),
]
Experiment = Annotated[
    str | None, Query(max_length=250, description="only this experiment's runs (its name)")
]


def search_page(
    request: Request,
    filters: list[str] | None,
    order_by: str | None,
    experiment: str | None,
    limit: int | None,
    page_token: str | None,
) -> Page[RunOut]:
    """One page of `loopline runs --filter … --order-by … --experiment …`, paged in SQL (one more
    row than the page tells whether another follows); the dashboard's /runs reads it too."""
    for text in filters or ():
        if len(text) > 1000:
            raise InvalidInput("a filter is longer than 1000 characters")
    size, offset = clamp_limit(limit), decode_token(page_token)
    found = project_of(request).search_runs(
        list(filters or ()), order_by=order_by or None, experiment=experiment, limit=size + 1, offset=offset
    )
    return page_of([RunOut.of(r) for r in found], offset, size)


@router.get("/experiments", response_model=Page[ExperimentOut])
def list_experiments(
    request: Request, limit: Limit = DEFAULT_LIMIT, page_token: PageToken = None
) -> Page[ExperimentOut]:
    """Every experiment with its number of runs (`loopline experiments --json`)."""
    size, offset = clamp_limit(limit), decode_token(page_token)
    found = project_of(request).experiments()
    return page_of([ExperimentOut.of(e) for e in found[offset : offset + size + 1]], offset, size)


@router.get("/runs", response_model=Page[RunOut])
def search_runs(
    request: Request,
    filters: Filters = None,
    order_by: OrderBy = None,
    experiment: Experiment = None,
    limit: Limit = DEFAULT_LIMIT,
    page_token: PageToken = None,
) -> Page[RunOut]:
    """Tracked runs matching every filter, sorted (missing values last, then newest first):
    `loopline runs --filter … --json`. A filter the language does not parse is a 422 naming why."""
    return search_page(request, filters, order_by, experiment, limit, page_token)


@router.get("/runs/compare", response_model=CompareOut)
def compare_runs(
    request: Request,
    run: Annotated[list[str], Query(max_length=10, description="2 to 10 run ids (repeat `run`)")],
) -> CompareOut:
    """Runs side by side: params, latest metrics (and each one's difference to the first run's)
    and tags (`loopline compare A B … --json`)."""
    if any(len(r) > 40 for r in run):
        raise InvalidInput("a run id is longer than 40 characters")
    return CompareOut.of(project_of(request).compare(*run))


@router.get("/runs/{run_id}", response_model=RunOut)
def get_run(request: Request, run_id: str) -> RunOut:
    """One tracked run by id (or a unique prefix); an MLflow client's run ids are these."""
    return RunOut.of(project_of(request).tracked_run(_run_id(run_id)))


@router.get("/runs/{run_id}/metrics/{key:path}", response_model=Page[MetricPointOut])
def metric_history(
    request: Request, run_id: str, key: str, limit: Limit = DEFAULT_LIMIT, page_token: PageToken = None
) -> Page[MetricPointOut]:
    """Every value logged for one metric of a run, by step then time."""
    if len(key) > 250:
        raise InvalidInput("a metric key is 250 characters at most")
    size, offset = clamp_limit(limit), decode_token(page_token)
    points = project_of(request).metric_history(_run_id(run_id), key)
    return page_of([MetricPointOut.of(p) for p in points[offset : offset + size + 1]], offset, size)


def _run_id(run_id: str) -> str:
    if not run_id or len(run_id) > 40:
        raise InvalidInput(f"run id {run_id[:50]!r} is not 1 to 40 characters")
    return run_id
