"""The model registry on SQLAlchemy (SQLite and PostgreSQL): registered models, numbered versions,
aliases and the event history of every transition.

Every write that reads a model's state and then changes it (the next version number, an alias and
the version it replaces, a rollback target) first locks the model's row: on PostgreSQL with
`FOR UPDATE`, on SQLite by BEGIN IMMEDIATE. So concurrent registrations get consecutive numbers
and two promotions never both record the same `from` version.

Policy (which promotions are allowed) lives in loopline.registry; this module only keeps records
(the row helpers and the listing query are registry_rows.py). Each write names its Change with
the state before and after it, for the audit log.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from loopline.core.errors import Conflict, InvalidInput, NotFound
from loopline.store.metadata import registry_rows as rows
from loopline.store.metadata.database import Database, HasDatabase, as_database
from loopline.store.metadata.model_records import (
    MODEL_KINDS,
    ModelEvent,
    ModelVersion,
    check_alias,
    check_model_name,
    to_event,
    to_version,
)
from loopline.store.metadata.registry_rows import lock_model, no_model, version_row
from loopline.store.metadata.summaries import RegisteredModel, VersionSummary
from loopline.store.metadata.tables import (
    artifacts,
    model_aliases,
    model_events,
    model_versions,
    registered_models,
    runs,
)
from loopline.store.metadata.times import utc_now

__all__ = [
    "MODEL_KINDS",
    "ModelEvent",
    "ModelVersion",
    "RegisteredModel",
    "SqlRegistryRepository",
    "VersionSummary",
    "check_alias",
    "check_model_name",
]


Check = Callable[[ModelVersion, list[ModelEvent]], None]


def _text(value: Mapping[str, Any] | None) -> str | None:
    return json.dumps(value, sort_keys=True, default=str) if value is not None else None


class SqlRegistryRepository:
    def __init__(self, db: Database | HasDatabase) -> None:
        self._db = as_database(db)

    # -- writes ------------------------------------------------------------------------------
    def register(
        self,
        name: str,
        artifact_id: str,
        *,
        actor: str,
        run_id: str | None = None,
        metrics: Mapping[str, float] | None = None,
        signature: Mapping[str, Any] | None = None,
        description: str = "",
        gates_passed: bool | None = None,
        gate_report: Mapping[str, Any] | None = None,
        card: Mapping[str, Any] | None = None,
        reason: str = "",
    ) -> ModelVersion:
        """Record artifact_id as version N+1 of name (the model is created on first use)."""
        check_model_name(name)
        metrics_json = json.dumps(dict(metrics or {}), sort_keys=True)
        created = utc_now()

        def work(conn: sa.Connection) -> int:
            art = conn.execute(sa.select(artifacts.c.kind).where(artifacts.c.id == artifact_id)).first()
            if art is None:
                raise NotFound(f"no artifact with id {artifact_id!r}", hint="save the model first")
            if art.kind not in MODEL_KINDS:
                raise InvalidInput(
                    f"artifact {artifact_id[:12]} is a {art.kind}, not a model",
                    hint="register the output of a training step (a scikit-learn estimator)",
                )
            if (
                run_id is not None
                and conn.execute(sa.select(runs.c.id).where(runs.c.id == run_id)).first() is None
            ):
                raise NotFound(f"no run {run_id!r}", hint="`loopline runs` lists them")
            if (
                conn.execute(
                    sa.select(registered_models.c.name).where(registered_models.c.name == name)
                ).first()
                is None
            ):
                conn.execute(
                    registered_models.insert().values(
                        name=name, description="", created_at=created, updated_at=created
                    )
                )  # a concurrent first registration makes this a unique-key race: _write retries
            lock_model(conn, name)
            top = conn.execute(
                sa.select(sa.func.max(model_versions.c.version)).where(model_versions.c.name == name)
            ).scalar()
            # a number gc removed is never given again: its events (approvals) stay with it
            gone = conn.execute(
                sa.select(sa.func.max(model_events.c.version)).where(
                    model_events.c.name == name, model_events.c.kind == "register"
                )
            ).scalar()
            version = max(top or 0, gone or 0) + 1
            conn.execute(
                model_versions.insert().values(
                    name=name,
                    version=version,
                    artifact_id=artifact_id,
                    run_id=run_id,
                    status="ready",
                    gates_passed=gates_passed,
                    gate_report_json=_text(gate_report),
                    metrics_json=metrics_json,
                    signature_json=json.dumps(signature) if signature is not None else None,
                    card_json=_text(card),
                    description=description,
                    created_at=created,
                )
            )
            conn.execute(
                registered_models.update().where(registered_models.c.name == name).values(updated_at=created)
            )
            rows.add_event(conn, name, "register", actor, reason, version=version)
            return version

        after = {"artifact": artifact_id, "run": run_id, "gates_passed": gates_passed}
        made = self._db.write(
            work,
            lambda version: self._db.change("model.register", f"{name}@{version}", actor=actor, after=after),
        )
        return self.get_version(name, made)

    def set_gates(
        self, name: str, version: int, passed: bool, report: Mapping[str, Any] | None, *, actor: str
    ) -> ModelVersion:
        def work(conn: sa.Connection) -> bool | None:
            lock_model(conn, name)
            before: bool | None = version_row(conn, name, version).gates_passed
            conn.execute(
                model_versions.update()
                .where(model_versions.c.name == name, model_versions.c.version == version)
                .values(gates_passed=passed, gate_report_json=_text(report) if report else None)
            )
            rows.add_event(conn, name, "gates", actor, "passed" if passed else "failed", version=version)
            return before

        self._db.write(
            work,
            lambda before: self._db.change(
                "model.set_gates",
                f"{name}@{version}",
                actor=actor,
                before={"gates_passed": before},
                after={"gates_passed": passed},
            ),
        )
        return self.get_version(name, version)

    def set_card(self, name: str, version: int, card: Mapping[str, Any]) -> None:
        def work(conn: sa.Connection) -> None:
            version_row(conn, name, version)
            conn.execute(
                model_versions.update()
                .where(model_versions.c.name == name, model_versions.c.version == version)
                .values(card_json=_text(card))
            )

        self._db.write(work, self._db.change("model.set_card", f"{name}@{version}"))

    def approve(
        self, name: str, version: int, alias: str, *, actor: str, reason: str, kind: str = "approve"
    ) -> ModelEvent:
        """Record an approval of version for alias (kind "approve_removal": of removing alias
        from version)."""
        check_alias(alias)
        if kind not in ("approve", "approve_removal"):
            raise InvalidInput(f"an approval is of kind approve or approve_removal, not {kind!r}")

        def work(conn: sa.Connection) -> None:
            lock_model(conn, name)
            version_row(conn, name, version)
            rows.add_event(conn, name, kind, actor, reason, version=version, alias=alias)

        action = "model.approve" if kind == "approve" else "model.approve_removal"
        after = {"alias": alias, "reason": reason}
        self._db.write(work, self._db.change(action, f"{name}@{version}", actor=actor, after=after))
        return self.history(name)[-1]

    def move_alias(
        self,
        name: str,
        alias: str,
        version: int | None,
        *,
        kind: str,
        actor: str,
        reason: str,
        check: Check | None = None,
    ) -> int | None:
        """Point alias at version (None: delete it) and record the event; the previous version.
        `check` sees, under the model's lock, the version the alias will point at and its
        approvals for alias (for a delete: the version it points at now and its removal
        approvals), and may raise to refuse (then nothing is written)."""
        check_alias(alias)

        def work(conn: sa.Connection) -> int | None:
            lock_model(conn, name)
            current = rows.aliases_of(conn, name).get(alias)
            if version is None and current is None:
                raise NotFound(f"model {name} has no alias {alias!r}")
            target = version if version is not None else current
            assert target is not None
            row = version_row(conn, name, target)
            if check is not None:
                kind_of = "approve" if version is not None else "approve_removal"
                check(to_version(row), rows.approvals(conn, name, target, alias, kind_of))
            if version is None:
                conn.execute(
                    model_aliases.delete().where(model_aliases.c.name == name, model_aliases.c.alias == alias)
                )
            elif current is None:
                conn.execute(
                    model_aliases.insert().values(
                        name=name, alias=alias, version=version, updated_at=utc_now()
                    )
                )
            else:
                conn.execute(
                    model_aliases.update()
                    .where(model_aliases.c.name == name, model_aliases.c.alias == alias)
                    .values(version=version, updated_at=utc_now())
                )
            rows.add_event(
                conn, name, kind, actor, reason, version=version, alias=alias, from_version=current
            )
            return current

        obj = f"{name}@{version}" if version is not None else name
        return self._db.write(
            work,
            lambda current: self._db.change(
                f"model.{kind}", obj, actor=actor, before={alias: current}, after={alias: version}
            ),
        )

    def rollback(
        self, name: str, alias: str, *, actor: str, reason: str, check: Check | None = None
    ) -> tuple[int, int]:
        """Undo the latest promotion of alias not yet undone: (from version, back to version).
        `check` sees the version rolled back to and its approvals for alias, as move_alias's."""
        check_alias(alias)

        def work(conn: sa.Connection) -> tuple[int, int]:
            lock_model(conn, name)
            current, previous = self._undo_target(conn, name, alias)
            if check is not None:
                check(
                    to_version(version_row(conn, name, previous)), rows.approvals(conn, name, previous, alias)
                )
            conn.execute(
                model_aliases.update()
                .where(model_aliases.c.name == name, model_aliases.c.alias == alias)
                .values(version=previous, updated_at=utc_now())
            )
            rows.add_event(
                conn, name, "rollback", actor, reason, version=previous, alias=alias, from_version=current
            )
            return current, previous

        return self._db.write(
            work,
            lambda moved: self._db.change(
                "model.rollback",
                f"{name}@{moved[1]}",
                actor=actor,
                before={alias: moved[0]},
                after={alias: moved[1]},
            ),
        )

    @staticmethod
    def _undo_target(conn: sa.Connection, name: str, alias: str) -> tuple[int, int]:
        stack: list[tuple[int | None, int | None]] = []
        for event in conn.execute(
            sa.select(model_events)
            .where(model_events.c.name == name, model_events.c.alias == alias)
            .where(model_events.c.kind.in_(["promote", "rollback", "alias_delete"]))
            .order_by(model_events.c.id)
        ):
            if event.kind == "rollback":
                stack.pop() if stack else None
            else:
                stack.append((event.from_version, event.version))
        current = rows.aliases_of(conn, name).get(alias)
        if not stack or current is None:
            raise Conflict(
                f"model {name} has no promotion of {alias!r} to roll back",
                hint=f"`loopline models history {name}` shows its transitions",
            )
        previous = stack[-1][0]
        if previous is None:
            raise Conflict(
                f"{alias} of {name} pointed at no version before version {current} was promoted: "
                "nothing to roll back to",
                hint=f"promote another version: `loopline promote {name} VERSION --alias {alias}`",
            )
        return current, previous

    # -- reads -------------------------------------------------------------------------------
    def get_version(self, name: str, version: int) -> ModelVersion:
        with self._db.read() as conn:
            row = version_row(conn, name, version)
            aliases = [a for a, v in rows.aliases_of(conn, name).items() if v == version]
        return to_version(row, aliases)

    def get_alias(self, name: str, alias: str) -> ModelVersion:
        """The version an alias points at, in one query."""
        query = (
            sa.select(model_versions)
            .join(
                model_aliases,
                sa.and_(
                    model_aliases.c.name == model_versions.c.name,
                    model_aliases.c.version == model_versions.c.version,
                ),
            )
            .where(model_aliases.c.name == name, model_aliases.c.alias == alias, rows.ACTIVE)
        )
        with self._db.read() as conn:
            row = conn.execute(query).first()
            known = rows.aliases_of(conn, name)
            if row is None:
                exists = conn.execute(
                    sa.select(registered_models.c.name).where(
                        registered_models.c.name == name, registered_models.c.lifecycle == "active"
                    )
                ).first()
        if row is not None:
            return to_version(row, [a for a, v in known.items() if v == row.version])
        if exists is None:
            raise no_model(name)
        raise NotFound(
            f"model {name} has no alias {alias!r}",
            hint=f"its aliases: {', '.join(sorted(known))}" if known else "promote a version first",
        )

    def versions(self, name: str) -> list[ModelVersion]:
        with self._db.read() as conn:
            found = conn.execute(
                sa.select(model_versions)
                .where(model_versions.c.name == name, rows.ACTIVE)
                .order_by(model_versions.c.version)
            ).all()
            if not found:
                raise no_model(name)
            by_version: dict[int, list[str]] = {}
            for alias, version in rows.aliases_of(conn, name).items():
                by_version.setdefault(version, []).append(alias)
        return [to_version(r, by_version.get(r.version, ())) for r in found]

    def list_models(
        self, name: str | None = None, *, offset: int = 0, limit: int | None = None
    ) -> list[RegisteredModel]:
        """Every model (or one, or a page of them by name) with its latest version, number of
        versions and aliases."""
        with self._db.read() as conn:
            return rows.list_models(conn, name, offset, limit)

    def versions_page(self, name: str, offset: int, limit: int) -> list[ModelVersion]:
        """Versions of name, newest first, [offset, offset+limit): paged in SQL."""
        with self._db.read() as conn:
            found = conn.execute(
                sa.select(model_versions)
                .where(model_versions.c.name == name, rows.ACTIVE)
                .order_by(model_versions.c.version.desc())
                .offset(offset)
                .limit(limit)
            ).all()
            if not found:
                _require_model(conn, name)
            by_version: dict[int, list[str]] = {}
            for alias, version in rows.aliases_of(conn, name).items():
                by_version.setdefault(version, []).append(alias)
        return [to_version(r, by_version.get(r.version, ())) for r in found]

    def events_page(
        self, name: str, offset: int, limit: int, *, newest_first: bool = False, version: int | None = None
    ) -> list[ModelEvent]:
        """Events of name (or of one version), by id, [offset, offset+limit): paged in SQL."""
        e = model_events.c
        query = sa.select(model_events).where(e.name == name)
        if version is not None:
            query = query.where(e.version == version)
        order = e.id.desc() if newest_first else e.id
        with self._db.read() as conn:
            found = conn.execute(query.order_by(order).offset(offset).limit(limit)).all()
            if not found:
                _require_model(conn, name)
        return [to_event(r) for r in found]

    def awaiting(
        self,
        aliases: Sequence[str],
        names: Sequence[str] | None = None,
        versions: Sequence[int] | None = None,
    ) -> dict[tuple[str, int], list[str]]:
        """Versions awaiting an approval for one of `aliases` (protected aliases): newer than
        the version the alias points at (any, if it points nowhere), gates not failed, and not
        yet approved for it. One query per alias; `names`/`versions` narrow it to a page."""
        v, a, e = model_versions.c, model_aliases.c, model_events.c
        found: dict[tuple[str, int], list[str]] = {}
        with self._db.read() as conn:
            for alias in aliases:  # two plain queries: no per-version subquery over the events
                joined = sa.and_(a.name == v.name, a.alias == alias)
                query = (
                    sa.select(v.name, v.version)
                    .select_from(model_versions.outerjoin(model_aliases, joined))
                    .where(
                        rows.ACTIVE,
                        v.version > sa.func.coalesce(a.version, 0),
                        sa.or_(v.gates_passed.is_(None), v.gates_passed.is_(True)),
                    )
                )
                approved_q = sa.select(e.name, e.version).where(e.kind == "approve", e.alias == alias)
                if names is not None:
                    query = query.where(v.name.in_(list(names)))
                    approved_q = approved_q.where(e.name.in_(list(names)))
                if versions is not None:
                    query = query.where(v.version.in_(list(versions)))
                    approved_q = approved_q.where(e.version.in_(list(versions)))
                approved = {(n, number) for n, number in conn.execute(approved_q)}
                for name, number in conn.execute(query):
                    if (name, number) not in approved:
                        found.setdefault((name, number), []).append(alias)
        return found

    def approvals_of(self, name: str, versions: Sequence[int]) -> dict[int, list[ModelEvent]]:
        """Approvals (approve, approve_removal) of the given versions of name, oldest first."""
        e = model_events.c
        query = (
            sa.select(model_events)
            .where(e.name == name, e.version.in_(list(versions)), e.kind.in_(["approve", "approve_removal"]))
            .order_by(e.id)
        )
        found: dict[int, list[ModelEvent]] = {}
        with self._db.read() as conn:
            for row in conn.execute(query):
                found.setdefault(row.version, []).append(to_event(row))
        return found

    def tracked_run(self, run_id: str) -> bool:
        """Whether run_id is a tracked (MLflow-style) run of an experiment, not a pipeline run."""
        with self._db.read() as conn:
            found = conn.execute(sa.select(runs.c.experiment_id).where(runs.c.id == run_id)).first()
        return found is not None and found.experiment_id is not None

    def alias_metrics(self, names: Sequence[str], alias: str) -> dict[str, tuple[int, dict[str, float]]]:
        """For each of names with `alias`: the version it points at and that version's metrics."""
        v, a = model_versions.c, model_aliases.c
        query = (
            sa.select(a.name, a.version, v.metrics_json)
            .join(model_versions, sa.and_(v.name == a.name, v.version == a.version))
            .where(a.alias == alias, a.name.in_(list(names)))
        )
        with self._db.read() as conn:
            return {
                name: (number, json.loads(metrics) if metrics else {})
                for name, number, metrics in conn.execute(query)
            }

    def history(self, name: str) -> list[ModelEvent]:
        with self._db.read() as conn:
            events = conn.execute(
                sa.select(model_events).where(model_events.c.name == name).order_by(model_events.c.id)
            ).all()
        if not events:
            raise no_model(name)
        return [to_event(r) for r in events]

    def approvals(self, name: str, version: int, alias: str, kind: str = "approve") -> list[ModelEvent]:
        with self._db.read() as conn:
            return rows.approvals(conn, name, version, alias, kind)

    def registrant(self, name: str, version: int) -> str | None:
        """Who registered `version` (its register event's actor)."""
        with self._db.read() as conn:
            return conn.execute(
                sa.select(model_events.c.actor).where(
                    model_events.c.name == name,
                    model_events.c.kind == "register",
                    model_events.c.version == version,
                )
            ).scalar()


def _require_model(conn: sa.Connection, name: str) -> None:
    """NotFound unless a registered model of that name exists (an empty page of one that does is
    just empty)."""
    named = sa.select(registered_models.c.name).where(
        registered_models.c.name == name, registered_models.c.lifecycle == "active"
    )
    if conn.execute(named).first() is None:
        raise no_model(name)
