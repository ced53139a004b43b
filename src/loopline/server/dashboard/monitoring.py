"""Dashboard pages: monitoring over time. `/monitoring` lists the models with reports (a page of
them: each one's latest report, its drift verdict, real and estimated accuracy, alerts and a small
trend of its drift share); `/monitoring/{model}` charts its reports over time (drift per feature,
drift share, performance), lists its alerts and reports, each linked to the report's own page
(/monitor/{report_id}). The data is the REST API's (api/monitoring.py), the same shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from loopline.api.monitoring import ModelTimeline, TimelinePoint
from loopline.api.paging import MAX_LIMIT, decode_token
from loopline.serve.access import Key, Rule, need
from loopline.server.api.monitoring import ModelName, models_page, timeline_of
from loopline.server.api.params import DEFAULT_LIMIT, Limit, PageToken
from loopline.server.dashboard.common import figure_json, page

router = APIRouter(include_in_schema=False)

RULES: dict[Key, Rule] = {
    ("GET", "/monitoring"): need("project", "read"),
    ("GET", "/monitoring/{model}"): need("project", "read"),
}

Metric = Literal["p_adjusted", "p_value", "statistic", "psi"]
METRICS: dict[str, str] = {
    "p_adjusted": "adjusted p-value",
    "p_value": "p-value",
    "statistic": "test statistic",
    "psi": "PSI",
}
PERFORMANCE = ("accuracy", "f1_macro", "mae", "rmse")
SPARK_W, SPARK_H = 96, 24
LEGEND = {"orientation": "h", "y": -0.22}  # under the time axis
TIME_AXIS = {"tickformat": "%b %d %H:%M", "automargin": True}  # one line of ticks: no date line under


def sparkline(values: list[float | None]) -> str:
    """SVG polyline points of drift shares (0..1, top is 1) for a small trend picture."""
    known = [(i, v) for i, v in enumerate(values) if v is not None]
    if not known:
        return ""
    step = SPARK_W / max(len(values) - 1, 1)
    points = [f"{i * step:.1f},{(1 - min(max(v, 0.0), 1.0)) * (SPARK_H - 2) + 1:.1f}" for i, v in known]
    return " ".join(points * 2 if len(points) == 1 else points)  # one report: a dot (round caps)


@router.get("/monitoring")
def overview(
    request: Request,
    page_token: PageToken = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Response:
    found = models_page(request, limit, page_token)
    rows = [(m, sparkline(m.trend)) for m in found.items]
    return page(
        request,
        "monitoring_overview.html",
        rows=rows,
        next_token=found.next_page_token,
        first=decode_token(page_token) == 0,
        spark_size=(SPARK_W, SPARK_H),
    )


def _report_url(point: TimelinePoint) -> str:
    return f"/monitor/{point.report.report_id}"


def drift_figure(timeline: ModelTimeline, metric: str) -> str:
    """One line per feature of `metric` over time; drifted points marked with a red cross."""
    data: list[dict[str, Any]] = []
    marked: dict[str, list[Any]] = {"x": [], "y": [], "text": [], "customdata": []}
    for name in timeline.features:
        xs, ys, urls = [], [], []
        for point in timeline.points:
            test = next((f for f in point.features if f.name == name), None)
            if test is None:
                continue
            value = getattr(test, metric)
            xs.append(point.at)
            ys.append(value)
            urls.append(_report_url(point))
            if test.drifted and value is not None:
                for key, item in (("x", point.at), ("y", value), ("text", name), ("customdata", urls[-1])):
                    marked[key].append(item)
        data.append(
            {"type": "scatter", "mode": "lines+markers", "name": name, "x": xs, "y": ys, "customdata": urls}
        )
    data.append(
        {
            "type": "scatter",
            "mode": "markers",
            "name": "drifted",
            **marked,
            "marker": {"symbol": "x", "size": 12, "color": "#b42318"},
            "hovertemplate": "%{text} drifted<br>%{y}<extra></extra>",
        }
    )
    log = metric in ("p_value", "p_adjusted")
    layout = {
        "title": {"text": f"Drift per feature: {METRICS[metric]}"},
        # exponents as 1e-5: plotly.js writes 10⁻⁵'s superscript as an inline style, which the CSP refuses
        "yaxis": {
            "type": "log" if log else "linear",
            "exponentformat": "e",
            "title": {"text": METRICS[metric]},
        },
        "legend": LEGEND,
        "margin": {"l": 80, "r": 16, "t": 40, "b": 80},
        "xaxis": TIME_AXIS,
        "height": 420,
    }
    return figure_json(data, layout)


def share_figure(timeline: ModelTimeline) -> str:
    points = timeline.points
    colors = ["#b42318" if p.report.drifted else "#3558d6" for p in points]
    bar = {
        "type": "bar",
        "name": "drift share",
        "x": [p.at for p in points],
        "y": [p.report.drift_share for p in points],
        "customdata": [_report_url(p) for p in points],
        "marker": {"color": colors},
    }
    layout = {
        "title": {"text": "Share of features drifted"},
        "yaxis": {"range": [0, 1]},
        "margin": {"l": 48, "r": 16, "t": 40, "b": 80},
        "xaxis": TIME_AXIS,
        "height": 360,
    }
    return figure_json([bar], layout)


def performance_figure(timeline: ModelTimeline) -> str | None:
    points = timeline.points
    data: list[dict[str, Any]] = []
    for name in PERFORMANCE:
        ys = [(p.performance or {}).get(name) for p in points]
        if any(y is not None for y in ys):
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": name,
                    "x": [p.at for p in points],
                    "y": ys,
                }
            )
    estimated = [p.estimated_accuracy for p in points]
    if any(e is not None for e in estimated):
        line = {"dash": "dash"}
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": "estimated accuracy",
                "x": [p.at for p in points],
                "y": estimated,
                "line": line,
            }
        )
    if not data:
        return None
    urls = [_report_url(p) for p in points]
    for trace in data:
        trace["customdata"] = urls
    layout = {
        "title": {"text": "Performance: real (labelled rows) and estimated"},
        "legend": LEGEND,
        "margin": {"l": 48, "r": 16, "t": 40, "b": 80},
        "xaxis": TIME_AXIS,
        "height": 360,
    }
    return figure_json(data, layout)


@router.get("/monitoring/{model}")
def model_page(
    request: Request,
    model: ModelName,
    metric: Metric = "p_adjusted",
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 200,
) -> Response:
    timeline = timeline_of(request, model, since, until, limit)
    alerts = [(p, a) for p in reversed(timeline.points) for a in p.fired]
    figures = (
        [drift_figure(timeline, metric), share_figure(timeline), performance_figure(timeline)]
        if timeline.points
        else []
    )
    return page(
        request,
        "monitoring_model.html",
        timeline=timeline,
        points=list(reversed(timeline.points)),
        alerts=alerts,
        figures=[f for f in figures if f is not None],
        metric=metric,
        metrics=METRICS,
        since=since,
        until=until,
    )
