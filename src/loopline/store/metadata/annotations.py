"""AnnotationRepository on SQLAlchemy (SQLite and PostgreSQL): projects, the task queue with
leases, answers and skips.

Correctness under concurrency rests on one rule: whoever changes a task's leases or answers holds
that task's row lock. On PostgreSQL `next_task` picks a candidate with FOR UPDATE SKIP LOCKED
(annotators never queue behind each other) and then re-counts the task's answers and live leases
in a fresh statement, which in READ COMMITTED sees every commit made before it took the lock;
`submit` locks the task row before counting. On SQLite every write transaction begins with
BEGIN IMMEDIATE, so they run one at a time and the counts are always current.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from loopline.core.errors import Conflict, InvalidInput, NotFound
from loopline.core.labeling import Annotation, LabelProject, Lease, Source, Task
from loopline.store.metadata import label_import, label_reads
from loopline.store.metadata import label_queue as queue
from loopline.store.metadata.database import Database, HasDatabase, as_database, inserted_id
from loopline.store.metadata.label_checks import check_label
from loopline.store.metadata.tables import (
    annotations_table,
    label_leases,
    label_projects,
    label_skips,
    label_tasks,
)
from loopline.store.metadata.times import as_aware, as_utc
from loopline.store.metadata.users import check_active

_TASK_TYPES = ("classification", "multilabel", "spans", "boxes")
_SOURCES = label_import.SOURCES
_CHUNK = label_import.CHUNK
_dump = label_import.dump


def _suggestion(task: Any) -> dict[str, Any] | None:
    """The suggestion a label_tasks row shows, as an answer records it."""
    if task.suggestion_json is None:
        return None
    return {"label": json.loads(task.suggestion_json), "source": task.suggestion_source}


class SqlAnnotationRepository:
    """`loopline.core.labeling.AnnotationRepository` on the metadata store's engine."""

    def __init__(self, db: Database | HasDatabase) -> None:
        self._db = as_database(db)
        self._postgres = self._db.dialect == "postgresql"

    # -- projects -----------------------------------------------------------------------------
    def create_project(self, project: LabelProject, items: Sequence[tuple[str, dict[str, Any]]]) -> int:
        if project.task_type not in _TASK_TYPES:
            raise InvalidInput(
                f"unknown task type {project.task_type!r}", hint=f"one of: {', '.join(_TASK_TYPES)}"
            )
        if not project.labels or len(set(project.labels)) != len(project.labels):
            raise InvalidInput("a project needs a label set of distinct, non-empty labels")
        if project.overlap < 1 or not 0 <= project.gold_share < 1 or project.lease_seconds < 1:
            raise InvalidInput("overlap must be at least 1, gold share in [0, 1), lease seconds positive")
        if project.annotator_limit is not None and project.annotator_limit < 1:
            raise InvalidInput("annotator limit must be at least 1 (or unset)")

        def work(conn: sa.Connection) -> int:
            exists = conn.execute(
                sa.select(label_projects.c.name).where(label_projects.c.name == project.name)
            ).first()
            if exists:
                raise Conflict(f"a labeling project named {project.name!r} exists already")
            conn.execute(
                label_projects.insert().values(
                    name=project.name,
                    dataset=project.dataset,
                    dataset_version=project.dataset_version,
                    artifact_id=project.artifact_id,
                    task_type=project.task_type,
                    labels_json=json.dumps(list(project.labels)),
                    instructions=project.instructions,
                    overlap=project.overlap,
                    gold_share=project.gold_share,
                    annotator_limit=project.annotator_limit,
                    lease_seconds=project.lease_seconds,
                    text_field=project.text_field,
                    created_at=as_utc(project.created_at or datetime.now(UTC)),
                )
            )
            return queue.insert_tasks(conn, project.name, items, set())

        return self._db.write(work, self._db.change("labeling.create_project", project.name))

    def add_tasks(
        self,
        project: str,
        items: Sequence[tuple[str, dict[str, Any]]],
        *,
        artifact_id: str,
        dataset_version: int,
    ) -> int:
        """Queue the items the project has no task for yet (a newer version of its dataset), and
        move the project onto that version; tasks, answers and gold already there stay."""

        def work(conn: sa.Connection) -> int:
            self._project(conn, project)
            known = conn.execute(sa.select(label_tasks.c.item_id).where(label_tasks.c.project == project))
            added = queue.insert_tasks(conn, project, items, {r.item_id for r in known})
            conn.execute(
                label_projects.update()
                .where(label_projects.c.name == project)
                .values(artifact_id=artifact_id, dataset_version=dataset_version)
            )
            return added

        return self._db.write(work, self._db.change("labeling.add_tasks", project))

    def _project(self, conn: sa.Connection, name: str) -> LabelProject:
        row = conn.execute(sa.select(label_projects).where(label_projects.c.name == name)).first()
        if row is None:
            raise NotFound(
                f"no labeling project named {name!r}", hint="`loopline annotate status` lists them"
            )
        return label_reads.to_project(row)

    def get_project(self, name: str) -> LabelProject:
        with self._db.read() as conn:
            return self._project(conn, name)

    def list_projects(self) -> list[LabelProject]:
        with self._db.read() as conn:
            rows = conn.execute(sa.select(label_projects).order_by(label_projects.c.name))
            return [label_reads.to_project(r) for r in rows]

    # -- task attributes ----------------------------------------------------------------------
    def _task_ids(self, conn: sa.Connection, project: str, item_ids: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for start in range(0, len(item_ids), _CHUNK):
            part = list(item_ids[start : start + _CHUNK])
            rows = conn.execute(
                sa.select(label_tasks.c.item_id, label_tasks.c.id).where(
                    label_tasks.c.project == project, label_tasks.c.item_id.in_(part)
                )
            )
            found.update({r.item_id: r.id for r in rows})
        missing = [i for i in item_ids if i not in found]
        if missing:
            raise NotFound(
                f"{len(missing)} item id(s) are not tasks of {project!r}, e.g. {missing[0]!r}",
                hint="item ids come from the dataset (`loopline annotate export` lists them)",
            )
        return found

    def _update_tasks(
        self, action: str, project: str, values: dict[str, dict[str, Any]], check: bool = False
    ) -> int:
        def work(conn: sa.Connection) -> int:
            spec = self._project(conn, project)
            ids = self._task_ids(conn, project, list(values))
            for item_id, row in values.items():
                if check:
                    row = {
                        **row,
                        "gold_json": _dump(check_label(spec, json.loads(row["gold_json"]), item_id)),
                    }
                conn.execute(label_tasks.update().where(label_tasks.c.id == ids[item_id]).values(**row))
            return len(values)

        return self._db.write(work, self._db.change(action, project))

    def set_gold(self, project: str, answers: dict[str, Any]) -> int:
        rows = {k: {"is_gold": True, "gold_json": _dump(v)} for k, v in answers.items()}
        return self._update_tasks("labeling.set_gold", project, rows, check=True)

    def set_priorities(self, project: str, priorities: dict[str, float]) -> int:
        return self._update_tasks(
            "labeling.set_priorities", project, {k: {"priority": float(v)} for k, v in priorities.items()}
        )

    def reopen(self, project: str, item_ids: Sequence[str]) -> int:
        """Ask one more answer of each of these tasks (review of a likely label error), so the
        queue serves them again even when they had all their answers."""
        return self._update_tasks(
            "labeling.reopen", project, {k: {"extra": label_tasks.c.extra + 1} for k in item_ids}
        )

    def set_suggestions(self, project: str, suggestions: dict[str, Any], source: Source) -> int:
        if source not in _SOURCES:
            raise InvalidInput(f"unknown source {source!r}", hint=f"one of: {', '.join(_SOURCES)}")
        rows = {k: {"suggestion_json": _dump(v), "suggestion_source": source} for k, v in suggestions.items()}
        return self._update_tasks("labeling.set_suggestions", project, rows)

    # -- the queue ----------------------------------------------------------------------------
    def next_task(self, project: str, annotator: str, now: datetime) -> Lease | None:
        now = as_utc(now)

        def work(conn: sa.Connection) -> Lease | None:
            spec = self._project(conn, project)
            check_active(conn, annotator, lock=True)
            mine = conn.execute(
                sa.select(label_leases).where(
                    label_leases.c.project == project, label_leases.c.annotator == annotator
                )
            ).all()
            for lease in mine:
                expires = as_aware(lease.expires_at)
                assert expires is not None
                if expires > now:  # resumable: the task this annotator already holds
                    row = conn.execute(sa.select(label_tasks).where(label_tasks.c.id == lease.task_id)).one()
                    return queue.handed(row, annotator, expires, queue.progress_of(conn, spec, annotator))
            if mine:
                conn.execute(
                    label_leases.delete().where(
                        label_leases.c.project == project, label_leases.c.annotator == annotator
                    )
                )
            progress = queue.progress_of(conn, spec, annotator)
            if spec.annotator_limit is not None and progress["done"] >= spec.annotator_limit:
                return None
            task_id = None
            if spec.gold_share > 0:
                gold_done = queue.count(
                    conn,
                    sa.select(annotations_table.c.id)
                    .join(label_tasks, label_tasks.c.id == annotations_table.c.task_id)
                    .where(
                        annotations_table.c.project == project,
                        annotations_table.c.annotator == annotator,
                        label_tasks.c.is_gold,
                    ),
                )
                if gold_done < spec.gold_share * (progress["done"] + 1):
                    task_id = queue.pick(conn, spec, annotator, now, gold=True, postgres=self._postgres)
            if task_id is None:
                task_id = queue.pick(conn, spec, annotator, now, gold=False, postgres=self._postgres)
            if task_id is None:
                return None
            return queue.lease(conn, spec, task_id, annotator, now)

        return self._db.write(work, self._db.change("labeling.lease", project, actor=annotator))

    def submit(
        self,
        project: str,
        task_id: int,
        annotator: str,
        label: Any,
        seconds: float,
        now: datetime,
        source: Source = "human",
    ) -> Annotation:
        now = as_utc(now)
        if source not in _SOURCES:
            raise InvalidInput(f"unknown source {source!r}", hint=f"one of: {', '.join(_SOURCES)}")
        if not isinstance(seconds, int | float) or seconds < 0:
            raise InvalidInput(f"seconds must be a number >= 0, got {seconds!r}")

        def work(conn: sa.Connection) -> Annotation:
            spec = self._project(conn, project)
            task = queue.locked_task(conn, project, task_id)
            checked = check_label(spec, label, f"task {task_id}", json.loads(task.data_json))
            if source == "human":
                check_active(conn, annotator)
            answered = conn.execute(
                sa.select(annotations_table.c.id).where(
                    annotations_table.c.task_id == task_id, annotations_table.c.annotator == annotator
                )
            ).first()
            if answered:
                raise Conflict(
                    f"{annotator} has already answered task {task_id}", hint="ask for the next task"
                )
            lease = conn.execute(
                sa.select(label_leases.c.expires_at).where(
                    label_leases.c.task_id == task_id, label_leases.c.annotator == annotator
                )
            ).first()
            if source == "human":
                if lease is None:
                    raise Conflict(
                        f"{annotator} holds no lease on task {task_id}", hint="ask for the next task first"
                    )
                if as_aware(lease.expires_at) <= now:
                    raise Conflict(f"the lease on task {task_id} expired", hint="ask for the next task")
            if not task.is_gold and task.done >= spec.overlap + task.extra:
                raise Conflict(f"task {task_id} has all {spec.overlap + task.extra} answers it needs")
            shown = _suggestion(task)
            if lease is not None:
                conn.execute(
                    label_leases.delete().where(
                        label_leases.c.task_id == task_id, label_leases.c.annotator == annotator
                    )
                )
            new_id = inserted_id(
                conn.execute(
                    annotations_table.insert().values(
                        task_id=task_id,
                        project=project,
                        annotator=annotator,
                        label_json=_dump(checked),
                        seconds=float(seconds),
                        source=source,
                        created_at=now,
                        suggestion_json=_dump(shown) if shown is not None else None,
                    )
                )
            )
            conn.execute(
                label_tasks.update().where(label_tasks.c.id == task_id).values(done=label_tasks.c.done + 1)
            )
            return Annotation(
                int(new_id), task_id, annotator, checked, float(seconds), source, now, task.item_id, shown
            )

        return self._db.write(
            work, self._db.change("labeling.submit", f"{project}#{task_id}", actor=annotator)
        )

    def skip(self, project: str, task_id: int, annotator: str, now: datetime) -> None:
        now = as_utc(now)

        def work(conn: sa.Connection) -> None:
            self._project(conn, project)
            queue.locked_task(conn, project, task_id)
            conn.execute(
                label_leases.delete().where(
                    label_leases.c.task_id == task_id, label_leases.c.annotator == annotator
                )
            )
            skipped = conn.execute(
                sa.select(label_skips.c.task_id).where(
                    label_skips.c.task_id == task_id, label_skips.c.annotator == annotator
                )
            ).first()
            if not skipped:
                conn.execute(
                    label_skips.insert().values(
                        task_id=task_id, annotator=annotator, project=project, created_at=now
                    )
                )

        self._db.write(work, self._db.change("labeling.skip", f"{project}#{task_id}", actor=annotator))

    def import_annotations(
        self,
        project: str,
        rows: Sequence[tuple[str, str, Any, float, str]],  # source: checked, it comes from a file
        now: datetime,
        *,
        repeats: bool = False,
    ) -> dict[str, int]:
        """Answers made elsewhere, all or none (label_import.py says how)."""

        def work(conn: sa.Connection) -> dict[str, int]:
            spec = self._project(conn, project)
            ids = self._task_ids(conn, project, sorted({r[0] for r in rows}))
            return label_import.import_rows(conn, spec, ids, rows, as_utc(now), repeats=repeats)

        return self._db.write(work, self._db.change("labeling.import", project))

    # -- reading ------------------------------------------------------------------------------
    def annotations(self, project: str) -> list[Annotation]:
        with self._db.read() as conn:
            self._project(conn, project)
            rows = conn.execute(
                sa.select(annotations_table, label_tasks.c.item_id)
                .join(label_tasks, label_tasks.c.id == annotations_table.c.task_id)
                .where(annotations_table.c.project == project)
                .order_by(annotations_table.c.id)
            )
            return [label_reads.to_annotation(r) for r in rows]

    def tasks(self, project: str) -> list[Task]:
        with self._db.read() as conn:
            self._project(conn, project)
            rows = conn.execute(
                sa.select(label_tasks).where(label_tasks.c.project == project).order_by(label_tasks.c.id)
            )
            return [queue.to_task(r) for r in rows]

    def progress(self, project: str) -> dict[str, Any]:
        with self._db.read() as conn:
            return label_reads.progress(conn, self._project(conn, project))
