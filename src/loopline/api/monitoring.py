"""Shapes of monitoring (REST API and CLI --json), and the client's calls for them.

A stored report is listed by its summary (`ReportSummary`, the row that makes listing cheap);
`MonitoringReport` is the whole report as `loopline monitor MODEL --json` prints it (no figures:
those are the HTML page's). A model's reports over time are `ModelTimeline`'s points, each the
few numbers of one report a chart needs; `ModelMonitoring` is a model's line on the overview.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from loopline.api.paging import Page
from loopline.api.transport import Transport

_FORBID = ConfigDict(extra="forbid")


class ReportSummary(BaseModel):
    """One stored report: its window, rows, drift verdict and how many alerts it fired."""

    model_config = _FORBID
    report_id: str
    model: str
    version: int | None
    created_at: str
    since: str | None
    until: str | None
    rows: int
    drift_share: float | None = Field(description="share of the tested features that drifted")
    drifted: bool | None
    alerts: int = Field(description="alerts the report fired")


class FeatureDrift(BaseModel):
    """One feature's drift test in one report."""

    model_config = _FORBID
    name: str
    test: str | None
    statistic: float | None
    p_value: float | None
    p_adjusted: float | None
    psi: float | None
    drifted: bool | None


class Alert(BaseModel):
    """An alert a report fired."""

    model_config = _FORBID
    rule: str
    value: float | None
    state: str | None
    at: str | None
    delivered: bool | None


class TimelinePoint(BaseModel):
    """One report as a point in time: `at` is its window's end (its making, for an open window)."""

    model_config = _FORBID
    report: ReportSummary
    at: str
    empty: bool
    features: list[FeatureDrift]
    prediction_drift: FeatureDrift | None
    performance: dict[str, float] | None = Field(description="real performance on labelled rows")
    labelled: int | None = Field(description="rows whose ground truth arrived")
    estimated_accuracy: float | None = Field(description="accuracy estimated from confidences")
    fired: list[Alert]


class ModelTimeline(BaseModel):
    """A model's reports in time order (the last `limit` of the window)."""

    model_config = _FORBID
    model: str
    features: list[str] = Field(description="every feature tested in any of the points")
    points: list[TimelinePoint]


class ModelMonitoring(BaseModel):
    """A model on the monitoring overview: its latest report and the recent drift trend."""

    model_config = _FORBID
    model: str
    reports: int
    latest: TimelinePoint
    trend: list[float | None] = Field(description="drift share of the latest reports, oldest first")


class MonitoringReport(BaseModel):
    """A stored report, whole but its figures (`loopline monitor MODEL --json`)."""

    model_config = _FORBID
    report_id: str
    model: str
    version: int | None
    created_at: str | None
    window: dict[str, Any]
    reference: dict[str, Any]
    empty: bool
    message: str | None = None
    drift: dict[str, Any] | None
    prediction_drift: dict[str, Any] | None
    quality: dict[str, Any] | None
    performance: dict[str, Any] | None
    estimated_performance: dict[str, Any] | None
    alerts: list[dict[str, Any]]
    alert_states: list[dict[str, Any]]

    @classmethod
    def of(cls, report: dict[str, Any]) -> MonitoringReport:
        return cls.model_validate({k: v for k, v in report.items() if k != "figures"})


class MonitoringCalls(Transport):
    """`loopline.Client`'s calls of /api/v1 for monitoring."""

    def monitoring_models(
        self, *, limit: int | None = None, page_token: str | None = None
    ) -> Page[ModelMonitoring]:
        found = self._get("/monitoring/models", {"limit": limit, "page_token": page_token})
        return Page[ModelMonitoring].model_validate(found)

    def monitoring_reports(self, model: str | None = None) -> list[ReportSummary]:
        """Every stored report (of `model`), newest first, across pages."""
        rows = self._pages("/monitoring/reports", {"model": model, "limit": 1000})
        return [ReportSummary.model_validate(r) for r in rows]

    def monitoring_report(self, report_id: str) -> MonitoringReport:
        return MonitoringReport.model_validate(self._get(f"/monitoring/reports/{report_id}"))

    def monitoring_timeline(
        self,
        model: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> ModelTimeline:
        params = {
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
            "limit": limit,
        }
        path = f"/monitoring/models/{quote(model, safe='')}/timeline"
        return ModelTimeline.model_validate(self._get(path, params))
