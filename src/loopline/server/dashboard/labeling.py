"""Dashboard pages: labeling. `/labeling` lists the projects with their progress, agreement and
open work (and, for managers, a form that creates one through POST /api/v1/labeling);
`/labeling/{project}` shows one: annotators with their gold scores, agreement and the label-error
queue. Both build the shapes of the REST API (server/api/labeling.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from loopline.api.labeling import Agreement, LabelingStatus
from loopline.api.paging import decode_token
from loopline.core.errors import InvalidInput
from loopline.serve.access import Key, Rule, need
from loopline.server.api.labeling import report_of, statuses
from loopline.server.api.params import DEFAULT_LIMIT, Limit, PageToken
from loopline.server.dashboard.common import page
from loopline.server.deps import principal_of, project_of

router = APIRouter(include_in_schema=False)

RULES: dict[Key, Rule] = {
    ("GET", "/labeling"): need("labeling", "read"),
    ("GET", "/labeling/{project}"): need("labeling", "manage", "project"),
}

QUEUE_SHOWN = 100  # label errors drawn on the page; the API pages through all of them


def _agreement(project: Any, status: LabelingStatus) -> Agreement | None:
    if status.annotations == 0:
        return None
    try:
        return Agreement.of(project.agreement_of(status.project.name, status.annotations))
    except InvalidInput:  # not measurable for this task type
        return None


@router.get("/labeling")
def labeling_list(
    request: Request,
    limit: Limit = DEFAULT_LIMIT,
    page_token: PageToken = None,
) -> Response:
    project = project_of(request)
    found = statuses(project, decode_token(page_token), limit)
    rows = [(s, _agreement(project, s)) for s in found.items]
    manager = principal_of(request).allows("labeling", "manage")
    datasets = sorted({a.name for a, _ in project.datasets() if a.name}) if manager else []
    return page(
        request, "labeling_list.html", rows=rows, next_page_token=found.next_page_token, datasets=datasets
    )


def _confusion(agreement: Agreement | None, labels: list[str]) -> list[tuple[str, list[tuple[int, int]]]]:
    """Answers (given, columns) against the majority-vote consensus (true, rows): per row its
    label and (count, shade 0-4) cells, the shade a CSS class (the CSP forbids inline styles)."""
    if agreement is None or not agreement.confusion:
        return []
    counts = {(c.true, c.given): c.n for c in agreement.confusion}
    most = max(counts.values())
    return [
        (t, [(counts.get((t, g), 0), round(4 * counts.get((t, g), 0) / most)) for g in labels])
        for t in labels
    ]


@router.get("/labeling/{project}")
def labeling_project(request: Request, project: str) -> Response:
    report, errors = report_of(project_of(request), project)
    spec = report.status.project
    return page(
        request,
        "labeling_project.html",
        report=report,
        spec=spec,
        errors=errors[:QUEUE_SHOWN],
        confusion=_confusion(report.agreement, spec.labels),
    )
