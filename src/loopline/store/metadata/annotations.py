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
from loopline.core.labeling import (
    Annotation,
    Annotator,
    LabelProject,
    Lease,
    Role,
    Source,
    Task,
)
from loopline.store.metadata import label_queue as queue
from loopline.store.metadata.database import Database, HasDatabase, as_database, inserted_id
from loopline.store.metadata.label_checks import check_label
from loopline.store.metadata.tables import (
    annotations_table,
    annotators,
    label_leases,
    label_projects,
    label_skips,
    label_tasks,
)
from loopline.store.metadata.times import as_aware, as_utc

_TASK_TYPES = ("classification", "multilabel", "spans", "boxes")
_SOURCES = ("human", "rule", "model")
_ROLES = ("annotator", "manager", "admin")
_CHUNK = 500


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


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
            return self._insert_tasks(conn, project.name, items, set())

        return self._db.write(work, self._db.change("labeling.create_project", project.name))

    @staticmethod
    def _insert_tasks(
        conn: sa.Connection, project: str, items: Sequence[tuple[str, dict[str, Any]]], seen: set[str]
    ) -> int:
        """One task per item not in `seen`, whatever the dataset repeats."""
        rows = []
        for item_id, data in items:
            if item_id in seen:
                continue
            seen.add(item_id)
            rows.append(
                {
                    "project": project,
                    "item_id": item_id,
                    "data_json": _dump(data),
                    "priority": 0.0,
                    "is_gold": False,
                    "done": 0,
                }
            )
        for start in range(0, len(rows), _CHUNK):
            conn.execute(label_tasks.insert(), rows[start : start + _CHUNK])
        return len(rows)

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
            added = self._insert_tasks(conn, project, items, {r.item_id for r in known})
            conn.execute(
                label_projects.update()
                .where(label_projects.c.name == project)
                .values(artifact_id=artifact_id, dataset_version=dataset_version)
            )
            return added

        return self._db.write(work, self._db.change("labeling.add_tasks", project))

    @staticmethod
    def _to_project(row: Any) -> LabelProject:
        return LabelProject(
            name=row.name,
            dataset=row.dataset,
            dataset_version=row.dataset_version,
            artifact_id=row.artifact_id,
            task_type=row.task_type,
            labels=tuple(json.loads(row.labels_json)),
            instructions=row.instructions,
            overlap=row.overlap,
            gold_share=row.gold_share,
            annotator_limit=row.annotator_limit,
            lease_seconds=row.lease_seconds,
            text_field=row.text_field,
            created_at=as_aware(row.created_at),
        )

    def _project(self, conn: sa.Connection, name: str) -> LabelProject:
        row = conn.execute(sa.select(label_projects).where(label_projects.c.name == name)).first()
        if row is None:
            raise NotFound(
                f"no labeling project named {name!r}", hint="`loopline annotate status` lists them"
            )
        return self._to_project(row)

    def get_project(self, name: str) -> LabelProject:
        with self._db.read() as conn:
            return self._project(conn, name)

    def list_projects(self) -> list[LabelProject]:
        with self._db.read() as conn:
            rows = conn.execute(sa.select(label_projects).order_by(label_projects.c.name))
            return [self._to_project(r) for r in rows]

    # -- annotators ---------------------------------------------------------------------------
    @staticmethod
    def _to_annotator(row: Any) -> Annotator:
        return Annotator(row.name, row.role, bool(row.active), as_aware(row.created_at))

    def add_annotator(self, name: str, role: Role, token_hash: str) -> Annotator:
        if role not in _ROLES:
            raise InvalidInput(f"unknown role {role!r}", hint=f"one of: {', '.join(_ROLES)}")

        def work(conn: sa.Connection) -> Annotator:
            if conn.execute(sa.select(annotators.c.name).where(annotators.c.name == name)).first():
                raise Conflict(f"an annotator named {name!r} exists already", hint="pick another name")
            created = datetime.now(UTC)
            conn.execute(
                annotators.insert().values(
                    name=name, role=role, active=True, token_hash=token_hash, created_at=created
                )
            )
            return Annotator(name, role, True, created)

        return self._db.write(work, self._db.change("labeling.add_annotator", name))

    def annotator_by_token(self, token_hash: str) -> Annotator:
        with self._db.read() as conn:
            row = conn.execute(
                sa.select(annotators).where(annotators.c.token_hash == token_hash, annotators.c.active)
            ).first()
        if row is None:
            raise NotFound("unknown or inactive annotator token", hint="ask a manager for a new token")
        return self._to_annotator(row)

    def list_annotators(self) -> list[Annotator]:
        with self._db.read() as conn:
            rows = conn.execute(sa.select(annotators).order_by(annotators.c.name))
            return [self._to_annotator(r) for r in rows]

    @staticmethod
    def _annotator(conn: sa.Connection, name: str, lock: bool = False) -> None:
        """Check the annotator is active; `lock` serializes one annotator's queue requests."""
        query = sa.select(annotators.c.active).where(annotators.c.name == name)
        row = conn.execute(query.with_for_update() if lock else query).first()
        if row is None or not row.active:
            raise NotFound(
                f"no active annotator named {name!r}", hint="`loopline annotate annotators add NAME`"
            )

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
            self._annotator(conn, annotator, lock=True)
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
                self._annotator(conn, annotator)
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
        """Answers made elsewhere (item_id, annotator, label, seconds, source), all or none: an
        answer already stored with the same label is left alone, with another label a Conflict.
        The queue's overlap does not bound them: they were not handed out by it.

        With `repeats`, the k-th row of one (item, annotator) is that annotator's k-th answer
        to the item (stored as one more answer when new), so importing the same file twice
        adds nothing; without, every row is compared with the first stored answer."""
        now = as_utc(now)

        def work(conn: sa.Connection) -> dict[str, int]:
            spec = self._project(conn, project)
            ids = self._task_ids(conn, project, sorted({r[0] for r in rows}))
            existing: dict[tuple[int, str], list[str]] = {}
            for start in range(0, len(ids), _CHUNK):
                part = list(ids.values())[start : start + _CHUNK]
                for r in conn.execute(
                    sa.select(
                        annotations_table.c.task_id,
                        annotations_table.c.annotator,
                        annotations_table.c.label_json,
                    )
                    .where(annotations_table.c.task_id.in_(part))
                    .order_by(
                        annotations_table.c.task_id, annotations_table.c.annotator, annotations_table.c.nth
                    )
                ):
                    existing.setdefault((r.task_id, r.annotator), []).append(r.label_json)
            seen: dict[tuple[int, str], int] = {}
            new: list[dict[str, Any]] = []
            counts: dict[int, int] = {}
            unchanged = 0
            for n, (item_id, who, label, seconds, source) in enumerate(rows, 1):
                where = f"row {n} (item {item_id}, annotator {who})"
                if source not in _SOURCES:
                    raise InvalidInput(
                        f"unknown source {source!r}", where=where, hint=f"one of: {', '.join(_SOURCES)}"
                    )
                if not who:
                    raise InvalidInput("the annotator is empty", where=where)
                text = _dump(check_label(spec, label, where))
                key = (ids[item_id], who)
                nth = seen.get(key, 0) if repeats else 0
                seen[key] = nth + 1
                stored = existing.setdefault(key, [])
                if nth < len(stored):
                    if stored[nth] != text:
                        raise Conflict(
                            f"{who} answered {item_id} already with {json.loads(stored[nth])!r}",
                            where=where,
                            hint="drop the row, rename the annotator, or import repeats with "
                            "--duplicates keep|first|last",
                        )
                    unchanged += 1
                    continue
                stored.append(text)
                new.append(
                    {
                        "task_id": key[0],
                        "project": project,
                        "annotator": who,
                        "nth": nth,
                        "label_json": text,
                        "seconds": float(seconds or 0.0),
                        "source": source,
                        "created_at": now,
                    }
                )
                counts[key[0]] = counts.get(key[0], 0) + 1
            for start in range(0, len(new), _CHUNK):
                conn.execute(annotations_table.insert(), new[start : start + _CHUNK])
            for task_id, n in counts.items():
                conn.execute(
                    label_tasks.update()
                    .where(label_tasks.c.id == task_id)
                    .values(done=label_tasks.c.done + n)
                )
            return {"added": len(new), "unchanged": unchanged}

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
            return [
                Annotation(
                    r.id,
                    r.task_id,
                    r.annotator,
                    json.loads(r.label_json),
                    r.seconds,
                    r.source,
                    as_aware(r.created_at),
                    r.item_id,
                    json.loads(r.suggestion_json) if r.suggestion_json is not None else None,
                )
                for r in rows
            ]

    def tasks(self, project: str) -> list[Task]:
        with self._db.read() as conn:
            self._project(conn, project)
            rows = conn.execute(
                sa.select(label_tasks).where(label_tasks.c.project == project).order_by(label_tasks.c.id)
            )
            return [queue.to_task(r) for r in rows]

    def progress(self, project: str) -> dict[str, Any]:
        with self._db.read() as conn:
            spec = self._project(conn, project)
            tasks = sa.select(label_tasks).where(label_tasks.c.project == project)
            regular = tasks.where(~label_tasks.c.is_gold)
            per = conn.execute(
                sa.select(annotations_table.c.annotator, sa.func.count())
                .where(annotations_table.c.project == project)
                .group_by(annotations_table.c.annotator)
                .order_by(annotations_table.c.annotator)
            ).all()
            return {
                "tasks": queue.count(conn, regular),
                "complete": queue.count(
                    conn, regular.where(label_tasks.c.done >= spec.overlap + label_tasks.c.extra)
                ),
                "annotations": sum(n for _, n in per),
                "per_annotator": {name: int(n) for name, n in per},
                "gold": queue.count(conn, tasks.where(label_tasks.c.is_gold)),
            }
