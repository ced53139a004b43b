"""Soft delete, restore and rename of experiments, runs and MLflow 3 logged models, and the tag
deletes MLflow has for them (the registry's are registry_lifecycle.py's).

A deleted thing keeps every row (and its audit events): `lifecycle = 'deleted'` and the time in
`deleted_at`, until `loopline gc` removes it for good (gc.py). As MLflow's own store does,
deleting an experiment deletes its active runs with it, and restoring the experiment restores
the runs deleted with it (the same `deleted_at`), not those deleted before on their own.
Each call is one transaction with its audit event.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from loopline.core.errors import Conflict, InvalidInput, NotFound
from loopline.store.metadata.database import Database, HasDatabase, as_database
from loopline.store.metadata.mlflow_logged import mlflow_logged_models
from loopline.store.metadata.tables import experiments, runs
from loopline.store.metadata.times import utc_now

DEFAULT_EXPERIMENT = "Default"  # experiments.py's: MLflow's experiment "0", never deleted


def _experiment(conn: sa.Connection, experiment_id: int) -> Any:
    row = conn.execute(sa.select(experiments).where(experiments.c.id == experiment_id)).first()
    if row is None:
        raise NotFound(f"no experiment with id {experiment_id}", hint="`loopline experiments` lists them")
    return row


def _active_experiment(conn: sa.Connection, experiment_id: int, doing: str) -> Any:
    row = _experiment(conn, experiment_id)
    if row.lifecycle != "active":
        raise InvalidInput(
            f"experiment {experiment_id} ({row.name}) is deleted: cannot {doing}",
            hint="restore it first (MlflowClient.restore_experiment)",
        )
    return row


def _run(conn: sa.Connection, run_id: str) -> Any:
    row = conn.execute(sa.select(runs.c.id, runs.c.lifecycle).where(runs.c.id == run_id)).first()
    if row is None:
        raise NotFound(f"no run {run_id!r}", hint="`loopline runs` lists them")
    return row


class LifecycleStore:
    """Delete, restore and rename on one MetadataStore's engine and retrying transactions."""

    def __init__(self, db: Database | HasDatabase) -> None:
        self._db = as_database(db)

    # -- experiments ---------------------------------------------------------------------------
    def delete_experiment(self, experiment_id: int) -> None:
        """Mark the experiment and its active runs deleted (once: deleting it again changes nothing)."""

        def work(conn: sa.Connection) -> int:
            row = _experiment(conn, experiment_id)
            if row.name == DEFAULT_EXPERIMENT:
                raise InvalidInput(
                    f"the default experiment (id {experiment_id}) cannot be deleted",
                    hint="delete its runs instead",
                )
            if row.lifecycle == "deleted":
                return 0
            now = utc_now()
            conn.execute(
                experiments.update()
                .where(experiments.c.id == experiment_id)
                .values(lifecycle="deleted", deleted_at=now)
            )
            marked = conn.execute(
                runs.update()
                .where(runs.c.experiment_id == experiment_id, runs.c.lifecycle == "active")
                .values(lifecycle="deleted", deleted_at=now)
            )
            return int(marked.rowcount)

        self._db.write(
            work, lambda n: self._db.change("experiment.delete", experiment_id, after={"runs_deleted": n})
        )

    def restore_experiment(self, experiment_id: int) -> None:
        """Make a deleted experiment active again, with the runs deleted with it."""

        def work(conn: sa.Connection) -> int:
            row = _experiment(conn, experiment_id)
            if row.lifecycle == "active":
                return 0
            clash = conn.execute(
                sa.select(experiments.c.id).where(
                    experiments.c.name == row.name, experiments.c.id != experiment_id
                )
            ).first()
            if clash is not None:  # names are unique: cannot happen, but say so rather than fail
                raise Conflict(f"another experiment is named {row.name!r}")
            conn.execute(
                experiments.update()
                .where(experiments.c.id == experiment_id)
                .values(lifecycle="active", deleted_at=None)
            )
            restored = conn.execute(
                runs.update()
                .where(
                    runs.c.experiment_id == experiment_id,
                    runs.c.lifecycle == "deleted",
                    runs.c.deleted_at == row.deleted_at,
                )
                .values(lifecycle="active", deleted_at=None)
            )
            return int(restored.rowcount)

        self._db.write(
            work, lambda n: self._db.change("experiment.restore", experiment_id, after={"runs_restored": n})
        )

    def rename_experiment(self, experiment_id: int, new_name: str) -> None:
        if not isinstance(new_name, str) or not new_name.strip() or len(new_name) > 250:
            raise InvalidInput(f"experiment name {new_name!r} must be 1 to 250 characters")

        def work(conn: sa.Connection) -> str:
            row = _active_experiment(conn, experiment_id, "rename it")
            if row.name == DEFAULT_EXPERIMENT:
                raise InvalidInput("the default experiment cannot be renamed")
            taken = conn.execute(
                sa.select(experiments.c.id, experiments.c.lifecycle).where(experiments.c.name == new_name)
            ).first()
            if taken is not None and taken.id != experiment_id:
                state = (
                    " (deleted: `loopline gc` removes it for good)" if taken.lifecycle == "deleted" else ""
                )
                raise Conflict(f"experiment {new_name!r} exists already{state}", hint="choose another name")
            conn.execute(experiments.update().where(experiments.c.id == experiment_id).values(name=new_name))
            return str(row.name)

        self._db.write(
            work,
            lambda old: self._db.change(
                "experiment.rename", experiment_id, before={"name": old}, after={"name": new_name}
            ),
        )

    def delete_experiment_tag(self, experiment_id: int, key: str) -> None:
        def work(conn: sa.Connection) -> None:
            row = _active_experiment(conn, experiment_id, "delete its tags")
            tags = json.loads(row.tags_json) if row.tags_json else {}
            if key not in tags:
                raise NotFound(f"experiment {experiment_id} has no tag {key!r}")
            del tags[key]
            conn.execute(
                experiments.update()
                .where(experiments.c.id == experiment_id)
                .values(tags_json=json.dumps(tags, sort_keys=True) if tags else None)
            )

        self._db.write(work, self._db.change("experiment.delete_tag", f"{experiment_id}:{key}"))

    # -- runs ------------------------------------------------------------------------------------
    def delete_run(self, run_id: str) -> None:
        """Mark a run deleted (a pipeline run too: gc keeps one whose steps made lineage)."""

        def work(conn: sa.Connection) -> None:
            if _run(conn, run_id).lifecycle == "active":
                conn.execute(
                    runs.update().where(runs.c.id == run_id).values(lifecycle="deleted", deleted_at=utc_now())
                )

        self._db.write(work, self._db.change("run.delete", run_id))

    def restore_run(self, run_id: str) -> None:
        def work(conn: sa.Connection) -> None:
            if _run(conn, run_id).lifecycle == "deleted":
                conn.execute(
                    runs.update().where(runs.c.id == run_id).values(lifecycle="active", deleted_at=None)
                )

        self._db.write(work, self._db.change("run.restore", run_id))

    # -- logged models (MLflow 3) ----------------------------------------------------------------
    def _logged_model(self, conn: sa.Connection, model_id: str) -> Any:
        m = mlflow_logged_models.c
        row = conn.execute(
            sa.select(mlflow_logged_models).where(m.model_id == model_id, m.lifecycle == "active")
        ).first()
        if row is None:
            raise NotFound(f"no logged model {model_id!r}")
        return row

    def delete_logged_model(self, model_id: str) -> None:
        def work(conn: sa.Connection) -> None:
            self._logged_model(conn, model_id)
            conn.execute(
                mlflow_logged_models.update()
                .where(mlflow_logged_models.c.model_id == model_id)
                .values(lifecycle="deleted", deleted_at=utc_now())
            )

        self._db.write(work, self._db.change("logged_model.delete", model_id))

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        def work(conn: sa.Connection) -> None:
            tags = json.loads(self._logged_model(conn, model_id).tags_json)
            if key not in tags:
                raise NotFound(f"logged model {model_id!r} has no tag {key!r}")
            del tags[key]
            conn.execute(
                mlflow_logged_models.update()
                .where(mlflow_logged_models.c.model_id == model_id)
                .values(tags_json=json.dumps(tags, sort_keys=True), updated_at=utc_now())
            )

        self._db.write(work, self._db.change("logged_model.delete_tag", f"{model_id}:{key}"))
