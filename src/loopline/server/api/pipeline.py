"""The REST API under /api/v1: pipeline runs (list, one run's report, its DAG, where it ran), the
pipeline's status, and starting a run of the project's pipeline in a thread of the server.

A started run is the same call `loopline run` makes (`Project.run`), so it is recorded as the CLI
would record it; the request returns 202 with the run's id as soon as the runner has recorded the
run, and one run started from the server runs at a time (409 while it does).
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, Path, Query, Request

from loopline.api.paging import Page, clamp_limit, decode_token, page_of
from loopline.api.pipeline import (
    EnvironmentOut,
    PipelineDagOut,
    PipelineRunOut,
    PipelineRunReportOut,
    PipelineStatusOut,
    RunStatus,
    StartedPipelineRunOut,
    StartPipelineRunIn,
)
from loopline.core.errors import ConfigError, Conflict, InvalidInput, LooplineError
from loopline.serve.access import Key, Rule, need
from loopline.server.api.params import DEFAULT_LIMIT, Limit, PageToken
from loopline.server.deps import project_of

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["pipeline"])

RunId = Annotated[str, Path(min_length=1, max_length=64, description="a run id or a unique prefix of one")]
T = TypeVar("T")
MAX_OFFSET = 2**53

_READ = need("project", "read")
RULES: dict[Key, Rule] = {
    ("GET", "/api/v1/pipeline-runs"): _READ,
    ("GET", "/api/v1/pipeline-runs/{run_id}"): _READ,
    ("GET", "/api/v1/pipeline-runs/{run_id}/dag"): _READ,
    ("GET", "/api/v1/pipeline-status"): _READ,
    ("GET", "/api/v1/environments/{env_id}"): _READ,
    ("POST", "/api/v1/pipeline-runs"): need("project", "edit"),
}


def run_list(
    project: Any, status: str | None, limit: int | None, page_token: str | None
) -> Page[PipelineRunOut]:
    """One page of top-level runs, newest first (the page /pipelines shows, too)."""
    offset, size = decode_token(page_token), clamp_limit(limit)
    if offset > MAX_OFFSET:  # SQL's OFFSET is a 64-bit integer: no token of ours goes this far
        raise InvalidInput(f"page_token {str(page_token)[:40]!r} is not one this server gave")
    found = project.run_page(size + 1, offset, status)
    counts = project.child_counts([r.id for r in found[:size]])
    return page_of(
        [PipelineRunOut.of(r, counts[r.id]) for r in found[:size]], offset, size, more=len(found) > size
    )


def run_dag(project: Any, run_id: str) -> PipelineDagOut:
    return PipelineDagOut.model_validate(project.run_dag(project.show(run_id)))


@router.get("/pipeline-runs", response_model=Page[PipelineRunOut])
def list_pipeline_runs(
    request: Request,
    status: Annotated[RunStatus | None, Query(description="only runs of this status")] = None,
    limit: Limit = DEFAULT_LIMIT,
    page_token: PageToken = None,
) -> Page[PipelineRunOut]:
    """Top-level pipeline runs, newest first, each with how many runs are nested under it."""
    return run_list(project_of(request), status, limit, page_token)


@router.get("/pipeline-runs/{run_id}", response_model=PipelineRunReportOut)
def get_pipeline_run(request: Request, run_id: RunId) -> PipelineRunReportOut:
    """One run: each step's status, cache hit, seconds, rows, outputs, metrics and gates."""
    project = project_of(request)
    return PipelineRunReportOut.of(project, project.show(run_id))


@router.get("/pipeline-runs/{run_id}/dag", response_model=PipelineDagOut)
def get_pipeline_dag(request: Request, run_id: RunId) -> PipelineDagOut:
    """The run's steps as a graph, edges being the artifacts one step wrote and another read."""
    return run_dag(project_of(request), run_id)


@router.get("/environments/{env_id}", response_model=EnvironmentOut)
def get_environment(
    request: Request, env_id: Annotated[str, Path(min_length=1, max_length=128)]
) -> EnvironmentOut:
    """Where runs ran: Python, platform, loopline and the installed packages."""
    return EnvironmentOut.of(project_of(request).environment(env_id))


def _runnable(call: Callable[[], T]) -> T:
    """A request about the pipeline that the project's loopline.yaml cannot answer (no steps, a
    missing input) is a conflict with the project's state, not the server failing."""
    try:
        return call()
    except ConfigError as exc:
        raise _conflict(exc) from exc


def _conflict(exc: ConfigError) -> Conflict:
    return Conflict(f"the project's pipeline cannot run: {exc.message}", hint=exc.hint)


@router.get("/pipeline-status", response_model=PipelineStatusOut)
def get_pipeline_status(request: Request) -> PipelineStatusOut:
    """Which steps of the project's pipeline are stale, and why (`loopline status --json`)."""
    return PipelineStatusOut.of(_runnable(project_of(request).status))


class Launcher:
    """The one pipeline run the server runs at a time, in a thread of its own."""

    def __init__(self) -> None:
        self.busy = threading.Lock()
        self.run_id: str | None = None
        self.thread: threading.Thread | None = None

    def start(self, project: Any, targets: list[str], force: bool) -> str:
        if not self.busy.acquire(blocking=False):
            raise Conflict(
                f"a pipeline run started from the server is running ({self.run_id or 'starting'})",
                hint="wait for it to finish (GET /api/v1/pipeline-runs/RUN_ID)",
            )
        started = threading.Event()
        recorded: list[str] = []
        failed: list[BaseException] = []

        def announce(run_id: str) -> None:
            self.run_id = run_id
            recorded.append(run_id)
            started.set()

        def work() -> None:
            try:
                project.run(pipeline, targets=targets, use_cache=not force, on_start=announce)
            except BaseException as exc:  # recorded on the run once it started; else told the caller
                failed.append(exc)
                if recorded:
                    log.exception("pipeline run %s failed", recorded[0])
            finally:
                self.run_id = None
                self.busy.release()
                started.set()

        try:
            pipeline = _runnable(project.pipeline)
            unknown = [t for t in targets if t not in pipeline.steps and t not in pipeline.producer]
            if unknown:
                raise InvalidInput(
                    f"no step or output named {unknown[0]!r}", hint=f"steps: {', '.join(pipeline.steps)}"
                )
            context = contextvars.copy_context()  # the run acts as the principal who asked
            self.thread = threading.Thread(target=context.run, args=(work,), name="loopline-run", daemon=True)
            self.thread.start()
        except BaseException:
            self.busy.release()
            raise
        started.wait()
        if recorded:
            return recorded[0]
        error = failed[0] if failed else RuntimeError("the pipeline run ended before it was recorded")
        if isinstance(error, ConfigError):  # refused before anything was written (a missing input)
            raise _conflict(error) from error
        if isinstance(error, LooplineError):
            raise error
        raise RuntimeError("the pipeline run could not start") from error


_LAUNCHERS = threading.Lock()


def launcher_of(request: Request) -> Launcher:
    with _LAUNCHERS:
        found: Launcher | None = getattr(request.app.state, "pipeline_launcher", None)
        if found is None:
            found = request.app.state.pipeline_launcher = Launcher()
        return found


@router.post("/pipeline-runs", status_code=202, response_model=StartedPipelineRunOut)
def start_pipeline_run(
    request: Request, body: Annotated[StartPipelineRunIn, Body()]
) -> StartedPipelineRunOut:
    """Start a run of the project's pipeline (as `loopline run`); 202 with its id once recorded."""
    run_id = launcher_of(request).start(project_of(request), body.targets, body.force)
    return StartedPipelineRunOut(run_id=run_id, status="running")
