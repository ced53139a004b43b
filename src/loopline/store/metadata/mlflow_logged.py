"""MLflow 3 "logged models" and what hangs off them: the metrics logged with a model_id and
the runs they are outputs of (mlflow_models.py's MlflowModelRecords, and so MlflowStore, is one).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from loopline.core.errors import NotFound
from loopline.store.metadata.database import Database, HasDatabase, as_database
from loopline.store.metadata.tables import experiments, metadata, runs
from loopline.store.metadata.times import as_aware, utc_now
from loopline.store.metadata.upserts import dialect_insert

_TS = sa.DateTime(timezone=True)

mlflow_logged_models = sa.Table(
    "mlflow_logged_models",
    metadata,
    sa.Column("model_id", sa.String(40), primary_key=True),
    sa.Column("experiment_id", sa.Integer, nullable=False),
    sa.Column("name", sa.String(250), nullable=False),
    sa.Column("source_run_id", sa.String(40)),
    sa.Column("model_type", sa.String(100)),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("status_message", sa.Text),
    sa.Column("tags_json", sa.Text, nullable=False),
    sa.Column("params_json", sa.Text, nullable=False),
    sa.Column("created_at", _TS, nullable=False),
    sa.Column("updated_at", _TS, nullable=False),
    sa.Column("lifecycle", sa.String(16), nullable=False, server_default="active"),  # or "deleted" (0012)
    sa.Column("deleted_at", _TS),
    sa.Index("ix_mlflow_logged_models_experiment", "experiment_id", "created_at"),
)

# Metrics logged with `model_id=` (MLflow 3): the logged model's own metrics (0012).
mlflow_model_metrics = sa.Table(
    "mlflow_model_metrics",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model_id", sa.String(40), nullable=False),
    sa.Column("run_id", sa.String(40)),
    sa.Column("key", sa.String(250), nullable=False),
    sa.Column("value", sa.Float),  # NULL: NaN
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("timestamp", sa.Float, nullable=False),
    sa.Column("dataset_name", sa.String(500)),
    sa.Column("dataset_digest", sa.String(64)),
    sa.Index("ix_mlflow_model_metrics_model", "model_id", "key"),
)

# A run's output models (runs/outputs, MLflow 3), handed back as run.outputs (0012).
mlflow_run_outputs = sa.Table(
    "mlflow_run_outputs",
    metadata,
    sa.Column("run_id", sa.String(40), primary_key=True),
    sa.Column("model_id", sa.String(40), primary_key=True),
    sa.Column("step", sa.BigInteger, nullable=False),
)


@dataclass(frozen=True)
class LoggedModel:
    model_id: str
    experiment_id: int
    name: str
    source_run_id: str | None
    model_type: str | None
    status: str
    status_message: str | None
    tags: dict[str, str]
    params: dict[str, str]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ModelMetric:
    """A metric point logged with `model_id=` (MLflow 3), in the run run_id."""

    model_id: str
    run_id: str | None
    key: str
    value: float | None  # None: NaN
    step: int
    timestamp: float  # seconds
    dataset_name: str | None = None
    dataset_digest: str | None = None


class LoggedModelRecords:
    """Logged models, their metrics and the runs they are outputs of."""

    def __init__(self, db: Database | HasDatabase) -> None:
        self._db = as_database(db)

    @staticmethod
    def _to_model(row: Any) -> LoggedModel:
        return LoggedModel(
            model_id=row.model_id,
            experiment_id=row.experiment_id,
            name=row.name,
            source_run_id=row.source_run_id,
            model_type=row.model_type,
            status=row.status,
            status_message=row.status_message,
            tags=json.loads(row.tags_json),
            params=json.loads(row.params_json),
            created_at=as_aware(row.created_at),
            updated_at=as_aware(row.updated_at),
        )

    def create_logged_model(self, model: LoggedModel) -> None:
        def work(conn: sa.Connection) -> None:
            if (
                conn.execute(
                    sa.select(experiments.c.id).where(experiments.c.id == model.experiment_id)
                ).first()
                is None
            ):
                raise NotFound(f"no experiment with id {model.experiment_id}")
            if model.source_run_id is not None and (
                conn.execute(sa.select(runs.c.id).where(runs.c.id == model.source_run_id)).first() is None
            ):
                raise NotFound(f"no run {model.source_run_id!r}")
            conn.execute(
                mlflow_logged_models.insert().values(
                    model_id=model.model_id,
                    experiment_id=model.experiment_id,
                    name=model.name,
                    source_run_id=model.source_run_id,
                    model_type=model.model_type,
                    status=model.status,
                    status_message=model.status_message,
                    tags_json=json.dumps(model.tags, sort_keys=True),
                    params_json=json.dumps(model.params, sort_keys=True),
                    created_at=model.created_at,
                    updated_at=model.updated_at,
                )
            )

        self._db.write(work, self._db.change("logged_model.create", model.model_id))

    def logged_model(self, model_id: str) -> LoggedModel:
        """An active logged model (a deleted one is gone to every read until restored or gc'd)."""
        m = mlflow_logged_models.c
        with self._db.read() as conn:
            row = conn.execute(
                sa.select(mlflow_logged_models).where(m.model_id == model_id, m.lifecycle == "active")
            ).first()
        if row is None:
            raise NotFound(f"no logged model {model_id!r}")
        return self._to_model(row)

    def update_logged_model(
        self,
        model_id: str,
        *,
        status: str | None = None,
        tags: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> LoggedModel:
        def work(conn: sa.Connection) -> None:
            row = conn.execute(
                sa.select(mlflow_logged_models).where(mlflow_logged_models.c.model_id == model_id)
            ).first()
            if row is None:
                raise NotFound(f"no logged model {model_id!r}")
            values: dict[str, Any] = {"updated_at": utc_now()}
            if status is not None:
                values["status"] = status
            if tags:
                values["tags_json"] = json.dumps(json.loads(row.tags_json) | dict(tags), sort_keys=True)
            if params:
                values["params_json"] = json.dumps(json.loads(row.params_json) | dict(params), sort_keys=True)
            conn.execute(
                mlflow_logged_models.update()
                .where(mlflow_logged_models.c.model_id == model_id)
                .values(**values)
            )

        self._db.write(work, self._db.change("logged_model.update", model_id))
        return self.logged_model(model_id)

    def run_logged_model(self, run_id: str, name: str) -> LoggedModel | None:
        """The logged model of run_id named name (MLflow 3 resolves runs:/RUN/NAME to it when
        the run's own folder holds no model): of several, the one output at the latest step,
        then the newest."""
        query = (
            sa.select(mlflow_logged_models, mlflow_run_outputs.c.step)
            .outerjoin(
                mlflow_run_outputs,
                sa.and_(
                    mlflow_run_outputs.c.model_id == mlflow_logged_models.c.model_id,
                    mlflow_run_outputs.c.run_id == run_id,
                ),
            )
            .where(mlflow_logged_models.c.source_run_id == run_id, mlflow_logged_models.c.name == name)
        )
        with self._db.read() as conn:
            found = conn.execute(query).all()
        if not found:
            return None
        best = max(found, key=lambda r: (r.step if r.step is not None else -1, as_aware(r.created_at)))
        return self._to_model(best)

    def model_metrics(self, model_ids: Sequence[str]) -> dict[str, list[ModelMetric]]:
        """The metrics logged with each model id (one query for a page of models)."""
        if not model_ids:
            return {}
        c = mlflow_model_metrics.c
        query = (
            sa.select(mlflow_model_metrics)
            .where(c.model_id.in_(sorted(set(model_ids))))
            .order_by(c.model_id, c.key, c.step, c.timestamp, c.id)
        )
        out: dict[str, list[ModelMetric]] = {}
        with self._db.read() as conn:
            for r in conn.execute(query):
                out.setdefault(r.model_id, []).append(
                    ModelMetric(
                        r.model_id,
                        r.run_id,
                        r.key,
                        r.value,
                        r.step,
                        r.timestamp,
                        r.dataset_name,
                        r.dataset_digest,
                    )
                )
        return out

    def log_outputs(self, run_id: str, outputs: Sequence[tuple[str, int]]) -> None:
        """Record logged models as outputs of run_id, at a step (again: the step is updated)."""
        ids = sorted({model_id for model_id, _ in outputs})

        def work(conn: sa.Connection) -> None:
            if conn.execute(sa.select(runs.c.id).where(runs.c.id == run_id)).first() is None:
                raise NotFound(f"no run {run_id!r}", hint="create it with runs/create first")
            known = set(
                conn.execute(
                    sa.select(mlflow_logged_models.c.model_id).where(mlflow_logged_models.c.model_id.in_(ids))
                ).scalars()
            )
            missing = [i for i in ids if i not in known]
            if missing:
                raise NotFound(f"no logged model {missing[0]!r}", hint="create it with logged-models first")
            stmt = dialect_insert(conn.dialect.name, mlflow_run_outputs)
            for model_id, step in dict(outputs).items():
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=[mlflow_run_outputs.c.run_id, mlflow_run_outputs.c.model_id],
                        set_={"step": stmt.excluded.step},
                    ),
                    {"run_id": run_id, "model_id": model_id, "step": step},
                )

        self._db.write(work, self._db.change("run.log_outputs", run_id, after={"models": ids}))

    def run_outputs(self, run_ids: Sequence[str]) -> dict[str, list[tuple[str, int]]]:
        """(model id, step) of each run's output models, by run (one query for a page of runs)."""
        if not run_ids:
            return {}
        c = mlflow_run_outputs.c
        query = sa.select(mlflow_run_outputs).where(c.run_id.in_(sorted(set(run_ids))))
        out: dict[str, list[tuple[str, int]]] = {}
        with self._db.read() as conn:
            for r in conn.execute(query.order_by(c.run_id, c.step, c.model_id)):
                out.setdefault(r.run_id, []).append((r.model_id, r.step))
        return out
