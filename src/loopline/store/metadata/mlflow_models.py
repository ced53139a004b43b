"""The MLflow API's records beside the registry: registered models made empty by MLflow, a model
version's MLflow source, logged-model id and tags, MLflow 3 "logged models", and the path -> blob
index of proxied artifacts (the bytes live in the content-addressed blob store, once per content).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from loopline.core.errors import Conflict, InvalidInput, NotFound
from loopline.core.types import Artifact
from loopline.store.metadata.artifact_rows import insert_artifact
from loopline.store.metadata.database import Database, HasDatabase, as_database
from loopline.store.metadata.registry import check_model_name
from loopline.store.metadata.tables import (
    experiments,
    metadata,
    model_versions,
    registered_models,
    runs,
)
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
    sa.Index("ix_mlflow_logged_models_experiment", "experiment_id", "created_at"),
)

# One row per uploaded file: its path under the artifact root and the blob holding its bytes.
mlflow_artifacts = sa.Table(
    "mlflow_artifacts",
    metadata,
    sa.Column("path", sa.String(1000), primary_key=True),
    sa.Column("blob", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("updated_at", _TS, nullable=False),
)

mlflow_model_versions = sa.Table(
    "mlflow_model_versions",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("model_id", sa.String(40)),
    sa.Column("tags_json", sa.Text, nullable=False),
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
class VersionExtra:
    source: str
    model_id: str | None
    tags: dict[str, str]


class MlflowModelRecords:
    """Registered models, version extras, logged models and artifact files (MlflowStore's base)."""

    def __init__(self, db: Database | HasDatabase) -> None:
        self._db = as_database(db)

    # -- registered models -----------------------------------------------------------------
    def create_registered_model(self, name: str, description: str, tags: Mapping[str, str]) -> None:
        """An empty registry model (versions come with model-versions/create)."""
        check_model_name(name)

        def work(conn: sa.Connection) -> None:
            if conn.execute(
                sa.select(registered_models.c.name).where(registered_models.c.name == name)
            ).first():
                raise Conflict(f"registered model {name!r} exists already")
            now = utc_now()
            conn.execute(
                registered_models.insert().values(
                    name=name,
                    description=description,
                    tags_json=json.dumps(dict(tags), sort_keys=True) if tags else None,
                    created_at=now,
                    updated_at=now,
                )
            )

        self._db.write(work, self._db.change("model.create", name))

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        def work(conn: sa.Connection) -> None:
            row = conn.execute(
                sa.select(registered_models.c.tags_json).where(registered_models.c.name == name)
            ).first()
            if row is None:
                raise NotFound(f"no registered model {name!r}")
            tags = json.loads(row.tags_json) if row.tags_json else {}
            tags[key] = value
            conn.execute(
                registered_models.update()
                .where(registered_models.c.name == name)
                .values(tags_json=json.dumps(tags, sort_keys=True), updated_at=utc_now())
            )

        self._db.write(work, self._db.change("model.set_tag", f"{name}:{key}"))

    def save_version_extra(self, name: str, version: int, extra: VersionExtra) -> None:
        def work(conn: sa.Connection) -> None:
            conn.execute(
                mlflow_model_versions.insert().values(
                    name=name,
                    version=version,
                    source=extra.source,
                    model_id=extra.model_id,
                    tags_json=json.dumps(extra.tags, sort_keys=True),
                )
            )

        self._db.write(work, self._db.change("model.save_version_extra", f"{name}@{version}"))

    def set_version_tag(self, name: str, version: int, key: str, value: str) -> None:
        def work(conn: sa.Connection) -> None:
            row = conn.execute(
                sa.select(mlflow_model_versions.c.tags_json).where(
                    mlflow_model_versions.c.name == name, mlflow_model_versions.c.version == version
                )
            ).first()
            if row is None:
                raise NotFound(f"model {name} has no version {version} registered through MLflow")
            tags = json.loads(row.tags_json)
            tags[key] = value
            conn.execute(
                mlflow_model_versions.update()
                .where(mlflow_model_versions.c.name == name, mlflow_model_versions.c.version == version)
                .values(tags_json=json.dumps(tags, sort_keys=True))
            )

        self._db.write(work, self._db.change("model.set_version_tag", f"{name}@{version}:{key}"))

    def version_extras(self, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], VersionExtra]:
        names = sorted({n for n, _ in keys})
        if not names:
            return {}
        with self._db.read() as conn:
            rows = conn.execute(
                sa.select(mlflow_model_versions).where(mlflow_model_versions.c.name.in_(names))
            ).all()
        wanted = set(keys)
        return {
            (r.name, r.version): VersionExtra(r.source, r.model_id, json.loads(r.tags_json))
            for r in rows
            if (r.name, r.version) in wanted
        }

    def backs_version(self, run_id: str | None, model_id: str | None = None) -> bool:
        """Whether a registered model version comes from this run or this logged model."""
        queries = []
        if run_id is not None:
            queries.append(sa.select(model_versions.c.name).where(model_versions.c.run_id == run_id))
        if model_id is not None:
            column = mlflow_model_versions.c.model_id
            queries.append(sa.select(mlflow_model_versions.c.name).where(column == model_id))
        with self._db.read() as conn:
            return any(conn.execute(query.limit(1)).first() is not None for query in queries)

    def record_artifact(self, art: Artifact) -> None:
        """The artifacts row of a model made from an MLflow model folder (once per id)."""
        self._db.write(lambda conn: insert_artifact(conn, art), self._db.change("artifact.add", art.id))

    # -- logged models (MLflow 3) ----------------------------------------------------------
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
        with self._db.read() as conn:
            row = conn.execute(
                sa.select(mlflow_logged_models).where(mlflow_logged_models.c.model_id == model_id)
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

    # -- artifacts: path -> blob -----------------------------------------------------------
    def put_file(self, path: str, blob: str, size: int) -> None:
        def work(conn: sa.Connection) -> None:
            stmt = dialect_insert(conn.dialect.name, mlflow_artifacts)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[mlflow_artifacts.c.path],
                    set_={"blob": stmt.excluded.blob, "size": stmt.excluded.size, "updated_at": utc_now()},
                ),
                {"path": path, "blob": blob, "size": size, "updated_at": utc_now()},
            )

        self._db.write(work, self._db.change("artifact_file.put", path))

    def file(self, path: str) -> tuple[str, int]:
        """(blob, size) of the file at path."""
        with self._db.read() as conn:
            row = conn.execute(sa.select(mlflow_artifacts).where(mlflow_artifacts.c.path == path)).first()
        if row is None:
            raise NotFound(f"no artifact at {path!r}")
        return row.blob, row.size

    def files_under(self, folder: str) -> list[tuple[str, str, int]]:
        """(path relative to folder, blob, size) of every file below folder, sorted."""
        prefix = folder.rstrip("/") + "/" if folder else ""
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = sa.select(mlflow_artifacts).order_by(mlflow_artifacts.c.path)
        if prefix:
            query = query.where(mlflow_artifacts.c.path.like(escaped + "%", escape="\\"))
        with self._db.read() as conn:
            return [(r.path[len(prefix) :], r.blob, r.size) for r in conn.execute(query)]


def check_path(path: str) -> str:
    """An artifact path as stored: relative, `/`-separated, no `.`/`..` or empty parts."""
    parts = path.strip("/").split("/") if path.strip("/") else []
    if (
        "\\" in path
        or "\0" in path
        or path.startswith("/")
        or any(p in ("", ".", "..") for p in parts)
        or len(path) > 1000
    ):
        raise InvalidInput(
            f"artifact path {path!r} is not a safe relative path",
            hint="use a relative path without '..', '.', empty parts or backslashes",
        )
    return "/".join(parts)
