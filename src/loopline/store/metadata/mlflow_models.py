"""The MLflow API's records beside the registry: registered models made empty by MLflow, a model
version's MLflow source, logged-model id and tags, a version's stage status, and the path -> blob
index of proxied artifacts (the bytes live in the content-addressed blob store, once per content).
MLflow 3 "logged models", their metrics and run outputs: mlflow_logged.py (the base class).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from loopline.core.errors import Conflict, InvalidInput, NotFound
from loopline.core.types import Artifact
from loopline.store.metadata.artifact_rows import insert_artifact
from loopline.store.metadata.mlflow_logged import (
    LoggedModelRecords,
)
from loopline.store.metadata.registry import check_model_name
from loopline.store.metadata.registry_rows import add_event, lock_model, version_row
from loopline.store.metadata.tables import (
    metadata,
    model_versions,
    registered_models,
)
from loopline.store.metadata.times import utc_now
from loopline.store.metadata.upserts import dialect_insert

_TS = sa.DateTime(timezone=True)

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


@dataclass(frozen=True)
class VersionExtra:
    source: str
    model_id: str | None
    tags: dict[str, str]


class MlflowModelRecords(LoggedModelRecords):
    """Registered models, version extras, logged models and artifact files (MlflowStore's base)."""

    # -- registered models -----------------------------------------------------------------
    def create_registered_model(self, name: str, description: str, tags: Mapping[str, str]) -> None:
        """An empty registry model (versions come with model-versions/create)."""
        check_model_name(name)

        def work(conn: sa.Connection) -> None:
            held = conn.execute(
                sa.select(registered_models.c.lifecycle).where(registered_models.c.name == name)
            ).first()
            if held is not None and held.lifecycle == "active":
                raise Conflict(f"registered model {name!r} exists already")
            if held is not None:  # a deleted one: MLflow deletes for good, so scripts delete, then create
                from loopline.store.metadata.gc import purge_model

                purge_model(conn, name)
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
                sa.select(registered_models.c.tags_json).where(
                    registered_models.c.name == name, registered_models.c.lifecycle == "active"
                )
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
            version_row(conn, name, version)  # NotFound for a deleted one
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

    def set_version_status(
        self, name: str, version: int, status: str, *, actor: str, reason: str, stage: str | None = None
    ) -> None:
        """A version's loopline status (`archived` is MLflow's stage Archived, `ready` any other),
        with a model event (kind "archive" / "unarchive", alias: the stage alias it left)."""

        def work(conn: sa.Connection) -> str:
            lock_model(conn, name)
            before = str(version_row(conn, name, version).status)
            conn.execute(
                model_versions.update()
                .where(model_versions.c.name == name, model_versions.c.version == version)
                .values(status=status)
            )
            kind = "archive" if status == "archived" else "unarchive"
            add_event(conn, name, kind, actor, reason, from_version=version, alias=stage)
            return before

        self._db.write(
            work,
            lambda before: self._db.change(
                "model.set_status",
                f"{name}@{version}",
                actor=actor,
                before={"status": before},
                after={"status": status},
            ),
        )

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
