"""MLflow's searches beyond runs, as SQL on both engines: experiments, registered models, model
versions and logged models, each filtered by core/search_filter.py's clauses, ordered and paged
in one query (nothing is loaded and filtered in Python).

Tags and params these records keep as JSON text (`tags_json`, `params_json`) are matched through
json_key_condition (json_each / json_each_text). MLflow's prompt tag `mlflow.prompt.is_prompt`
counts as 'false' on a model or version without it, as MLflow's own server does, so the clause
``tags.`mlflow.prompt.is_prompt` != 'true'`` the client always sends keeps every model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from loopline.core.experiments import Experiment
from loopline.core.search_filter import Clause, Kind
from loopline.store.metadata.database import Database
from loopline.store.metadata.experiments import TrackingStore
from loopline.store.metadata.mlflow_logged import (
    LoggedModel,
    LoggedModelRecords,
    mlflow_logged_models,
    mlflow_model_metrics,
)
from loopline.store.metadata.mlflow_models import mlflow_model_versions
from loopline.store.metadata.run_search import compare, json_key_condition, ms_time
from loopline.store.metadata.tables import experiments, model_versions, registered_models

Order = tuple[Kind, str, bool]  # kind, key (an attribute's stored name), descending
PROMPT_TAG = "mlflow.prompt.is_prompt"


def _page(query: sa.Select[Any], limit: int, offset: int) -> sa.Select[Any]:
    return query.limit(limit + 1).offset(offset)


def _attribute(columns: dict[str, Any], item: Clause) -> Any:
    """`column op value` of one attribute clause; times are MLflow's milliseconds."""
    column = columns[item.key]
    value: Any = item.value
    if isinstance(column.type, sa.DateTime) and isinstance(value, float):
        value = ms_time(value)
    elif isinstance(column.type, sa.Integer):
        value = [int(v) for v in value] if isinstance(value, tuple) else int(value)
    return compare(column, item.op, value)


def _order(columns: dict[str, Any], orders: Sequence[Order]) -> list[Any]:
    out = []
    for _kind, key, descending in orders:
        column = columns[key]
        out.append((column.desc() if descending else column.asc()).nulls_last())
    return out


class MlflowSearches:
    """The searches, on MlflowStore's database (MlflowStore's base, beside MlflowModelRecords)."""

    _db: Database

    # -- experiments ---------------------------------------------------------------------------
    def search_experiments(
        self,
        filters: Sequence[Clause],
        orders: Sequence[Order],
        *,
        lifecycles: Sequence[str],
        limit: int,
        offset: int,
    ) -> tuple[list[Experiment], bool]:
        """A page of experiments (MLflow's default order: newest first, then by id)."""
        columns = {
            "name": experiments.c.name,
            "experiment_id": experiments.c.id,
            "created_at": experiments.c.created_at,
            "updated_at": experiments.c.created_at,  # what experiment_json reports as last_update_time
        }
        conditions: list[Any] = [experiments.c.lifecycle.in_(list(lifecycles))]
        for item in filters:
            if item.kind == "tags":
                conditions.append(json_key_condition(experiments.c.tags_json, item.key, item.op, item.value))
            else:
                conditions.append(_attribute(columns, item))
        order = _order(columns, orders or [("attributes", "created_at", True)])
        query = sa.select(experiments).where(*conditions).order_by(*order, experiments.c.id.asc())
        with self._db.read() as conn:
            rows = conn.execute(_page(query, limit, offset)).all()
        return [TrackingStore._to_experiment(r) for r in rows[:limit]], len(rows) > limit

    # -- registered models ---------------------------------------------------------------------
    def search_registered_models(
        self, filters: Sequence[Clause], orders: Sequence[Order], *, limit: int, offset: int
    ) -> tuple[list[str], bool]:
        """Names of a page of active registered models (by name unless ordered otherwise)."""
        columns = {
            "name": registered_models.c.name,
            "created_at": registered_models.c.created_at,
            "updated_at": registered_models.c.updated_at,
        }
        conditions: list[Any] = [registered_models.c.lifecycle == "active"]
        for item in filters:
            if item.kind == "tags":
                missing = "false" if item.key == PROMPT_TAG else None
                column = registered_models.c.tags_json
                conditions.append(json_key_condition(column, item.key, item.op, item.value, missing=missing))
            else:
                conditions.append(_attribute(columns, item))
        query = (
            sa.select(registered_models.c.name)
            .where(*conditions)
            .order_by(*_order(columns, orders), registered_models.c.name.asc())
        )
        with self._db.read() as conn:
            names = list(conn.execute(_page(query, limit, offset)).scalars())
        return names[:limit], len(names) > limit

    # -- model versions ------------------------------------------------------------------------
    def search_model_versions(
        self, filters: Sequence[Clause], orders: Sequence[Order], *, limit: int, offset: int
    ) -> tuple[list[tuple[str, int]], bool]:
        """(name, version) of a page of active versions (by name, newest version first, unless
        ordered otherwise). A version registered by loopline has source `loopline:ARTIFACT`."""
        extra = mlflow_model_versions
        source = sa.func.coalesce(extra.c.source, sa.literal("loopline:") + model_versions.c.artifact_id)
        columns = {
            "name": model_versions.c.name,
            "version": model_versions.c.version,
            "run_id": model_versions.c.run_id,
            "source": source,
            "created_at": model_versions.c.created_at,
        }
        conditions: list[Any] = [model_versions.c.lifecycle == "active"]
        for item in filters:
            if item.kind == "tags":
                missing = "false" if item.key == PROMPT_TAG else None
                condition = json_key_condition(
                    extra.c.tags_json, item.key, item.op, item.value, missing=missing
                )
                conditions.append(condition)
            elif item.key == "version":
                conditions.append(compare(model_versions.c.version, item.op, int(item.value)))  # type: ignore[arg-type]
            else:
                conditions.append(compare(columns[item.key], item.op, item.value))
        joined = model_versions.outerjoin(
            extra, sa.and_(extra.c.name == model_versions.c.name, extra.c.version == model_versions.c.version)
        )
        query = (
            sa.select(model_versions.c.name, model_versions.c.version)
            .select_from(joined)
            .where(*conditions)
            .order_by(*_order(columns, orders), model_versions.c.name.asc(), model_versions.c.version.desc())
        )
        with self._db.read() as conn:
            keys = [(r.name, r.version) for r in conn.execute(_page(query, limit, offset))]
        return keys[:limit], len(keys) > limit

    # -- logged models -------------------------------------------------------------------------
    def search_logged_models(
        self,
        experiment_ids: Sequence[int],
        filters: Sequence[Clause],
        orders: Sequence[Order],
        *,
        limit: int,
        offset: int,
    ) -> tuple[list[LoggedModel], bool]:
        """A page of logged models (newest first, then by id, unless ordered otherwise). A metric
        clause matches a model with any logged value of that metric that compares true (as
        MLflow's server does); ordering by a metric takes its latest value."""
        table = mlflow_logged_models
        columns = {
            "name": table.c.name,
            "model_id": table.c.model_id,
            "model_type": table.c.model_type,
            "status": table.c.status,
            "source_run_id": table.c.source_run_id,
            "created_at": table.c.created_at,
            "updated_at": table.c.updated_at,
        }
        metric = mlflow_model_metrics
        conditions: list[Any] = [table.c.lifecycle == "active"]  # a deleted one is in no listing
        if experiment_ids:
            conditions.append(table.c.experiment_id.in_(list(experiment_ids)))
        for item in filters:
            if item.kind == "tags":
                conditions.append(json_key_condition(table.c.tags_json, item.key, item.op, item.value))
            elif item.kind == "params":
                conditions.append(json_key_condition(table.c.params_json, item.key, item.op, item.value))
            elif item.kind == "metrics":
                conditions.append(
                    sa.exists().where(
                        metric.c.model_id == table.c.model_id,
                        metric.c.key == item.key,
                        compare(metric.c.value, item.op, item.value),
                    )
                )
            else:
                conditions.append(_attribute(columns, item))
        order: list[Any] = []
        for kind, key, descending in orders or [("attributes", "created_at", True)]:
            if kind == "metrics":
                column: Any = (
                    sa.select(metric.c.value)
                    .where(metric.c.model_id == table.c.model_id, metric.c.key == key)
                    .order_by(metric.c.timestamp.desc(), metric.c.step.desc(), metric.c.id.desc())
                    .limit(1)
                    .scalar_subquery()
                )
            else:
                column = columns[key]
            order.append((column.desc() if descending else column.asc()).nulls_last())
        query = sa.select(table).where(*conditions).order_by(*order, table.c.model_id.asc())
        with self._db.read() as conn:
            rows = conn.execute(_page(query, limit, offset)).all()
        return [LoggedModelRecords._to_model(r) for r in rows[:limit]], len(rows) > limit
