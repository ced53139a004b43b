"""Shapes of pipeline runs (REST API and CLI --json), and the client's calls for them.

A pipeline run (`loopline.core.types.Run`) is listed as `PipelineRunOut` (`loopline runs --json`),
shown as `PipelineRunReportOut` (`loopline show RUN --json`: each step with its rows, metrics and
gates, the environment, the metric points and the sealed test sets read), drawn as `PipelineDagOut`
(the steps and the artifacts that flow between them), and started with `StartPipelineRunIn`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from loopline.api.paging import Page
from loopline.api.transport import Transport

if TYPE_CHECKING:
    from loopline.api.remote import RemoteProject
    from loopline.core.types import Environment, Run
    from loopline.pipeline.status import StepState
    from loopline.project import Project

# A pipeline run's statuses, and those of a tracked run (MLflow client) sharing the runs table.
RunStatus = Literal["running", "succeeded", "failed", "interrupted", "killed", "scheduled"]
StepStatus = Literal["ran", "cached", "failed", "skipped"]


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StepOut(_Shape):
    """One step of a run, as it was recorded (`StepRun.to_json`)."""

    name: str
    status: StepStatus
    fingerprint: str
    seconds: float
    outputs: dict[str, str] = Field(description="output slot -> artifact id")
    inputs: dict[str, str] = Field(description="input slot -> artifact id")
    input_versions: dict[str, str] = Field(description="input slot -> NAME@VERSION read")
    uses: str
    params: dict[str, Any]
    error: str | None


class RowsOut(_Shape):
    in_: int | None = Field(None, alias="in", serialization_alias="in")
    out: int | None = None
    quarantined: int | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)


class GateOut(_Shape):
    name: str | None
    metric: str | None
    value: Any
    threshold: Any
    passed: bool
    note: str | None


class StepReportOut(StepOut):
    """A step with what it read and wrote: rows in / out / quarantined, its metrics and gates
    (for a cached step, those of the run that made its outputs: `recorded_in`)."""

    rows: RowsOut | None
    metrics: dict[str, float]
    gates: list[GateOut]
    recorded_in: str


class _RunFields(_Shape):
    run_id: str
    status: RunStatus
    started_at: str
    finished_at: str | None
    executor: str
    environment_id: str | None
    git_commit: str | None
    git_dirty: bool | None
    reproduce_of: str | None


class PipelineRunOut(_RunFields):
    """A run of the list (`loopline runs --json`), with how many runs are nested under it."""

    steps: list[StepOut]
    trials: int

    @classmethod
    def of(cls, run: Run, trials: int) -> PipelineRunOut:
        return cls.model_validate(run.to_json() | {"trials": trials})


class EnvironmentOut(_Shape):
    """Where a run ran: Python, platform, loopline and every installed package's version."""

    id: str
    python: str
    platform: str
    loopline: str
    packages_hash: str
    packages: dict[str, str]

    @classmethod
    def of(cls, env: Environment) -> EnvironmentOut:
        return cls.model_validate(env.to_json())


class MetricPointOut(_Shape):
    step_name: str
    key: str
    value: float | None
    step: int


class TestReadOut(_Shape):
    """A sealed test set a step read, and how often it has been read in all runs."""

    __test__ = False  # not a pytest class

    step: str
    input: str
    artifact_id: str
    name: str | None
    version: int | None
    reads: int


class PipelineRunReportOut(_RunFields):
    """One run (`loopline show RUN --json`): its steps with rows, metrics and gates, where it
    ran, every metric point it logged and the sealed test sets it read."""

    steps: list[StepReportOut]
    environment: EnvironmentOut | None
    metrics: list[MetricPointOut]
    test_reads: list[TestReadOut]

    @classmethod
    def of(cls, project: Project | RemoteProject, run: Run) -> PipelineRunReportOut:
        env = project.environment(run.environment_id) if run.environment_id else None
        return cls.model_validate(
            project.run_report(run)
            | {
                "environment": env.to_json() if env else None,
                "metrics": project.metrics(run.id),
                "test_reads": project.sealed_reads(run),
            }
        )


class DagNodeOut(_Shape):
    """A step of the run, placed in a layer: 0 for a step no other step of the run feeds."""

    name: str
    status: StepStatus
    cached: bool
    seconds: float
    rows: RowsOut | None
    layer: int
    outputs: dict[str, str]
    error: str | None


class DagEdgeOut(_Shape):
    """Data flowing from one step to another: the artifacts `source` wrote and `target` read
    (known from the run's records), or, for a step that never read its inputs (skipped after an
    upstream failure), what the project's pipeline says it reads (`known_from: "pipeline"`)."""

    source: str
    target: str
    artifacts: list[str]
    known_from: Literal["run", "pipeline"]


class OutputMatchOut(_Shape):
    """For a reproduce run: one output of the original run and this run's id for it (ids
    decide: identical only when equal; `loopline reproduce` says how differing ones differ)."""

    step: str
    output: str
    expected: str
    got: str | None
    identical: bool


class PipelineDagOut(_Shape):
    run_id: str
    status: RunStatus
    reproduce_of: str | None
    nodes: list[DagNodeOut]
    edges: list[DagEdgeOut]
    inputs: dict[str, list[str]] = Field(
        description="artifact id read from the store (no step of the run wrote it) -> steps reading it"
    )
    comparisons: list[OutputMatchOut] = Field(description="a reproduce run's outputs against the original's")


class StepStateOut(_Shape):
    name: str
    state: Literal["fresh", "stale"]
    reasons: list[str]


class PipelineStatusOut(_Shape):
    """`loopline status --json`: which steps are stale, and why."""

    steps: list[StepStateOut]

    @classmethod
    def of(cls, states: Sequence[StepState]) -> PipelineStatusOut:
        return cls.model_validate({"steps": [s.to_json() for s in states]})


class StartPipelineRunIn(_Shape):
    """Run the project's pipeline (all steps, or those making `targets`); `force` recomputes
    every step (no cache hits), like `loopline run --no-cache`."""

    targets: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=100
    )
    force: bool = False


class StartedPipelineRunOut(_Shape):
    run_id: str
    status: RunStatus


class PipelineCalls(Transport):
    """`loopline.Client`'s calls of /api/v1 for pipeline runs."""

    def pipeline_runs(
        self, *, status: RunStatus | None = None, limit: int | None = None, page_token: str | None = None
    ) -> Page[PipelineRunOut]:
        params = {"status": status, "limit": limit, "page_token": page_token}
        return Page[PipelineRunOut].model_validate(self._get("/pipeline-runs", params))

    def iter_pipeline_runs(self, *, status: RunStatus | None = None) -> Iterator[PipelineRunOut]:
        for item in self._pages("/pipeline-runs", {"status": status}):
            yield PipelineRunOut.model_validate(item)

    def pipeline_run(self, run_id: str) -> PipelineRunReportOut:
        return PipelineRunReportOut.model_validate(self._get(f"/pipeline-runs/{run_id}"))

    def pipeline_dag(self, run_id: str) -> PipelineDagOut:
        return PipelineDagOut.model_validate(self._get(f"/pipeline-runs/{run_id}/dag"))

    def pipeline_status(self) -> PipelineStatusOut:
        return PipelineStatusOut.model_validate(self._get("/pipeline-status"))

    def environment(self, env_id: str) -> EnvironmentOut:
        return EnvironmentOut.model_validate(self._get(f"/environments/{env_id}"))

    def start_pipeline_run(
        self, targets: Sequence[str] = (), *, force: bool = False
    ) -> StartedPipelineRunOut:
        body = StartPipelineRunIn(targets=list(targets), force=force).model_dump(mode="json")
        return StartedPipelineRunOut.model_validate(self._post("/pipeline-runs", body))
