"""Dashboard pages: home, the loop at a glance.

One card per stage of the loop, each linking to its area: the latest data versions, the
production model of each registered name with its drift and accuracy over its last monitoring
reports, open labeling work, failed pipeline runs, and versions awaiting an approval for an alias
the registry protects (`registry.require_approval`). A card reads only what it shows: a few list
calls whatever the size of the project, and one small query per model or version it shows.

`/` is public: without a sign-in it sends to /signin, and those who may not read the project
(annotators) to their labeling projects.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from loopline.core.errors import LooplineError
from loopline.core.identity import Principal
from loopline.serve.access import PUBLIC, Key, Rule
from loopline.server.auth import authenticate
from loopline.server.deps import project_of
from loopline.server.routers.pages import render

router = APIRouter(include_in_schema=False)

RULES: dict[Key, Rule] = {
    ("GET", "/"): PUBLIC,  # the home page for project readers; the others to their start page
}

SHOWN = 8  # rows a card lists; it says how many more its area page has
TREND = 8  # monitoring reports per production model in its trend
RECENT_RUNS = 50  # pipeline runs the failed-runs card looks through
_EPOCH = datetime.min.replace(tzinfo=UTC)


@dataclass
class Trend:
    """One figure over a model's last reports, oldest first (None: not measured in that one)."""

    label: str
    values: list[float | None]

    @property
    def last(self) -> float | None:
        return next((v for v in reversed(self.values) if v is not None), None)

    @property
    def points(self) -> str:
        """The polyline of a 100 x 24 sparkline (a figure of 0..1; gaps left out)."""
        n = len(self.values)
        step = 100 / (n - 1) if n > 1 else 0
        return " ".join(
            f"{i * step:.1f},{22 - 20 * min(max(v, 0.0), 1.0):.1f}"
            for i, v in enumerate(self.values)
            if v is not None
        )

    @property
    def described(self) -> str:
        shown = ", ".join("n/a" if v is None else f"{v:.2f}" for v in self.values)
        return f"{self.label} over the last {len(self.values)} reports: {shown}"


@dataclass
class Production:
    name: str
    version: int
    versions: int
    drift: Trend
    accuracy: Trend
    alerts: int = 0
    drifted: bool | None = None


@dataclass
class Pending:
    name: str
    version: int
    alias: str
    current: int | None
    approved_by: list[str] = field(default_factory=list)


class _ReportFigures:
    """The accuracy figures of monitoring reports by id: a report is an immutable artifact (its
    id is its content's hash), so it is read once per process, not on every visit."""

    def __init__(self, size: int = 4096) -> None:
        self._known: OrderedDict[str, dict[str, float]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def of(self, project: Any, report_id: str) -> dict[str, float]:
        with self._lock:
            found = self._known.get(report_id)
        if found is not None:
            return found
        from loopline.monitor.alerts import report_metrics

        try:
            found = report_metrics(project.monitor_report(report_id))
        except (LooplineError, KeyError, TypeError, ValueError):  # gone or unreadable: no figure
            found = {}
        with self._lock:
            self._known[report_id] = found
            while len(self._known) > self._size:
                self._known.popitem(last=False)
        return found


_figures = _ReportFigures()


def _accuracy(figures: dict[str, float]) -> float | None:
    """Accuracy against ground truth where it arrived, else the estimate from the confidences."""
    return figures.get("accuracy", figures.get("estimated_accuracy"))


def datasets_card(project: Any) -> dict[str, Any]:
    found = sorted(project.datasets(), key=lambda pair: pair[0].created_at or _EPOCH, reverse=True)
    return {"total": len(found), "rows": found[:SHOWN]}


def models_card(project: Any, who: Principal, trends: bool) -> tuple[dict[str, Any], list[Any]]:
    """The production models shown, and every model this principal may read."""
    models = [m for m in project.models() if who.allows("model", "read", m.name)]
    live = sorted((m for m in models if "production" in m.aliases), key=lambda m: m.updated_at, reverse=True)
    rows = []
    for m in live[:SHOWN]:
        reports = list(reversed(project.monitor_reports(m.name, limit=TREND))) if trends else []
        figures = [_figures.of(project, r["report_id"]) for r in reports]
        rows.append(
            Production(
                name=m.name,
                version=m.aliases["production"],
                versions=m.versions,
                drift=Trend("drift share", [r["drift_share"] for r in reports]),
                accuracy=Trend("accuracy", [_accuracy(f) for f in figures]),
                alerts=reports[-1]["alerts"] if reports else 0,
                drifted=reports[-1]["drifted"] if reports else None,
            )
        )
    return {"total": len(models), "live": len(live), "rows": rows}, models


def approvals_card(project: Any, models: Sequence[Any]) -> dict[str, Any]:
    """Versions newer than what a protected alias points at, whose gates did not fail: each
    waits for an approval (or, approved, for its promotion)."""
    registry = project.registry
    protected = registry.policy.require_approval
    waiting = [
        (m, alias)
        for alias in protected
        for m in models
        if m.latest is not None
        and m.latest.gates_passed is not False
        and m.latest.version > m.aliases.get(alias, 0)
    ]
    waiting.sort(key=lambda pair: pair[0].latest.created_at, reverse=True)
    rows = []
    for m, alias in waiting[:SHOWN]:
        approvals = registry.repo.approvals(m.name, m.latest.version, alias)
        rows.append(
            Pending(
                m.name, m.latest.version, alias, m.aliases.get(alias), sorted({a.actor for a in approvals})
            )
        )
    return {"protected": protected, "total": len(waiting), "rows": rows}


def labeling_card(project: Any) -> dict[str, Any]:
    open_work = [
        (spec, progress)
        for spec, progress in project.annotate_overview()
        if progress["complete"] < progress["tasks"]
    ]
    open_work.sort(key=lambda pair: pair[1]["tasks"] - pair[1]["complete"], reverse=True)
    return {"total": len(open_work), "rows": open_work[:SHOWN]}


def failed_runs_card(project: Any) -> dict[str, Any]:
    failed = [run for run in project.runs(RECENT_RUNS) if run.status == "failed"]
    rows = []
    for run in failed[:SHOWN]:
        step = next((s for s in run.steps if s.status == "failed"), None)
        error = (step.error or "").strip().splitlines() if step else []
        rows.append({"run": run, "step": step.name if step else None, "error": error[-1] if error else ""})
    return {"total": len(failed), "looked": RECENT_RUNS, "rows": rows}


def home_cards(project: Any, who: Principal) -> dict[str, Any]:
    """What each card shows, for the cards this principal may read."""
    cards: dict[str, Any] = {}
    if who.allows("dataset", "read"):
        cards["data"] = datasets_card(project)
    if who.allows("model", "read"):
        cards["models"], models = models_card(project, who, trends=who.allows("project", "read"))
        cards["approvals"] = approvals_card(project, models)
    if who.allows("labeling", "read"):
        cards["labeling"] = labeling_card(project)
    cards["failed"] = failed_runs_card(project)
    return cards


@router.get("/")
def home(request: Request) -> Response:
    try:
        who = authenticate(request)
    except LooplineError:
        who = None
    if who is None:
        return RedirectResponse("/signin", status_code=303)
    if not who.allows("project", "read"):
        return RedirectResponse("/annotate", status_code=303)
    cards = home_cards(project_of(request), who)
    return render(request, "dash/home.html", who, cards=cards, shown=SHOWN)
