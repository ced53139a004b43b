"""Dashboard pages: tracked runs and experiments.

`/runs` is `loopline runs --filter … --order-by … --experiment …` as a table (the same search
and page as GET /api/v1/runs), with the metric and param columns the user picks, headers that
sort, and checkboxes that send 2 to 10 runs to `/runs/compare`. `/runs/{run_id}` takes the ids the
MLflow API hands out (one store), so the links an MLflow client prints land here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from loopline.api.experiments import CompareOut, ExperimentOut, RunOut
from loopline.api.paging import Page
from loopline.core.errors import InvalidInput, NotFound
from loopline.core.experiments import RunOrder, TrackedRun, parse_order
from loopline.serve.access import Key, Rule, need
from loopline.server.api.experiments import Experiment, Filters, OrderBy, search_page
from loopline.server.api.params import DEFAULT_LIMIT, Limit, PageToken
from loopline.server.dashboard.common import figure_json, page
from loopline.server.deps import project_of

router = APIRouter(include_in_schema=False)

READ = need("experiment", "read")
RULES: dict[Key, Rule] = {
    ("GET", "/runs"): READ,
    ("GET", "/runs/compare"): READ,
    ("GET", "/runs/{run_id}"): READ,
    ("GET", "/experiments"): READ,
}

PARENT_TAG = "loopline.parent_run"  # store/metadata/tables.PARENT_TAG: a tuning trial's parent
MLFLOW_PARENT_TAG = "mlflow.parentRunId"  # a run an MLflow client nested under another
TRACKING_EXECUTORS = ("tracking", "mlflow")  # any other executor's run is a pipeline run
MOST_COLUMNS = 12
MOST_CHARTS = 12
MOST_CHILDREN = 200
Keys = Annotated[list[str] | None, Query(max_length=MOST_COLUMNS)]


def _keys(chosen: Sequence[str] | None) -> list[str]:
    """Column keys as picked (a field may hold several, comma-separated), each once."""
    out: list[str] = []
    for text in chosen or ():
        for key in text.split(","):
            key = key.strip()[:250]
            if key and key not in out:
                out.append(key)
    return out[:MOST_COLUMNS]


def _common(maps: Sequence[Mapping[str, Any]], most: int) -> list[str]:
    counts: dict[str, int] = {}
    for m in maps:
        for key in m:
            if not key.startswith("loopline."):
                counts[key] = counts.get(key, 0) + 1
    return sorted(counts, key=lambda k: (-counts[k], k))[:most]


def _ref(kind: str, key: str) -> str:
    """`metrics.acc`, or `metrics.`my key`` when the key needs quoting."""
    return f"{kind}.{key}" if re.fullmatch(r"[\w.\-/]+", key) else f"{kind}.`{key}`"


def _href(path: str, query: Mapping[str, Any]) -> str:
    pairs = [
        (k, v) for k, values in query.items() for v in (values if isinstance(values, list) else [values])
    ]
    kept = [(k, v) for k, v in pairs if v not in (None, "")]
    return path + ("?" + urlencode(kept) if kept else "")


def _order_of(order_by: str | None) -> RunOrder | None:
    try:
        return parse_order(order_by) if order_by else None
    except InvalidInput:  # the search says why, on the page
        return None


def _sort_links(
    query: dict[str, Any], order_by: str | None, columns: list[tuple[str, str]]
) -> dict[str, Any]:
    """For each sortable column key (`metrics.acc`, `name`…): the link that sorts by it (again:
    the other way) and the arrow to show when it is the current order."""
    current = _order_of(order_by)
    out = {}
    for key, _label in columns:
        target = parse_order(key)
        active = current is not None and (current.kind, current.key) == (target.kind, target.key)
        descending = not current.descending if active and current is not None else target.kind == "metrics"
        link = _href("/runs", {**query, "order_by": f"{key} {'DESC' if descending else 'ASC'}"})
        arrow = ("▼" if current.descending else "▲") if active and current is not None else ""
        out[key] = {"href": link, "arrow": arrow, "sort": "descending" if arrow == "▼" else "ascending"}
    return out


@router.get("/runs")
def runs_page(
    request: Request,
    filters: Filters = None,
    order_by: OrderBy = None,
    experiment: Experiment = None,
    metric: Keys = None,
    param: Keys = None,
    limit: Limit = DEFAULT_LIMIT,
    page_token: PageToken = None,
) -> Response:
    project = project_of(request)
    shown_filters = [f for f in (filters or ()) if f.strip()]
    error = None
    try:
        found = search_page(request, shown_filters, order_by, experiment or None, limit, page_token)
    except (InvalidInput, NotFound) as exc:
        error, found = exc, Page[RunOut](items=[], next_page_token=None)
    metrics = _keys(metric) or _common([r.metrics for r in found.items], 4)
    params = _keys(param) or _common([r.params for r in found.items], 3)
    sorted_by = _order_of(order_by)
    if sorted_by and sorted_by.kind == "metrics" and sorted_by.key not in metrics:
        metrics.insert(0, sorted_by.key)  # the column the table is sorted by is always shown
    if sorted_by and sorted_by.kind == "params" and sorted_by.key not in params:
        params.insert(0, sorted_by.key)
    query: dict[str, Any] = {
        "filter": shown_filters,
        "experiment": experiment,
        "metric": _keys(metric),
        "param": _keys(param),
        "limit": None if limit == DEFAULT_LIMIT else limit,  # the default stays out of links
    }
    columns = [
        ("name", "name"),
        ("status", "status"),
        ("start_time", "started"),
        *((_ref("metrics", m), m) for m in metrics),
        *((_ref("params", p), p) for p in params),
    ]
    experiments = [ExperimentOut.of(e) for e in project.experiments()]
    names = {e.experiment_id: e.name for e in experiments}
    return page(
        request,
        "runs_list.html",
        422 if error else 200,
        runs=found.items,
        error=error,
        filter_text=" and ".join(shown_filters),
        order_by=order_by or "",
        experiment=experiment or "",
        experiments=experiments,
        experiment_names=names,
        metrics=metrics,
        params=params,
        chosen_metrics=_keys(metric),
        chosen_params=_keys(param),
        metric_keys=sorted({k for r in found.items for k in r.metrics}),
        param_keys=sorted({k for r in found.items for k in r.params}),
        columns=columns,
        sorts=_sort_links(query, order_by, columns),
        first=_href("/runs", {**query, "order_by": order_by}) if page_token else None,
        next=_href("/runs", {**query, "order_by": order_by, "page_token": found.next_page_token})
        if found.next_page_token
        else None,
    )


def _history_figure(key: str, histories: Sequence[tuple[str, Sequence[tuple[int, float | None]]]]) -> str:
    traces = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": label,
            "x": [step for step, _ in points],
            "y": [value for _, value in points],
        }
        for label, points in histories
    ]
    layout = {"title": {"text": key}, "xaxis": {"title": {"text": "step"}}, "showlegend": len(traces) > 1}
    return figure_json(traces, layout)


def _label(run: Any) -> str:
    return f"{run.name or run.run_id} ({run.run_id[-8:]})"


@router.get("/runs/compare")
def compare_page(
    request: Request,
    run: Annotated[list[str] | None, Query(max_length=10)] = None,
    metric: Keys = None,
) -> Response:
    """2 to 10 runs side by side, differing values marked, and each chosen metric's history of
    every run overlaid in one chart."""
    project = project_of(request)
    ids = [r[:40] for r in run or ()]
    try:
        compared = CompareOut.of(project.compare(*ids))
    except InvalidInput as exc:
        return page(request, "runs_compare.html", 422, error=exc, compared=None, figures=[])
    keys = _keys(metric) or [m.key for m in compared.metrics][:MOST_CHARTS]
    figures = []
    for key in keys:
        histories = [
            (_label(r), [(p.step, p.value) for p in project.metric_history(r.run_id, key)])
            for r in compared.runs
        ]
        if any(points for _, points in histories):
            figures.append(_history_figure(key, histories))
    return page(request, "runs_compare.html", compared=compared, figures=figures, error=None, metrics=keys)


@router.get("/runs/{run_id}")
def run_page(request: Request, run_id: str) -> Response:
    """One run: params, latest metrics, tags, a chart of each metric over steps, its parent and
    children (tuning trials), and its pipeline run when it belongs to one."""
    project = project_of(request)
    if not run_id or len(run_id) > 40:
        raise NotFound(f"no run {run_id[:50]!r}", hint="/runs lists them")
    tracked: TrackedRun = project.tracked_run(run_id)
    shown = RunOut.of(tracked)
    figures = []
    for key in list(shown.metrics)[:MOST_CHARTS]:
        points = [(p.step, p.value) for p in project.metric_history(tracked.id, key)]
        if len(points) > 1:  # a value logged once is its row in the table, not a chart
            figures.append(_history_figure(key, [(key, points)]))
    parent_id = shown.tags.get(PARENT_TAG) or shown.tags.get(MLFLOW_PARENT_TAG)
    parent = _maybe_run(project, parent_id) if parent_id else None
    # a pipeline run is a run of another executor; a tuning trial belongs to its parent's
    owner = (parent.run_id if parent else None) if parent_id else tracked.id
    pipeline_run = owner if owner and project.show(owner).executor not in TRACKING_EXECUTORS else None
    nested = project.child_runs([tracked.id])[tracked.id]
    children = [RunOut.of(c) for c in nested[:MOST_CHILDREN]]
    experiment = None
    if shown.experiment_id is not None:
        experiment = next((e.name for e in project.experiments() if e.id == shown.experiment_id), None)
    return page(
        request,
        "runs_run.html",
        run=shown,
        experiment=experiment,
        figures=figures,
        more_metrics=max(0, len(shown.metrics) - MOST_CHARTS),
        parent=parent,
        pipeline_run=pipeline_run,
        children=children,
        more_children=len(nested) > MOST_CHILDREN,
        children_href=_href("/runs", {"filter": f"tags.`{PARENT_TAG}` = '{tracked.id}'"}),
        child_metrics=_common([c.metrics for c in children], 4),
        child_params=_common([c.params for c in children], 3),
    )


def _maybe_run(project: Any, run_id: str) -> RunOut | None:
    try:
        return RunOut.of(project.tracked_run(run_id))
    except NotFound:
        return None


@router.get("/experiments")
def experiments_page(request: Request) -> Response:
    found = [ExperimentOut.of(e) for e in project_of(request).experiments()]
    return page(request, "runs_experiments.html", experiments=found)
