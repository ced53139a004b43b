"""The labeling REST API: list projects, lease the next task, submit, skip, progress, export.

The guard (server/access.py) has checked who asks before a route runs; each route makes one
Project call (plus, when a project name is new to the process, the list of projects that
`ProjectCache` keeps).
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response

from loopline.server.deps import Now, Who, project_of
from loopline.server.schemas import (
    AnnotationOut,
    AnnotatorOut,
    LeaseOut,
    ProjectOut,
    SubmitBody,
    annotation_out,
    lease_out,
)

router = APIRouter(prefix="/api/annotate", tags=["annotate"])


@router.get("/me", response_model=AnnotatorOut)
def me(who: Who) -> AnnotatorOut:
    return AnnotatorOut(name=who.name, role=who.role)


@router.get("/projects", response_model=list[ProjectOut])
def projects(request: Request, who: Who) -> list[ProjectOut]:
    return [ProjectOut.of(p) for p in project_of(request).annotate_projects()]


@router.get("/{project}/next", response_model=LeaseOut)
def next_task(request: Request, project: str, who: Who, now: Now) -> LeaseOut:
    label_project = request.app.state.projects.get(project)
    lease = project_of(request).next_task(project, who.name, now=now)
    return lease_out(project, lease, label_project.text_field)


@router.post("/{project}/tasks/{task_id}", status_code=201, response_model=AnnotationOut)
def submit(
    request: Request, project: str, task_id: int, body: SubmitBody, who: Who, now: Now
) -> AnnotationOut:
    annotation = project_of(request).submit(
        project, task_id, who.name, body.label, seconds=body.seconds, now=now
    )
    return annotation_out(annotation)


@router.post("/{project}/tasks/{task_id}/skip", status_code=204)
def skip(request: Request, project: str, task_id: int, who: Who, now: Now) -> Response:
    project_of(request).skip(project, task_id, who.name, now=now)
    return Response(status_code=204)


@router.get("/{project}/progress")
def progress(request: Request, project: str, who: Who) -> dict[str, Any]:
    status: dict[str, Any] = project_of(request).annotate_status(project)
    return status


EXPORTS = {
    "jsonl": (".jsonl", "application/x-ndjson"),
    "csv": (".csv", "text/csv; charset=utf-8"),
    "labelstudio": (".json", "application/json"),
}


@router.get("/{project}/export")
def export(
    request: Request,
    project: str,
    who: Who,
    fmt: Annotated[Literal["jsonl", "csv", "labelstudio"], Query(alias="format")] = "jsonl",
) -> Response:
    """Every answer of the project as a download (Label Studio JSON, CSV or JSON Lines)."""
    suffix, media_type = EXPORTS[fmt]
    with tempfile.TemporaryDirectory(prefix="loopline-export-") as folder:
        written, answers = project_of(request).annotate_export(project, Path(folder) / f"export{suffix}", fmt)
        data = written.read_bytes()
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", project)
    return Response(
        data,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{safe}-annotations{suffix}"',
            "X-Loopline-Answers": str(answers),
        },
    )
