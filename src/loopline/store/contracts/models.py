"""Contracts of the stores about models: the registry, the prediction log's index, monitoring,
and the records the MLflow-compatible API keeps beyond tracking's and the registry's."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from loopline.core.experiments import Experiment, MetricPoint, RunFilter, RunOrder, TrackedRun
    from loopline.core.search_filter import Clause
    from loopline.core.types import Artifact
    from loopline.store.metadata.mlflow import Metric
    from loopline.store.metadata.mlflow_logged import LoggedModel, ModelMetric
    from loopline.store.metadata.mlflow_models import VersionExtra
    from loopline.store.metadata.mlflow_search import Order
    from loopline.store.metadata.monitor import ReportRow
    from loopline.store.metadata.predictions import BatchRow
    from loopline.store.metadata.registry import ModelEvent, ModelVersion
    from loopline.store.metadata.summaries import RegisteredModel


# -- model registry ----------------------------------------------------------------------------
class RegistryRepository(Protocol):
    """Registered models with consecutive version numbers, aliases, and an event for every change."""

    def register(
        self,
        name: str,
        artifact_id: str,
        *,
        actor: str,
        run_id: str | None = None,
        metrics: Mapping[str, float] | None = None,
        signature: Mapping[str, Any] | None = None,
        description: str = "",
        gates_passed: bool | None = None,
        gate_report: Mapping[str, Any] | None = None,
        card: Mapping[str, Any] | None = None,
        reason: str = "",
    ) -> ModelVersion:
        """Version N+1 of name (created on first use); NotFound for an unknown artifact or run,
        InvalidInput for an artifact that is not a model. Concurrent registrations get
        consecutive numbers."""

    def set_gates(
        self, name: str, version: int, passed: bool, report: Mapping[str, Any] | None, *, actor: str
    ) -> ModelVersion: ...
    def set_card(self, name: str, version: int, card: Mapping[str, Any]) -> None: ...
    def approve(
        self, name: str, version: int, alias: str, *, actor: str, reason: str, kind: str = "approve"
    ) -> ModelEvent:
        """An approval of version for alias (kind "approve_removal": of removing the alias)."""

    def move_alias(
        self,
        name: str,
        alias: str,
        version: int | None,
        *,
        kind: str,
        actor: str,
        reason: str,
        check: Callable[[ModelVersion, list[ModelEvent]], None] | None = None,
    ) -> int | None:
        """Point alias at version (None deletes it); the version it pointed at before. `check`
        sees the version the alias will point at (a delete: the one it points at now) and its
        approvals (a delete: its removal approvals); when it raises, nothing is written."""

    def rollback(
        self,
        name: str,
        alias: str,
        *,
        actor: str,
        reason: str,
        check: Callable[[ModelVersion, list[ModelEvent]], None] | None = None,
    ) -> tuple[int, int]:
        """Undo the latest promotion: (from, back to); Conflict when there is none to undo.
        `check` sees the version rolled back to and its approvals, as move_alias's."""

    def get_version(self, name: str, version: int) -> ModelVersion: ...
    def get_alias(self, name: str, alias: str) -> ModelVersion: ...
    def versions(self, name: str) -> list[ModelVersion]: ...
    def list_models(self, name: str | None = None) -> list[RegisteredModel]: ...
    def history(self, name: str) -> list[ModelEvent]:
        """Every event of the model, oldest first."""

    def approvals(self, name: str, version: int, alias: str, kind: str = "approve") -> list[ModelEvent]: ...
    def registrant(self, name: str, version: int) -> str | None:
        """Who registered the version (four eyes: they may not approve it)."""


# -- prediction log index ------------------------------------------------------------------------
class PredictionIndex(Protocol):
    """Where the prediction log's batches are (their rows are blobs) and the posted truths."""

    def add_batches(self, batches: Sequence[BatchRow]) -> int:
        """Rows added; a batch key already indexed is skipped (a retried write adds nothing)."""

    def batches(
        self,
        model: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        version: int | None = None,
    ) -> list[BatchRow]:
        """Batches that may hold rows in [since, until), oldest first."""

    def models(self) -> list[str]: ...
    def put_truths(self, model: str, truths: Mapping[str, str], at: datetime) -> int:
        """A later truth for the same request id replaces the earlier one."""

    def truths(
        self, model: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> list[tuple[str, str, datetime]]: ...


# -- monitoring -----------------------------------------------------------------------------------
class MonitoringRepository(Protocol):
    def put_profile(self, model: str, version: int, art: Artifact, source_id: str | None) -> None:
        """The reference profile of a model version; a second one replaces the first."""

    def profile(self, model: str, version: int) -> Artifact: ...
    def add_report(self, art: Artifact, report: dict[str, Any]) -> None: ...
    def reports(self, model: str | None = None, limit: int = 100, offset: int = 0) -> list[ReportRow]:
        """Newest first."""

    def latest_per_model(self, offset: int = 0, limit: int = 100) -> list[tuple[ReportRow, int]]:
        """Each model's newest report and its number of reports, models by name."""

    def recent_shares(self, models: Sequence[str], per_model: int = 12) -> dict[str, list[float | None]]:
        """The drift share of each model's last reports, oldest first."""

    def timeline(
        self, model: str, since: datetime | None = None, until: datetime | None = None, limit: int = 200
    ) -> list[ReportRow]:
        """A model's last reports by window end in [since, until), oldest first."""

    def report_artifact(self, report_id: str) -> Artifact:
        """By artifact id prefix of at least 6 characters."""

    def alert_states(self, model: str) -> dict[str, str]: ...
    def set_alert_state(
        self, model: str, rule: str, state: str, value: float | None, *, sent: bool
    ) -> None: ...
    def alerts(self, models: Sequence[str] | None = None) -> list[dict[str, Any]]: ...


# -- the MLflow-compatible API's own records -------------------------------------------------------
class MlflowRepository(Protocol):
    def log_batch(
        self,
        run_id: str,
        values: Sequence[Metric] = (),
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        linked: Sequence[ModelMetric] = (),
    ) -> None: ...
    def runs(self, ids: Sequence[str]) -> list[TrackedRun]: ...
    def search_runs(
        self,
        experiment_ids: Sequence[int] | None,
        filters: Sequence[RunFilter],
        order_by: Sequence[RunOrder],
        *,
        limit: int,
        offset: int,
        lifecycles: Sequence[str] | None = ("active",),
    ) -> tuple[list[TrackedRun], bool]: ...
    def run(self, run_id: str) -> TrackedRun: ...
    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]: ...
    def set_experiment_tag(self, experiment_id: int, key: str, value: str) -> None: ...
    def create_registered_model(self, name: str, description: str, tags: Mapping[str, str]) -> None: ...
    def set_registered_model_tag(self, name: str, key: str, value: str) -> None: ...
    def save_version_extra(self, name: str, version: int, extra: VersionExtra) -> None: ...
    def set_version_tag(self, name: str, version: int, key: str, value: str) -> None: ...
    def version_extras(self, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], VersionExtra]: ...
    def record_artifact(self, art: Artifact) -> None: ...
    def create_logged_model(self, model: LoggedModel) -> None: ...
    def logged_model(self, model_id: str) -> LoggedModel: ...
    def update_logged_model(
        self,
        model_id: str,
        *,
        status: str | None = None,
        tags: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> LoggedModel: ...
    def search_experiments(
        self,
        filters: Sequence[Clause],
        orders: Sequence[Order],
        *,
        lifecycles: Sequence[str],
        limit: int,
        offset: int,
    ) -> tuple[list[Experiment], bool]: ...
    def search_registered_models(
        self, filters: Sequence[Clause], orders: Sequence[Order], *, limit: int, offset: int
    ) -> tuple[list[str], bool]: ...
    def search_model_versions(
        self, filters: Sequence[Clause], orders: Sequence[Order], *, limit: int, offset: int
    ) -> tuple[list[tuple[str, int]], bool]: ...
    def search_logged_models(
        self,
        experiment_ids: Sequence[int],
        filters: Sequence[Clause],
        orders: Sequence[Order],
        *,
        limit: int,
        offset: int,
    ) -> tuple[list[LoggedModel], bool]: ...
    def run_logged_model(self, run_id: str, name: str) -> LoggedModel | None: ...
    def model_metrics(self, model_ids: Sequence[str]) -> dict[str, list[ModelMetric]]: ...
    def log_outputs(self, run_id: str, outputs: Sequence[tuple[str, int]]) -> None: ...
    def run_outputs(self, run_ids: Sequence[str]) -> dict[str, list[tuple[str, int]]]: ...
    def set_version_status(
        self, name: str, version: int, status: str, *, actor: str, reason: str, stage: str | None = None
    ) -> None: ...
    def put_file(self, path: str, blob: str, size: int) -> None:
        """Index an artifact file path -> (blob key, size); the bytes are in the blob store."""

    def file(self, path: str) -> tuple[str, int]: ...
    def files_under(self, folder: str) -> list[tuple[str, str, int]]: ...
