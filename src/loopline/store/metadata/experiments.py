"""Experiment tracking on SQLAlchemy (SQLite and PostgreSQL): experiments, tracked runs, params,
tags, metric history and run search; the rows a run's writes make are run_writes.py's, the
search query and the run loader run_search.py's.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from loopline.core.errors import Conflict, InvalidInput, NotFound
from loopline.core.experiments import (
    Experiment,
    MetricPoint,
    RunFilter,
    RunOrder,
    TrackedRun,
    compare_runs,
    param_text,
)
from loopline.core.ids import new_run_id
from loopline.store.metadata.database import Database, HasDatabase, as_database, inserted_id
from loopline.store.metadata.run_search import chunks, load_runs
from loopline.store.metadata.run_search import search_query as run_search_query
from loopline.store.metadata.run_writes import (
    check_key,
    child_time,
    metric_rows,
    write_batch,
    write_new_runs,
    write_tags,
)
from loopline.store.metadata.tables import PARENT_TAG, experiments, run_tags, runs
from loopline.store.metadata.tables import metrics as metrics_table
from loopline.store.metadata.times import as_aware, as_utc, utc_now

STATUSES = ("running", "succeeded", "failed", "interrupted", "killed", "scheduled")
DEFAULT_EXPERIMENT = "Default"


ACTIVE = ("active",)  # the runs a listing shows: not the deleted ones


class TrackingStore:
    """Tracking reads and writes on one MetadataStore's engine and retrying transactions."""

    def __init__(self, db: Database | HasDatabase) -> None:
        self._db = as_database(db)

    # -- experiments --------------------------------------------------------------------------
    @staticmethod
    def _to_experiment(row: Any, count: int | None = None) -> Experiment:
        return Experiment(
            id=row.id,
            name=row.name,
            lifecycle=row.lifecycle,
            created_at=as_aware(row.created_at),
            artifact_location=row.artifact_location,
            tags=json.loads(row.tags_json) if row.tags_json else {},
            runs=count,
        )

    def create_experiment(
        self,
        name: str,
        *,
        artifact_location: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> Experiment:
        if not isinstance(name, str) or not name.strip() or len(name) > 250:
            raise InvalidInput(f"experiment name {name!r} must be 1 to 250 characters")

        def work(conn: sa.Connection) -> int:
            held = conn.execute(sa.select(experiments.c.lifecycle).where(experiments.c.name == name)).first()
            if held is not None:
                deleted = held.lifecycle == "deleted"
                raise Conflict(
                    f"experiment {name!r} exists already" + (" (deleted)" if deleted else ""),
                    hint="restore it, or remove it for good with `loopline gc`"
                    if deleted
                    else "`loopline experiments` lists them",
                )
            return inserted_id(
                conn.execute(
                    experiments.insert().values(
                        name=name,
                        lifecycle="active",
                        artifact_location=artifact_location,
                        tags_json=json.dumps({k: param_text(v) for k, v in (tags or {}).items()})
                        if tags
                        else None,
                        created_at=utc_now(),
                    )
                )
            )

        return self.get_experiment(self._db.write(work, self._db.change("experiment.create", name)))

    def get_experiment(self, experiment_id: int) -> Experiment:
        with self._db.read() as conn:
            row = conn.execute(sa.select(experiments).where(experiments.c.id == experiment_id)).first()
        if row is None:
            raise NotFound(f"no experiment with id {experiment_id}", hint="`loopline experiments`")
        return self._to_experiment(row)

    def get_experiment_by_name(self, name: str) -> Experiment:
        with self._db.read() as conn:
            row = conn.execute(sa.select(experiments).where(experiments.c.name == name)).first()
        if row is None:
            raise NotFound(f"no experiment named {name!r}", hint="`loopline experiments` lists them")
        return self._to_experiment(row)

    def ensure_experiment(self, name: str) -> Experiment:
        """The experiment of that name, created if missing (safe against a concurrent creator)."""
        try:
            return self.get_experiment_by_name(name)
        except NotFound:
            pass
        try:
            return self.create_experiment(name)
        except Conflict:
            return self.get_experiment_by_name(name)

    def list_experiments(self) -> list[Experiment]:
        counts = (
            sa.select(runs.c.experiment_id, sa.func.count().label("n"))
            .group_by(runs.c.experiment_id)
            .subquery()
        )
        query = (
            sa.select(experiments, counts.c.n)
            .outerjoin(counts, counts.c.experiment_id == experiments.c.id)
            .order_by(experiments.c.id)
        )
        with self._db.read() as conn:
            return [self._to_experiment(r, int(r.n or 0)) for r in conn.execute(query)]

    # -- runs ---------------------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: int,
        *,
        name: str | None = None,
        user: str | None = None,
        tags: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        started_at: datetime | None = None,
        executor: str = "tracking",
        host: str | None = None,
        pid: int | None = None,
    ) -> TrackedRun:
        run_id = run_id or new_run_id()
        started_at = as_utc(started_at or utc_now())
        if name is not None and len(name) > 250:
            raise InvalidInput(f"run name is {len(name)} characters long", hint="250 at most")

        def work(conn: sa.Connection) -> None:
            if (
                conn.execute(sa.select(experiments.c.id).where(experiments.c.id == experiment_id)).first()
                is None
            ):
                raise NotFound(f"no experiment with id {experiment_id}", hint="`loopline experiments`")
            conn.execute(
                runs.insert().values(
                    id=run_id,
                    status="running",
                    started_at=started_at,
                    executor=executor,
                    experiment_id=experiment_id,
                    name=name,
                    user=user,
                    host=host if host is not None else socket.gethostname(),
                    pid=pid if pid is not None else os.getpid(),
                )
            )
            if tags:
                write_tags(conn, run_id, tags)

        self._db.write(work, self._db.change("run.create", run_id))
        return TrackedRun(
            id=run_id,
            experiment_id=experiment_id,
            name=name,
            user=user,
            status="running",
            started_at=started_at,
            finished_at=None,
            tags={k: param_text(v) for k, v in sorted((tags or {}).items())},
        )

    def update_run(
        self,
        run_id: str,
        *,
        status: str | None = None,
        finished_at: datetime | None = None,
        name: str | None = None,
    ) -> None:
        """Change a run's status (a final status stamps its end time), end time or name."""
        values: dict[str, Any] = {}
        if status is not None:
            if status not in STATUSES:
                raise InvalidInput(
                    f"run status {status!r} is unknown", hint=f"use one of {', '.join(STATUSES)}"
                )
            values["status"] = status
            if status not in ("running", "scheduled") and finished_at is None:
                finished_at = utc_now()
        if finished_at is not None:
            values["finished_at"] = as_utc(finished_at)
        if name is not None:
            values["name"] = name
        if not values:
            return

        def work(conn: sa.Connection) -> None:
            if conn.execute(runs.update().where(runs.c.id == run_id).values(**values)).rowcount == 0:
                raise NotFound(f"no run {run_id!r}", hint="`loopline runs` lists them")

        self._db.write(work, self._db.change("run.update", run_id))

    def _resolve(self, conn: sa.Connection, run_id: str) -> str:
        if conn.execute(sa.select(runs.c.id).where(runs.c.id == run_id)).first():
            return run_id
        found = (
            conn.execute(sa.select(runs.c.id).where(runs.c.id.startswith(run_id)).limit(2)).scalars().all()
        )
        if len(found) > 1:
            raise Conflict(f"run id prefix {run_id!r} is ambiguous", hint="give more characters")
        if not found:
            raise NotFound(f"no run {run_id!r}", hint="`loopline runs` lists them")
        return str(found[0])

    def get_run(self, run_id: str) -> TrackedRun:
        """One run (by id or unique prefix) with its params, tags and latest metrics."""
        with self._db.read() as conn:
            full = self._resolve(conn, run_id)
            return load_runs(conn, [full])[0]

    # -- writes -------------------------------------------------------------------------------
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[tuple[str, float, int, float]] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        *,
        step_name: str = "",
    ) -> None:
        """One transaction: metrics (key, value, step, timestamp) into the history and the latest
        values, params (logged once; a different value is a Conflict) and tags (overwritten).
        Everything is checked before anything is written."""
        rows, latest = metric_rows(run_id, metrics, step_name)
        texts = {check_key(k, "param"): param_text(v) for k, v in (params or {}).items()}
        if not rows and not texts and not tags:
            return

        def work(conn: sa.Connection) -> None:
            if conn.execute(sa.select(runs.c.id).where(runs.c.id == run_id)).first() is None:
                raise NotFound(f"no run {run_id!r}", hint="`loopline runs` lists them")
            write_batch(conn, run_id, rows, latest, texts, tags)

        self._db.write(work, self._db.change("run.log", run_id))

    def record_child_runs(
        self, parent_run_id: str, children: Sequence[Any], *, step_name: str = ""
    ) -> list[str]:
        """Runs nested under a parent (tuning trials), each with `name`, `experiment`, `status`,
        `metrics`, `params` and `tags`, finished and written in one transaction."""
        if not children:
            return []
        experiment_ids = {c.experiment: self.ensure_experiment(c.experiment).id for c in children}
        now = utc_now()
        prepared = []
        for child in children:
            run_id = new_run_id()
            rows, latest = metric_rows(run_id, child.metrics, step_name)
            texts = {check_key(k, "param"): param_text(v) for k, v in child.params.items()}
            tags = {**child.tags, PARENT_TAG: parent_run_id, "loopline.step": step_name}
            prepared.append((child, run_id, rows, latest, texts, tags))

        def work(conn: sa.Connection) -> list[str]:
            conn.execute(
                runs.insert(),
                [
                    {
                        "id": run_id,
                        "status": child.status,
                        "started_at": child_time(child, now, n),
                        "finished_at": child_time(child, now, n, last_metric=True),
                        "executor": "tracking",
                        "experiment_id": experiment_ids[child.experiment],
                        "name": child.name,
                        "user": None,
                    }
                    for n, (child, run_id, *_) in enumerate(prepared)
                ],
            )
            write_new_runs(
                conn, [(r, rows, latest, texts, tags) for _c, r, rows, latest, texts, tags in prepared]
            )
            return [run_id for _child, run_id, *_ in prepared]

        return self._db.write(work, self._db.change("run.record_children", parent_run_id))

    def log_metric(
        self, run_id: str, key: str, value: float, step: int = 0, timestamp: float | None = None
    ) -> None:
        import time

        self.log_batch(run_id, [(key, value, step, time.time() if timestamp is None else timestamp)])

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        self.log_batch(run_id, params=params)

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        self.log_batch(run_id, tags=tags)

    def delete_tag(self, run_id: str, key: str) -> None:
        def work(conn: sa.Connection) -> None:
            done = conn.execute(run_tags.delete().where(run_tags.c.run_id == run_id, run_tags.c.key == key))
            if done.rowcount == 0:
                raise NotFound(f"run {run_id!r} has no tag {key!r}")

        self._db.write(work, self._db.change("run.delete_tag", f"{run_id}:{key}"))

    # -- reads --------------------------------------------------------------------------------
    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        """Every value logged for one metric of one run, by step then time."""
        with self._db.read() as conn:
            full = self._resolve(conn, run_id)
            rows = conn.execute(
                sa.select(metrics_table)
                .where(metrics_table.c.run_id == full, metrics_table.c.key == key)
                .order_by(metrics_table.c.step, metrics_table.c.timestamp, metrics_table.c.id)
            )
            return [MetricPoint(r.key, r.value, r.step, r.timestamp, r.step_name) for r in rows]

    def child_counts(self, parent_ids: Sequence[str]) -> dict[str, int]:
        """How many runs are nested under each of these runs: counted in SQL, none loaded."""
        out = dict.fromkeys(parent_ids, 0)
        tag = run_tags.c
        with self._db.read() as conn:
            for chunk in chunks(list(parent_ids)):
                query = (
                    sa.select(tag.value, sa.func.count())
                    .where(tag.key == PARENT_TAG, tag.value.in_(chunk))
                    .group_by(tag.value)
                )
                out.update({value: int(n) for value, n in conn.execute(query)})
        return out

    def children_of(self, parent_ids: Sequence[str]) -> dict[str, list[TrackedRun]]:
        """The runs nested under each of these runs (tuning trials), in the order they started."""
        out: dict[str, list[TrackedRun]] = {p: [] for p in parent_ids}
        with self._db.read() as conn:
            pairs: list[tuple[str, str]] = []
            for chunk in chunks(list(parent_ids)):
                query = sa.select(run_tags.c.run_id, run_tags.c.value).where(
                    run_tags.c.key == PARENT_TAG, run_tags.c.value.in_(chunk)
                )
                pairs += [(r.run_id, r.value) for r in conn.execute(query)]
            children = load_runs(conn, [child for child, _ in pairs])
        parent = dict(pairs)
        for child in sorted(children, key=lambda r: (r.started_at, r.id)):
            out[parent[child.id]].append(child)
        return out

    def search_runs(
        self,
        *,
        experiment_ids: Sequence[int] | None = None,
        filters: Sequence[RunFilter] = (),
        order_by: Sequence[RunOrder] = (),
        limit: int = 100,
        offset: int = 0,
        lifecycles: Sequence[str] | None = ACTIVE,
    ) -> list[TrackedRun]:
        """Runs matching every filter, ordered (missing values last; then newest first, then by
        id), one page of `limit` from `offset`; deleted runs only when `lifecycles` says so."""
        if limit < 0 or offset < 0:
            raise InvalidInput("limit and offset must not be negative")
        query = self.search_query(
            experiment_ids=experiment_ids, filters=filters, order_by=order_by, lifecycles=lifecycles
        )
        with self._db.read() as conn:
            ids = list(conn.execute(query.limit(limit).offset(offset)).scalars())
            return load_runs(conn, ids)

    def count_runs(
        self,
        *,
        experiment_ids: Sequence[int] | None = None,
        filters: Sequence[RunFilter] = (),
        lifecycles: Sequence[str] | None = ACTIVE,
    ) -> int:
        query = self.search_query(experiment_ids=experiment_ids, filters=filters, lifecycles=lifecycles)
        query = query.order_by(None)
        with self._db.read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one())

    search_query = staticmethod(run_search_query)

    def compare(self, run_a: str, run_b: str) -> dict[str, Any]:
        """Two runs side by side: every param, metric (latest) and tag of either, and which differ."""
        return compare_runs(self.get_run(run_a), self.get_run(run_b))
