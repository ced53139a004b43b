"""Shapes of experiments (REST API and CLI --json), and the client's calls for them.

`RunOut` is a tracked run as `loopline runs --filter … --json` prints it (its latest metrics);
`MetricPointOut` one point of a metric's history; `CompareOut` 2 to 10 runs side by side (what
`loopline compare A B … --json` prints); `ExperimentOut` an experiment with its run count.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from loopline.api.paging import Page
from loopline.api.transport import Transport

if TYPE_CHECKING:
    from loopline.core.experiments import Experiment, MetricPoint, TrackedRun


class ExperimentOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    experiment_id: int
    name: str
    lifecycle: str
    created_at: str = Field(description="ISO 8601, UTC")
    artifact_location: str | None = None
    tags: dict[str, str] = {}
    runs: int | None = Field(None, description="how many runs the experiment holds")

    @classmethod
    def of(cls, experiment: Experiment) -> ExperimentOut:
        return cls.model_validate(experiment.to_json())


class RunOut(BaseModel):
    """A tracked run (started with `start_run`, by an MLflow client, a pipeline run or a tuning
    trial) with its params, tags and the latest value of each metric (None: a NaN logged)."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    experiment_id: int | None
    name: str | None
    user: str | None
    status: str
    started_at: str = Field(description="ISO 8601, UTC")
    finished_at: str | None
    params: dict[str, str]
    tags: dict[str, str]
    metrics: dict[str, float | None]

    @classmethod
    def of(cls, run: TrackedRun) -> RunOut:
        return cls.model_validate(run.to_json())


class MetricPointOut(BaseModel):
    """One logged value of a metric (None: a NaN an MLflow client logged); timestamp in seconds."""

    model_config = ConfigDict(extra="forbid")

    key: str
    value: float | None
    step: int
    timestamp: float
    step_name: str = Field("", description="the pipeline step that logged it, if one did")

    @classmethod
    def of(cls, point: MetricPoint) -> MetricPointOut:
        return cls.model_validate(point.to_json())


class RunHead(BaseModel):
    """A run in a comparison: who and when, without its params, metrics and tags."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    experiment_id: int | None
    name: str | None
    user: str | None
    status: str
    started_at: str
    finished_at: str | None


class CompareRow(BaseModel):
    """One key across the compared runs: `values[i]` is run i's (None: run i has none)."""

    model_config = ConfigDict(extra="forbid")

    key: str
    values: list[str | None]
    same: bool = Field(description="every run has the same value (or none)")


class MetricCompareRow(BaseModel):
    """One metric's latest value in each compared run, and each run's difference to the first."""

    model_config = ConfigDict(extra="forbid")

    key: str
    values: list[float | None]
    same: bool
    deltas: list[float | None] = Field(description="values[i] - values[0] (None when either is missing)")


class CompareOut(BaseModel):
    """2 to 10 runs side by side: every param, latest metric and tag any of them has, by key."""

    model_config = ConfigDict(extra="forbid")

    runs: list[RunHead]
    params: list[CompareRow]
    metrics: list[MetricCompareRow]
    tags: list[CompareRow]

    @classmethod
    def of(cls, comparison: dict[str, Any]) -> CompareOut:
        """From `Project.compare(*run_ids)`."""
        return cls.model_validate(comparison)


class ExperimentCalls(Transport):
    """`loopline.Client`'s calls of /api/v1 for experiments."""

    def experiments(self) -> list[ExperimentOut]:
        return [ExperimentOut.model_validate(e) for e in self._pages("/experiments")]

    def runs(
        self,
        filter: str | Sequence[str] = (),
        *,
        order_by: str | None = None,
        experiment: str | None = None,
        limit: int | None = None,
        page_token: str | None = None,
    ) -> Page[RunOut]:
        """One page of the runs matching every filter (`metrics.acc > 0.5`, `params.C = 1`);
        pass the page's next_page_token for the next."""
        filters = [filter] if isinstance(filter, str) else list(filter)
        params = {
            "filter": filters or None,
            "order_by": order_by,
            "experiment": experiment,
            "limit": limit,
            "page_token": page_token,
        }
        return Page[RunOut].model_validate(self._get("/runs", params))

    def all_runs(
        self, filter: str | Sequence[str] = (), *, order_by: str | None = None, experiment: str | None = None
    ) -> list[RunOut]:
        """Every matching run, page after page."""
        filters = [filter] if isinstance(filter, str) else list(filter)
        params = {"filter": filters or None, "order_by": order_by, "experiment": experiment, "limit": 1000}
        return [RunOut.model_validate(r) for r in self._pages("/runs", params)]

    def tracked_run(self, run_id: str) -> RunOut:
        """One tracked run by id (or a unique prefix), as `Project.tracked_run`."""
        return RunOut.model_validate(self._get(f"/runs/{quote(run_id)}"))

    def metric_history(self, run_id: str, key: str) -> list[MetricPointOut]:
        return [
            MetricPointOut.model_validate(p)
            for p in self._pages(f"/runs/{quote(run_id)}/metrics/{quote(key)}")
        ]

    def compare(self, *run_ids: str) -> CompareOut:
        return CompareOut.model_validate(self._get("/runs/compare", {"run": list(run_ids)}))
