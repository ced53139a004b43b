"""Dashboard pages: pipeline runs. `/pipelines` lists them (paged in SQL, filtered by status),
`/pipelines/{run_id}` draws a run as its DAG (server-rendered SVG, one column per layer) with each
step's outputs, metrics and gates, where it ran and, for a reproduce run, how its outputs compare;
`/environments/{env_id}` lists an environment's packages. The pages read the same shapes as
/api/v1/pipeline-runs, so a page and its endpoint agree."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from loopline.api.pipeline import (
    DagNodeOut,
    EnvironmentOut,
    PipelineDagOut,
    PipelineRunReportOut,
    RunStatus,
    StepOut,
)
from loopline.serve.access import Key, Rule, need
from loopline.server.api.params import PageToken
from loopline.server.api.pipeline import run_list
from loopline.server.dashboard.common import page
from loopline.server.deps import project_of

router = APIRouter(include_in_schema=False)

RULES: dict[Key, Rule] = {
    ("GET", "/pipelines"): need("project", "read"),
    ("GET", "/pipelines/{run_id}"): need("project", "read"),
    ("GET", "/environments/{env_id}"): need("project", "read"),
}

STATUSES = ("running", "succeeded", "failed", "interrupted")
# The DAG's geometry (SVG user units): a box per step, one column per layer.
BOX_W, BOX_H, GAP_X, GAP_Y, PAD = 210, 84, 70, 22, 16


def seconds_between(started: str, finished: str | None) -> float | None:
    if finished is None:
        return None
    return (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()


def counts(steps: list[StepOut]) -> dict[str, int]:
    """How many steps ran, were cache hits, failed or were skipped."""
    found = {"ran": 0, "cached": 0, "failed": 0, "skipped": 0}
    for step in steps:
        found[step.status] += 1
    return found


@router.get("/pipelines")
def pipelines_page(
    request: Request,
    status: Annotated[RunStatus | None, Query()] = None,
    page_token: PageToken = None,
) -> Response:
    listed = run_list(project_of(request), status, 50, page_token)
    rows = [
        {
            "run": r,
            "seconds": seconds_between(r.started_at, r.finished_at),
            "counts": counts(r.steps),
        }
        for r in listed.items
    ]
    return page(
        request,
        "pipeline_runs.html",
        rows=rows,
        status=status,
        statuses=STATUSES,
        next_token=listed.next_page_token,
        first=page_token is None,
    )


@dataclass(frozen=True)
class Box:
    node: DagNodeOut
    x: int
    y: int


@dataclass(frozen=True)
class Line:
    d: str
    title: str
    dashed: bool


def layout(dag: PipelineDagOut) -> tuple[list[Box], list[Line], int, int]:
    """Boxes placed by layer (columns) and order within it (rows), edges as curves between them,
    and the drawing's width and height."""
    rows: dict[int, int] = {}
    boxes: dict[str, Box] = {}
    for node in dag.nodes:
        row = rows.get(node.layer, 0)
        rows[node.layer] = row + 1
        boxes[node.name] = Box(node, PAD + node.layer * (BOX_W + GAP_X), PAD + row * (BOX_H + GAP_Y))
    lines = []
    for edge in dag.edges:
        a, b = boxes.get(edge.source), boxes.get(edge.target)
        if a is None or b is None:
            continue
        x1, y1, x2, y2 = a.x + BOX_W, a.y + BOX_H // 2, b.x, b.y + BOX_H // 2
        bend = max(GAP_X // 2, (x2 - x1) // 2)
        title = f"{edge.source} → {edge.target}" + (
            f": {', '.join(a[:12] for a in edge.artifacts)}" if edge.artifacts else " (from the pipeline)"
        )
        d = f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2 - 6},{y2}"
        lines.append(Line(d, title, edge.known_from == "pipeline"))
    width = PAD * 2 + (max(rows, default=0) + 1) * (BOX_W + GAP_X) - GAP_X
    height = PAD * 2 + max(rows.values(), default=1) * (BOX_H + GAP_Y) - GAP_Y
    return list(boxes.values()), lines, width, height


@router.get("/pipelines/{run_id}")
def pipeline_run_page(
    request: Request, run_id: Annotated[str, Path(min_length=1, max_length=64)]
) -> Response:
    project = project_of(request)
    found = project.show(run_id)
    report = PipelineRunReportOut.of(project, found)
    dag = PipelineDagOut.model_validate(project.run_dag(found))
    boxes, lines, width, height = layout(dag)
    return page(
        request,
        "pipeline_run.html",
        run=report,
        dag=dag,
        boxes=boxes,
        lines=lines,
        width=width,
        height=height,
        box_w=BOX_W,
        box_h=BOX_H,
        seconds=seconds_between(report.started_at, report.finished_at),
        counts=counts(list(report.steps)),
        metric_points=_points(report),
    )


def _points(report: PipelineRunReportOut) -> dict[str, int]:
    """How many metric points each step logged (a training curve has more than its last value)."""
    found: dict[str, int] = {}
    for point in report.metrics:
        found[point.step_name] = found.get(point.step_name, 0) + 1
    return found


@router.get("/environments/{env_id}")
def environment_page(
    request: Request, env_id: Annotated[str, Path(min_length=1, max_length=128)]
) -> Response:
    env = EnvironmentOut.of(project_of(request).environment(env_id))
    packages: list[tuple[str, Any]] = sorted(env.packages.items(), key=lambda kv: kv[0].lower())
    return page(request, "pipeline_environment.html", env=env, packages=packages)
