"""What the MLflow REST API keeps beyond loopline's tracking and registry tables: runs here,
models and artifact files in mlflow_models.py (MlflowStore is both).

MLflow runs are rows of `runs` (params, tags and metrics in tracking's tables), MLflow registered
models and versions are the registry's; the MLflow tables add only what MLflow has and loopline
had not: MLflow 3 "logged models", the path -> blob index of proxied artifacts (the bytes are in
the content-addressed blob store), and a model version's MLflow source URI, logged-model id, tags.

NaN metric values, which MLflow accepts, are stored as NULL (`metrics.value` and
`metrics_latest.value` are nullable since migration 0006): a NaN is "no number", and SQL compares
NULL with nothing, so run search never matches or orders on it by accident.

The metric write path (`log_batch`) is the hot route of an MLflow client's training loop: one
transaction, one existence check, one executemany and one upsert (run_writes.py, the rows tracking
writes too).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence

import sqlalchemy as sa

from loopline.core.errors import NotFound
from loopline.core.experiments import MetricPoint, RunFilter, RunOrder, TrackedRun
from loopline.store.metadata.experiments import TrackingStore
from loopline.store.metadata.mlflow_models import (
    LoggedModel,
    MlflowModelRecords,
    VersionExtra,
    check_path,
    mlflow_artifacts,
    mlflow_logged_models,
    mlflow_model_versions,
)
from loopline.store.metadata.mlflow_search import MlflowSearches
from loopline.store.metadata.run_search import load_runs
from loopline.store.metadata.run_writes import metric_rows, write_batch
from loopline.store.metadata.tables import experiments, metrics, runs

__all__ = [
    "LoggedModel",
    "Metric",
    "MlflowStore",
    "VersionExtra",
    "check_path",
    "mlflow_artifacts",
    "mlflow_logged_models",
    "mlflow_model_versions",
]

Metric = tuple[str, float | None, int, float]  # key, value (None: NaN), step, time in seconds


def _metric_value(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value


class MlflowStore(MlflowSearches, MlflowModelRecords):
    """MLflow's extra records on one MetadataStore's engine and retrying transactions, and
    MLflow's searches (mlflow_search.py)."""

    # -- runs: the hot write path ----------------------------------------------------------
    def log_batch(
        self,
        run_id: str,
        values: Sequence[Metric] = (),
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """Metrics (NaN allowed), params (once; another value is a Conflict) and tags, in one
        transaction; the caller has checked types."""
        rows, latest = metric_rows(run_id, values, nan_as_null=True)

        def work(conn: sa.Connection) -> None:
            if conn.execute(sa.select(runs.c.id).where(runs.c.id == run_id)).first() is None:
                raise NotFound(f"no run {run_id!r}", hint="create it with runs/create first")
            write_batch(conn, run_id, rows, latest, params or {}, tags)

        self._db.write(work, self._db.change("run.log", run_id))

    def log_missing(self, run_id: str, values: Sequence[Metric]) -> None:
        """Log the points the run's history does not hold yet (same key, step, time and value)."""
        keys = sorted({k for k, *_ in values})
        with self._db.read() as conn:
            held = {
                (r.key, r.step, round(r.timestamp * 1000), r.value)
                for r in conn.execute(
                    sa.select(metrics.c.key, metrics.c.step, metrics.c.timestamp, metrics.c.value).where(
                        metrics.c.run_id == run_id, metrics.c.key.in_(keys)
                    )
                )
            }
        new = [v for v in values if (v[0], v[2], round(v[3] * 1000), _metric_value(v[1])) not in held]
        if new:
            self.log_batch(run_id, new)

    # -- runs: reads -----------------------------------------------------------------------
    def runs(self, ids: Sequence[str]) -> list[TrackedRun]:
        """Runs in the order of `ids` (unknown ids left out) with params, tags, latest metrics."""
        with self._db.read() as conn:
            return load_runs(conn, ids)

    def search_runs(
        self,
        experiment_ids: Sequence[int] | None,
        filters: Sequence[RunFilter],
        order_by: Sequence[RunOrder],
        *,
        limit: int,
        offset: int,
        lifecycles: Sequence[str] | None = ("active",),
    ) -> tuple[list[TrackedRun], bool]:
        """One page of matching runs (tracking's search), and whether more follow; `lifecycles`
        are MLflow's run_view_type ("active", "deleted" or both; None: any)."""
        query = TrackingStore.search_query(
            experiment_ids=experiment_ids, filters=filters, order_by=order_by, lifecycles=lifecycles
        )
        with self._db.read() as conn:
            ids = list(conn.execute(query.limit(limit + 1).offset(offset)).scalars())
        return self.runs(ids[:limit]), len(ids) > limit

    def run(self, run_id: str) -> TrackedRun:
        found = self.runs([run_id])
        if not found:
            raise NotFound(f"no run {run_id!r}", hint="`loopline runs` lists them")
        return found[0]

    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        with self._db.read() as conn:
            if conn.execute(sa.select(runs.c.id).where(runs.c.id == run_id)).first() is None:
                raise NotFound(f"no run {run_id!r}", hint="`loopline runs` lists them")
            rows = conn.execute(
                sa.select(metrics)
                .where(metrics.c.run_id == run_id, metrics.c.key == key)
                .order_by(metrics.c.step, metrics.c.timestamp, metrics.c.id)
            )
            return [MetricPoint(r.key, r.value, r.step, r.timestamp, r.step_name) for r in rows]

    # -- experiments -----------------------------------------------------------------------
    def set_experiment_tag(self, experiment_id: int, key: str, value: str) -> None:
        def work(conn: sa.Connection) -> None:
            row = conn.execute(
                sa.select(experiments.c.tags_json).where(experiments.c.id == experiment_id)
            ).first()
            if row is None:
                raise NotFound(f"no experiment with id {experiment_id}")
            tags = json.loads(row.tags_json) if row.tags_json else {}
            tags[key] = value
            conn.execute(
                experiments.update()
                .where(experiments.c.id == experiment_id)
                .values(tags_json=json.dumps(tags, sort_keys=True))
            )

        self._db.write(work, self._db.change("experiment.set_tag", f"{experiment_id}:{key}"))
