"""`loopline gc`: remove for good what was deleted (as `mlflow gc` does), each removal one
transaction with its audit event; the audit events of the removed things stay (the audit log is
an append-only hash chain, never rewritten).

What goes, deleted at least `older_than` ago:
- registered models (their versions, aliases, MLflow version records and registry events: a
  new model may take the name, and must not inherit old approvals), then lone deleted versions
  (their registry events stay: version numbers are never given again, registry.py);
- deleted experiments with all their runs and logged models;
- deleted runs: params, tags, metric history and latest values, the index rows of their
  uploaded files, their run outputs and the metrics logged against models in them;
- deleted logged models: their metrics, outputs and file index rows.

What stays, reported as kept: a run whose steps recorded lineage (a pipeline run: lineage is
what loopline is for; its step runs and artifacts are the project's history), a run or logged
model a registered version (deleted or not) comes from, and an experiment holding a kept run.

Blobs are not deleted here: a file's bytes live once per content in the blob store and may be
held by other rows. Nothing removes a blob no row refers to yet (`loopline fsck` checks the
referenced ones): a blob store sweep is future work, and gc leaves every blob where it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

import sqlalchemy as sa

from loopline.store.metadata.database import Database, HasDatabase, as_database
from loopline.store.metadata.mlflow_logged import (
    mlflow_logged_models,
    mlflow_model_metrics,
    mlflow_run_outputs,
)
from loopline.store.metadata.mlflow_models import mlflow_artifacts, mlflow_model_versions
from loopline.store.metadata.tables import (
    experiments,
    metrics,
    metrics_latest,
    model_aliases,
    model_events,
    model_versions,
    registered_models,
    run_params,
    run_tags,
    runs,
    step_runs,
)


@dataclass
class GcReport:
    """What a gc removed (or, dry, would remove) and what it kept, with why."""

    dry_run: bool
    models: list[str] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)
    experiments: list[int] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    logged_models: list[str] = field(default_factory=list)
    kept: list[dict[str, str]] = field(default_factory=list)

    def keep(self, kind: str, name: object, why: str) -> None:
        self.kept.append({"kind": kind, "name": str(name), "why": why})

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "removed": {
                "models": self.models,
                "versions": self.versions,
                "experiments": self.experiments,
                "runs": self.runs,
                "logged_models": self.logged_models,
            },
            "kept": self.kept,
        }


def _under(folder: str) -> Any:
    escaped = folder.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return mlflow_artifacts.c.path.like(escaped + "/%", escape="\\")


# -- removals on a connection (used by gc, and by a create or rename over a deleted model) ----------
def purge_model(conn: sa.Connection, name: str) -> None:
    """Remove a registered model, every version, alias, MLflow record and registry event of it."""
    for table in (model_aliases, mlflow_model_versions, model_versions, model_events):
        conn.execute(table.delete().where(table.c.name == name))
    conn.execute(registered_models.delete().where(registered_models.c.name == name))


def purge_version(conn: sa.Connection, name: str, version: int) -> None:
    for table in (model_aliases, mlflow_model_versions, model_versions):
        conn.execute(table.delete().where(table.c.name == name, table.c.version == version))


def purge_run(conn: sa.Connection, run_id: str, experiment_id: int | None) -> None:
    for table in (run_params, run_tags, metrics, metrics_latest, mlflow_run_outputs, mlflow_model_metrics):
        conn.execute(table.delete().where(table.c.run_id == run_id))
    if experiment_id is not None:
        conn.execute(mlflow_artifacts.delete().where(_under(f"{experiment_id}/{run_id}")))
    conn.execute(runs.delete().where(runs.c.id == run_id))


def purge_logged_model(conn: sa.Connection, model_id: str, experiment_id: int) -> None:
    for table in (mlflow_model_metrics, mlflow_run_outputs):
        conn.execute(table.delete().where(table.c.model_id == model_id))
    conn.execute(mlflow_artifacts.delete().where(_under(f"{experiment_id}/models/{model_id}")))
    conn.execute(mlflow_logged_models.delete().where(mlflow_logged_models.c.model_id == model_id))


# -- the collector ----------------------------------------------------------------------------------
class GarbageCollector:
    def __init__(self, db: Database | HasDatabase) -> None:
        self._db = as_database(db)

    def collect(self, before: datetime, *, dry_run: bool = False) -> GcReport:
        """Remove what was deleted at or before `before`; dry: only say what would go."""
        report = GcReport(dry_run=dry_run)
        with self._db.read() as conn:
            plan = _plan(conn, before, report)
        for action, obj, work in plan:
            if not dry_run:
                self._db.write(work, self._db.change(action, obj))
        return report


Work = Callable[[sa.Connection], None]


def _swap(purge: Callable[..., None]) -> Callable[..., None]:
    """purge(conn, *names) as f(*names, conn): a removal to bind with partial, run on a connection."""
    return lambda *args: purge(args[-1], *args[:-1])


def _is_deleted(table: sa.Table, before: datetime) -> Any:
    return sa.and_(
        table.c.lifecycle == "deleted", sa.or_(table.c.deleted_at.is_(None), table.c.deleted_at <= before)
    )


def _plan(conn: sa.Connection, before: datetime, report: GcReport) -> list[tuple[str, str, Work]]:
    """The removals, in order (models and versions first, so the runs they came from can go)."""
    plan: list[tuple[str, str, Work]] = []
    m, v = registered_models.c, model_versions.c
    for name in conn.execute(sa.select(m.name).where(_is_deleted(registered_models, before))).scalars():
        report.models.append(name)
        plan.append(("gc.model", name, partial(_swap(purge_model), name)))
    gone_models = set(report.models)
    lone = sa.select(v.name, v.version).where(_is_deleted(model_versions, before)).order_by(v.name, v.version)
    for name, number in conn.execute(lone):
        if name not in gone_models:
            report.versions.append(f"{name}@{number}")
            plan.append(("gc.version", f"{name}@{number}", partial(_swap(purge_version), name, number)))
    gone_versions = {tuple(k.rsplit("@", 1)) for k in report.versions}

    def backing(column: Any, value: str) -> str | None:
        """A version that stays and comes from this run or logged model."""
        table = model_versions if column.table is model_versions else mlflow_model_versions
        for name, number in conn.execute(sa.select(table.c.name, table.c.version).where(column == value)):
            if name not in gone_models and (name, str(number)) not in gone_versions:
                return f"{name}@{number}"
        return None

    def run_kept(run_id: str) -> str | None:
        if conn.execute(sa.select(step_runs.c.id).where(step_runs.c.run_id == run_id).limit(1)).first():
            return "its steps recorded lineage (a pipeline run)"
        held = backing(v.run_id, run_id)
        return f"registered version {held} comes from it" if held else None

    def model_kept(model_id: str) -> str | None:
        held = backing(mlflow_model_versions.c.model_id, model_id)
        return f"registered version {held} comes from it" if held else None

    e, r, lm = experiments.c, runs.c, mlflow_logged_models.c
    gone_experiments: set[int] = set()
    for exp_id in conn.execute(
        sa.select(e.id).where(_is_deleted(experiments, before)).order_by(e.id)
    ).scalars():
        run_ids = list(conn.execute(sa.select(r.id).where(r.experiment_id == exp_id)).scalars())
        model_ids = list(conn.execute(sa.select(lm.model_id).where(lm.experiment_id == exp_id)).scalars())
        why = next((f"run {i}: {w}" for i in run_ids if (w := run_kept(i))), None) or next(
            (f"logged model {i}: {w}" for i in model_ids if (w := model_kept(i))), None
        )
        if why:
            report.keep("experiment", exp_id, why)
            continue
        gone_experiments.add(exp_id)
        report.experiments.append(exp_id)

        def drop_experiment(
            c: sa.Connection,
            x: int = exp_id,
            rs: tuple[str, ...] = tuple(run_ids),
            ms: tuple[str, ...] = tuple(model_ids),
        ) -> None:
            for model_id in ms:
                purge_logged_model(c, model_id, x)
            for run_id in rs:
                purge_run(c, run_id, x)
            c.execute(mlflow_artifacts.delete().where(_under(str(x))))
            c.execute(experiments.delete().where(experiments.c.id == x))

        plan.append(("gc.experiment", str(exp_id), drop_experiment))

    deleted_runs = sa.select(r.id, r.experiment_id).where(_is_deleted(runs, before)).order_by(r.id)
    for run_id, exp_id in conn.execute(deleted_runs):
        if exp_id in gone_experiments:
            continue
        why = run_kept(run_id)
        if why:
            report.keep("run", run_id, why)
            continue
        report.runs.append(run_id)
        plan.append(("gc.run", run_id, partial(_swap(purge_run), run_id, exp_id)))

    deleted_models = sa.select(lm.model_id, lm.experiment_id).where(_is_deleted(mlflow_logged_models, before))
    for model_id, exp_id in conn.execute(deleted_models.order_by(lm.model_id)):
        if exp_id in gone_experiments:
            continue
        why = model_kept(model_id)
        if why:
            report.keep("logged_model", model_id, why)
            continue
        report.logged_models.append(model_id)
        plan.append(("gc.logged_model", model_id, partial(_swap(purge_logged_model), model_id, exp_id)))
    return plan
