"""Monitoring reports in the web UI and the REST API (read on the project, so not annotators:
reports describe production traffic). A report page draws its Plotly figures with the plotly.js
bundle that ships in the plotly package, served from here: no CDN, works offline. The Content
Security Policy forbids inline scripts, so each figure's JSON sits in a data attribute and
/static/monitor.js draws it.

It forbids inline styles too, and plotly.js puts its stylesheet in a <style> element it makes at
load time unless an element with that id exists and has the class `no-inline-styles` (its own
escape hatch for strict policies). The page claims the id with a <link> to /monitor/static/
plotly.css: the same rules, read once out of the shipped bundle, served as a file. The bundle
also carries MapLibre's stylesheet, added at load unless an element with its id exists: the page
holds such an element (no map is drawn here, so those rules are not needed)."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from loopline.api.monitoring import ReportSummary
from loopline.server.deps import Who, project_of
from loopline.server.routers.pages import page_user, render

router = APIRouter()


def _plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


@router.get("/api/monitor/reports")
def list_reports(
    request: Request, who: Who, model: str | None = None, limit: int = 100
) -> list[ReportSummary]:
    """The first API's list (kept for its clients): /api/v1/monitoring/reports pages it."""
    rows = project_of(request).monitor_reports(model, limit=min(max(limit, 1), 1000))
    return [ReportSummary.model_validate(r) for r in rows]


@router.get("/api/monitor/reports/{report_id}")
def get_report(request: Request, report_id: str, who: Who) -> dict[str, Any]:
    report: dict[str, Any] = project_of(request).monitor_report(report_id)
    return report


_RULES = re.compile(r'\{("X,X div":.*?)\};for\(')
_STRING = r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\''
_RULE = re.compile(f"({_STRING}):({_STRING})")


def _js_string(token: str) -> str:
    if token.startswith("'"):
        return token[1:-1].replace("\\'", "'")
    return str(json.loads(token))


_CLAIM = re.compile(r'getElementById\("([0-9a-f]{32,64})"\)\)\{var \w+=document\.createElement\("style"\)')


@lru_cache(maxsize=1)
def style_claims() -> tuple[str, ...]:
    """Ids of the <style> elements the bundle adds at load unless the id is taken."""
    return tuple(_CLAIM.findall(_plotly_js().read_text(encoding="utf-8")))


@lru_cache(maxsize=1)
def plotly_css() -> str:
    """plotly.js's own CSS rules (selectors with X for the plot, Y for the notifier), or an
    empty sheet if a future bundle keeps them elsewhere (the plots still draw)."""
    found = _RULES.search(_plotly_js().read_text(encoding="utf-8"))
    if found is None:
        return "/* plotly.js rules not found in this bundle */\n"
    rules = []
    for quoted_selector, quoted_body in _RULE.findall(found.group(1)):
        selector, body = _js_string(quoted_selector), _js_string(quoted_body)
        selector = selector.replace("X", ".js-plotly-plot .plotly").replace("Y", ".plotly-notifier")
        rules.append(f"{selector} {{{body}}}")
    return "\n".join(rules) + "\n"


@router.get("/monitor/static/plotly.css", include_in_schema=False)
def plotly_stylesheet() -> Response:
    return Response(plotly_css(), media_type="text/css", headers={"Cache-Control": "public, max-age=86400"})


@router.get("/monitor/static/plotly.min.js", include_in_schema=False)
def plotly_js() -> Response:
    return FileResponse(
        _plotly_js(), media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"}
    )


@router.get("/monitor", response_class=HTMLResponse, include_in_schema=False)
def reports_page(request: Request, model: str | None = None) -> Response:
    who = page_user(request)
    reports = project_of(request).monitor_reports(model, limit=200)
    return render(request, "monitor_reports.html", who, reports=reports, model=model)


@router.get("/monitor/{report_id}", response_class=HTMLResponse, include_in_schema=False)
def report_page(request: Request, report_id: str) -> Response:
    who = page_user(request)
    report = project_of(request).monitor_report(report_id)
    drift = report.get("drift") or {}
    columns = sorted(drift.get("columns", []), key=lambda c: (not c["drifted"], c["p_value"] or 1.0))
    return render(
        request, "monitor_report.html", who, report=report, columns=columns, style_claims=style_claims()
    )
