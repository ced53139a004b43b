"""The REST API under /api/v1: labeling projects' progress, gold scores and agreement, the
label-error queue; create a project, import answers.

Each route makes the Project calls the CLI's `loopline annotate …` makes and returns the same
loopline.api.labeling shapes as its `--json`.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request

from loopline.api.labeling import (
    Agreement,
    AnnotatorRow,
    LabelError,
    LabelImport,
    LabelImported,
    LabelingCreate,
    LabelingCreated,
    LabelingReport,
    LabelingStatus,
)
from loopline.api.paging import Page, decode_token, page_of
from loopline.serve.access import Key, Rule, need
from loopline.server.api.params import DEFAULT_LIMIT, Limit, PageToken
from loopline.server.deps import principal_of, project_of
from loopline.server.routers.pages import annotator_rows

router = APIRouter(prefix="/api/v1", tags=["labeling"])

_P = "/api/v1/labeling"
RULES: dict[Key, Rule] = {
    ("GET", _P): need("labeling", "read"),
    ("POST", _P): need("labeling", "manage"),
    ("GET", f"{_P}/{{project}}"): need("labeling", "manage", "project"),
    ("GET", f"{_P}/{{project}}/label-errors"): need("labeling", "manage", "project"),
    ("POST", f"{_P}/{{project}}/import"): need("labeling", "manage", "project"),
}


def statuses(project: Any, offset: int, limit: int) -> Page[LabelingStatus]:
    """A page of the projects (by name) with their progress; one more than `limit` is looked
    up by name only, to tell whether a next page exists."""
    specs = sorted(project.annotate_projects(), key=lambda p: p.name)[offset : offset + limit + 1]
    found = [LabelingStatus.of(project.annotate_status(s.name)) for s in specs[:limit]]
    return page_of(found, offset, limit, more=len(specs) > limit)


def report_of(project: Any, name: str) -> tuple[LabelingReport, list[LabelError]]:
    """One project for its managers, and its label-error queue."""
    from loopline.annotate.projects import Policy

    report = project.annotate_report(name)
    measured = report["agreement"]
    agreement = Agreement.of(measured) if "project" in measured else None
    errors = [LabelError.model_validate(x) for x in project.annotate_label_errors(name)]
    out = LabelingReport(
        status=LabelingStatus.of(report["status"]),
        annotators=[AnnotatorRow.model_validate(r) for r in annotator_rows(report["status"])],
        min_gold_accuracy=Policy().min_gold_accuracy,
        agreement=agreement,
        note=None if agreement is not None else measured.get("note"),
        label_errors=len(errors),
    )
    return out, errors


@router.get("/labeling", response_model=Page[LabelingStatus])
def list_labeling(
    request: Request, limit: Limit = DEFAULT_LIMIT, page_token: PageToken = None
) -> Page[LabelingStatus]:
    """Labeling projects with their progress (`loopline annotate status --json`), by name."""
    return statuses(project_of(request), decode_token(page_token), limit)


@router.post("/labeling", status_code=201, response_model=LabelingCreated)
def create_labeling(request: Request, body: LabelingCreate) -> LabelingCreated:
    """Create a labeling project on a dataset version: one task per row or file."""
    spec, n = project_of(request).annotate_create(body.name, body.dataset, body.labels, **body.options())
    return LabelingCreated(name=spec.name, tasks=n, dataset=spec.dataset, version=spec.dataset_version)


@router.get("/labeling/{project}", response_model=LabelingReport)
def labeling_report(request: Request, project: str) -> LabelingReport:
    """Progress, per-annotator answers and gold accuracy, agreement, the label-error count."""
    return report_of(project_of(request), project)[0]


@router.get("/labeling/{project}/label-errors", response_model=Page[LabelError])
def label_errors(
    request: Request, project: str, limit: Limit = DEFAULT_LIMIT, page_token: PageToken = None
) -> Page[LabelError]:
    """The label-error queue (`loopline annotate errors` fills it), lowest label quality first."""
    offset = decode_token(page_token)
    found = project_of(request).annotate_label_errors(project)[offset : offset + limit + 1]
    return page_of([LabelError.model_validate(x) for x in found], offset, limit)


@router.post("/labeling/{project}/import", response_model=LabelImported)
def import_labels(request: Request, project: str, body: LabelImport) -> LabelImported:
    """Answers made elsewhere (another tool, a crowd, rules, a model), all or none; a row without
    an annotator is the importer's."""
    if body.rows is not None:
        who = principal_of(request).name
        lines = (
            json.dumps(row.model_dump() | {"annotator": row.annotator or who}, ensure_ascii=False)
            for row in body.rows
        )
        text, fmt = "".join(line + "\n" for line in lines), "jsonl"
    elif body.text is not None and body.format is not None:
        text, fmt = body.text, body.format
    else:
        text, fmt = json.dumps(body.labelstudio, ensure_ascii=False), "labelstudio"
    result = project_of(request).annotate_import_text(project, text, fmt, body.duplicates)
    return LabelImported.model_validate(result)
