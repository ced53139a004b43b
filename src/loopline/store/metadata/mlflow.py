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
from dataclasses import asdict
from typing import Any

import sqlalchemy as sa

from loopline.core.errors import InvalidInput, NotFound
from loopline.core.experiments import MetricPoint, RunFilter, RunOrder, TrackedRun
from loopline.store.metadata.experiments import TrackingStore
from loopline.store.metadata.mlflow_logged import (
    LoggedModel,
    ModelMetric,
    mlflow_logged_models,
    mlflow_model_metrics,
)
from loopline.store.metadata.mlflow_models import (
    MlflowModelRecords,
    VersionExtra,
    check_path,
    mlflow_artifacts,
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
    "ModelMetric",
    "VersionExtra",
    "check_path",
    "mlflow_artifacts",
    "mlflow_logged_models",
    "mlflow_model_versions",
]

Metric = tuple[str, float | None, int, float]  # key, value (None: NaN), step, time in seconds


def _metric_value(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value


def _point(key: str, step: int, seconds: float, value: float | None) -> tuple[str, int, int, float | None]:
    return key, step, round(seconds * 1000), _metric_value(value)


def _write_linked(conn: sa.Connection, run_id: str, linked: Sequence[ModelMetric]) -> None:
    """The model-linked points: into the run's history where it lacks them (same key, step,
    millisecond and value), and into the logged models' metrics where they lack them."""
    ids = sorted({m.model_id for m in linked})
    known = set(
        conn.execute(
            sa.select(mlflow_logged_models.c.model_id).where(mlflow_logged_models.c.model_id.in_(ids))
        ).scalars()
    )
    missing = [i for i in ids if i not in known]
    if missing:
        raise NotFound(f"no logged model {missing[0]!r}", hint="log the model (logged-models) first")
    keys = sorted({m.key for m in linked})
    held = {
        _point(r.key, r.step, r.timestamp, r.value)
        for r in conn.execute(
            sa.select(metrics.c.key, metrics.c.step, metrics.c.timestamp, metrics.c.value).where(
                metrics.c.run_id == run_id, metrics.c.key.in_(keys)
            )
        )
    }
    new: dict[tuple[str, int, int, float | None], Metric] = {}
    for m in linked:
        point = _point(m.key, m.step, m.timestamp, m.value)
        if point not in held:
            new.setdefault(point, (m.key, m.value, m.step, m.timestamp))
    if new:
        rows, latest = metric_rows(run_id, list(new.values()), nan_as_null=True)
        write_batch(conn, run_id, rows, latest, {}, None)
    c = mlflow_model_metrics.c
    kept = {
        (r.model_id, r.dataset_name, r.dataset_digest, *_point(r.key, r.step, r.timestamp, r.value))
        for r in conn.execute(
            sa.select(
                c.model_id, c.key, c.step, c.timestamp, c.value, c.dataset_name, c.dataset_digest
            ).where(c.model_id.in_(ids), c.key.in_(keys))
        )
    }
    add: dict[tuple[Any, ...], dict[str, Any]] = {}
    for m in linked:
        key = (m.model_id, m.dataset_name, m.dataset_digest, *_point(m.key, m.step, m.timestamp, m.value))
        if key not in kept:
            add.setdefault(key, {**asdict(m), "run_id": run_id, "value": _metric_value(m.value)})
    if add:
        conn.execute(mlflow_model_metrics.insert(), list(add.values()))


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
        linked: Sequence[ModelMetric] = (),
    ) -> None:
        """Metrics (NaN allowed), params (once; another value is a Conflict) and tags, in one
        transaction; the caller has checked types. `linked`: points logged with a model_id,
        the logged model's metrics, and each in the run's history once (MLflow 3 re-sends the
        run's points with a model_id to link them to a model it just logged)."""
        rows, latest = metric_rows(run_id, values, nan_as_null=True)

        def work(conn: sa.Connection) -> None:
            row = conn.execute(sa.select(runs.c.lifecycle).where(runs.c.id == run_id)).first()
            if row is None:
                raise NotFound(f"no run {run_id!r}", hint="create it with runs/create first")
            if row.lifecycle != "active":  # as MLflow's server: a deleted run takes no writes
                raise InvalidInput(
                    f"run {run_id!r} is deleted: it must be active to be logged to",
                    hint="restore it (MlflowClient.restore_run) or log to a new run",
                )
            write_batch(conn, run_id, rows, latest, params or {}, tags)
            if linked:
                _write_linked(conn, run_id, linked)

        self._db.write(work, self._db.change("run.log", run_id))

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
