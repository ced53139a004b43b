"""The REST API under /api/v1: monitoring. Reports describe production traffic, so reading them
needs read on the project (viewers and approvers, not annotators)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from loopline.api.monitoring import ModelMonitoring, ModelTimeline, MonitoringReport, ReportSummary
from loopline.api.paging import MAX_LIMIT, Page, clamp_limit, decode_token, page_of
from loopline.core.errors import InvalidInput
from loopline.serve.access import Key, Rule, need
from loopline.server.api.params import DEFAULT_LIMIT, NO_NUL, Limit, PageToken, When
from loopline.server.deps import project_of

router = APIRouter(prefix="/api/v1", tags=["monitoring"])

_READ = need("project", "read")
RULES: dict[Key, Rule] = {
    ("GET", "/api/v1/monitoring/models"): _READ,
    ("GET", "/api/v1/monitoring/models/{model}/timeline"): _READ,
    ("GET", "/api/v1/monitoring/reports"): _READ,
    ("GET", "/api/v1/monitoring/reports/{report_id}"): _READ,
}

Name = Annotated[str | None, Query(max_length=200, pattern=NO_NUL, description="only this model's reports")]
ModelName = Annotated[str, Path(max_length=200, pattern=NO_NUL)]


def utc(value: datetime | None) -> datetime | None:
    """In UTC (naive means UTC); InvalidInput for a time UTC cannot hold (year 1 at +05:00)."""
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(
            f"{value.isoformat()} is out of range", hint="give a time in years 1 to 9999 UTC"
        ) from None


def models_page(request: Request, limit: int | None, page_token: str | None) -> Page[ModelMonitoring]:
    """One page of the monitoring overview (the page /monitoring renders the same)."""
    offset, size = decode_token(page_token), clamp_limit(limit)
    found = project_of(request).monitor_models(limit=size + 1, offset=offset)
    return page_of([ModelMonitoring.model_validate(m) for m in found], offset, size)


@router.get("/monitoring/models", summary="Models with monitoring reports: latest report, drift trend")
def list_models(
    request: Request, limit: Limit = DEFAULT_LIMIT, page_token: PageToken = None
) -> Page[ModelMonitoring]:
    return models_page(request, limit, page_token)


def timeline_of(
    request: Request, model: str, since: datetime | None, until: datetime | None, limit: int
) -> ModelTimeline:
    found = project_of(request).monitor_timeline(model, since=utc(since), until=utc(until), limit=limit)
    return ModelTimeline.model_validate(found)


@router.get(
    "/monitoring/models/{model}/timeline",
    summary="A model's reports over time: drift per feature, performance, alerts",
)
def timeline(
    request: Request,
    model: ModelName,
    since: When = None,
    until: When = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="the last N reports of the window")] = 200,
) -> ModelTimeline:
    return timeline_of(request, model, since, until, limit)


@router.get("/monitoring/reports", summary="Stored monitoring reports, newest first")
def list_reports(
    request: Request, model: Name = None, limit: Limit = DEFAULT_LIMIT, page_token: PageToken = None
) -> Page[ReportSummary]:
    offset, size = decode_token(page_token), clamp_limit(limit)
    rows = project_of(request).monitor_reports(model, limit=size + 1, offset=offset)
    return page_of([ReportSummary.model_validate(r) for r in rows], offset, size)


@router.get("/monitoring/reports/{report_id}", summary="One stored report (an id or a prefix of 6+)")
def get_report(
    request: Request, report_id: Annotated[str, Path(max_length=64, pattern=NO_NUL)]
) -> MonitoringReport:
    return MonitoringReport.of(project_of(request).monitor_report(report_id))
