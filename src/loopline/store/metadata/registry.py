"""The model registry on SQLAlchemy (SQLite and PostgreSQL): registered models, numbered versions,
aliases and the event history of every transition.

Every write that reads a model's state and then changes it (the next version number, an alias and
the version it replaces, a rollback target) first locks the model's row: on PostgreSQL with
`FOR UPDATE`, on SQLite by BEGIN IMMEDIATE. So concurrent registrations get consecutive numbers
and two promotions never both record the same `from` version.

Policy (which promotions are allowed) lives in loopline.registry; this module only keeps records.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa

from loopline.core.errors import Conflict, InvalidInput, NotFound
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
from loopline.store.metadata.summaries import RegisteredModel, VersionSummary
from loopline.store.metadata.tables import (
    artifacts,
    model_aliases,
    model_events,
    model_versions,
    registered_models,
    runs,
)
from loopline.store.metadata.times import as_aware, utc_now

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


class SqlRegistryRepository:
    def __init__(self, db: Database | HasDatabase) -> None:
        self._db = as_database(db)

    # -- helpers -----------------------------------------------------------------------------
    @staticmethod
    def _lock_model(conn: sa.Connection, name: str) -> Any:
        row = conn.execute(
            sa.select(registered_models).where(registered_models.c.name == name).with_for_update()
        ).first()
        if row is None:
            raise NotFound(f"no registered model {name!r}", hint="`loopline models` lists them")
        return row

    @staticmethod
    def _version_row(conn: sa.Connection, name: str, version: int) -> Any:
        row = conn.execute(
            sa.select(model_versions).where(
                model_versions.c.name == name, model_versions.c.version == version
            )
        ).first()
        if row is None:
            top = conn.execute(
                sa.select(sa.func.max(model_versions.c.version)).where(model_versions.c.name == name)
            ).scalar()
            if top is None:
                raise NotFound(f"no registered model {name!r}", hint="`loopline models` lists them")
            raise NotFound(f"model {name} has no version {version}", hint=f"versions are 1 to {top}")
        return row

    @staticmethod
    def _event(conn: sa.Connection, name: str, kind: str, actor: str, reason: str, **values: Any) -> None:
        conn.execute(
            model_events.insert().values(
                name=name, kind=kind, actor=actor, reason=reason, at=utc_now(), **values
            )
        )

    def _aliases_of(self, conn: sa.Connection, name: str) -> dict[str, int]:
        rows = conn.execute(sa.select(model_aliases).where(model_aliases.c.name == name))
        return {r.alias: r.version for r in rows}

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
            self._lock_model(conn, name)
            top = conn.execute(
                sa.select(sa.func.max(model_versions.c.version)).where(model_versions.c.name == name)
            ).scalar()
            version = (top or 0) + 1
            conn.execute(
                model_versions.insert().values(
                    name=name,
                    version=version,
                    artifact_id=artifact_id,
                    run_id=run_id,
                    status="ready",
                    gates_passed=gates_passed,
                    gate_report_json=json.dumps(gate_report, sort_keys=True, default=str)
                    if gate_report is not None
                    else None,
                    metrics_json=metrics_json,
                    signature_json=json.dumps(signature) if signature is not None else None,
                    card_json=json.dumps(card, sort_keys=True, default=str) if card is not None else None,
                    description=description,
                    created_at=created,
                )
            )
            conn.execute(
                registered_models.update().where(registered_models.c.name == name).values(updated_at=created)
            )
            self._event(conn, name, "register", actor, reason, version=version)
            return version

        return self.get_version(
            name, self._db.write(work, self._db.change("model.register", name, actor=actor))
        )

    def set_gates(
        self, name: str, version: int, passed: bool, report: Mapping[str, Any] | None, *, actor: str
    ) -> ModelVersion:
        def work(conn: sa.Connection) -> None:
            self._lock_model(conn, name)
            self._version_row(conn, name, version)
            conn.execute(
                model_versions.update()
                .where(model_versions.c.name == name, model_versions.c.version == version)
                .values(
                    gates_passed=passed,
                    gate_report_json=json.dumps(report, sort_keys=True, default=str) if report else None,
                )
            )
            self._event(conn, name, "gates", actor, "passed" if passed else "failed", version=version)

        self._db.write(work, self._db.change("model.set_gates", f"{name}@{version}", actor=actor))
        return self.get_version(name, version)

    def set_card(self, name: str, version: int, card: Mapping[str, Any]) -> None:
        def work(conn: sa.Connection) -> None:
            self._version_row(conn, name, version)
            conn.execute(
                model_versions.update()
                .where(model_versions.c.name == name, model_versions.c.version == version)
                .values(card_json=json.dumps(card, sort_keys=True, default=str))
            )

        self._db.write(work, self._db.change("model.set_card", f"{name}@{version}"))

    def approve(self, name: str, version: int, alias: str, *, actor: str, reason: str) -> ModelEvent:
        check_alias(alias)

        def work(conn: sa.Connection) -> None:
            self._lock_model(conn, name)
            self._version_row(conn, name, version)
            self._event(conn, name, "approve", actor, reason, version=version, alias=alias)

        self._db.write(work, self._db.change("model.approve", f"{name}@{version}", actor=actor))
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
        check: Callable[[ModelVersion, list[ModelEvent]], None] | None = None,
    ) -> int | None:
        """Point alias at version (None: delete it) and record the event; the previous version.
        `check` sees the version and its approvals for alias under the model's lock and may
        raise to refuse (then nothing is written)."""
        check_alias(alias)

        def work(conn: sa.Connection) -> int | None:
            self._lock_model(conn, name)
            current = self._aliases_of(conn, name).get(alias)
            if check is not None and version is not None:
                row = self._version_row(conn, name, version)
                check(to_version(row), self._approvals(conn, name, version, alias))
            if version is None:
                if current is None:
                    raise NotFound(f"model {name} has no alias {alias!r}")
                conn.execute(
                    model_aliases.delete().where(model_aliases.c.name == name, model_aliases.c.alias == alias)
                )
            else:
                self._version_row(conn, name, version)
                if current is None:
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
            self._event(conn, name, kind, actor, reason, version=version, alias=alias, from_version=current)
            return current

        return self._db.write(
            work,
            self._db.change(
                f"model.{kind}", f"{name}@{version}" if version is not None else name, actor=actor
            ),
        )

    def rollback(self, name: str, alias: str, *, actor: str, reason: str) -> tuple[int, int]:
        """Undo the latest promotion of alias not yet undone: (from version, back to version)."""
        check_alias(alias)

        def work(conn: sa.Connection) -> tuple[int, int]:
            self._lock_model(conn, name)
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
            current = self._aliases_of(conn, name).get(alias)
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
            conn.execute(
                model_aliases.update()
                .where(model_aliases.c.name == name, model_aliases.c.alias == alias)
                .values(version=previous, updated_at=utc_now())
            )
            self._event(
                conn, name, "rollback", actor, reason, version=previous, alias=alias, from_version=current
            )
            return current, previous

        return self._db.write(work, self._db.change("model.rollback", name, actor=actor))

    # -- reads -------------------------------------------------------------------------------
    def get_version(self, name: str, version: int) -> ModelVersion:
        with self._db.read() as conn:
            row = self._version_row(conn, name, version)
            aliases = [a for a, v in self._aliases_of(conn, name).items() if v == version]
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
            .where(model_aliases.c.name == name, model_aliases.c.alias == alias)
        )
        with self._db.read() as conn:
            row = conn.execute(query).first()
            known = self._aliases_of(conn, name)
            if row is None:
                exists = conn.execute(
                    sa.select(registered_models.c.name).where(registered_models.c.name == name)
                ).first()
        if row is not None:
            return to_version(row, [a for a, v in known.items() if v == row.version])
        if exists is None:
            raise NotFound(f"no registered model {name!r}", hint="`loopline models` lists them")
        raise NotFound(
            f"model {name} has no alias {alias!r}",
            hint=f"its aliases: {', '.join(sorted(known))}" if known else "promote a version first",
        )

    def versions(self, name: str) -> list[ModelVersion]:
        with self._db.read() as conn:
            rows = conn.execute(
                sa.select(model_versions)
                .where(model_versions.c.name == name)
                .order_by(model_versions.c.version)
            ).all()
            if not rows:
                raise NotFound(f"no registered model {name!r}", hint="`loopline models` lists them")
            by_version: dict[int, list[str]] = {}
            for alias, version in self._aliases_of(conn, name).items():
                by_version.setdefault(version, []).append(alias)
        return [to_version(r, by_version.get(r.version, ())) for r in rows]

    def list_models(self, name: str | None = None) -> list[RegisteredModel]:
        """Every model (or one) with its latest version, number of versions and aliases: two
        queries whatever the number of models."""
        v = model_versions.c
        top = sa.select(v.name, sa.func.max(v.version).label("top"), sa.func.count().label("n")).group_by(
            v.name
        )
        if name is not None:
            top = top.where(v.name == name)
        top_q = top.subquery()
        m = registered_models.c
        query = (
            sa.select(
                m.name,
                m.description,
                m.created_at,
                m.updated_at,
                m.tags_json,
                top_q.c.n,
                v.version,
                v.artifact_id,
                v.run_id,
                v.status,
                v.gates_passed,
                v.metrics_json,
                v.created_at.label("version_created_at"),
            )
            .select_from(registered_models)
            .outerjoin(top_q, top_q.c.name == m.name)
            .outerjoin(model_versions, sa.and_(v.name == m.name, v.version == top_q.c.top))
            .order_by(m.name)
        )
        aliases_q = sa.select(model_aliases.c.name, model_aliases.c.alias, model_aliases.c.version)
        if name is not None:
            query = query.where(m.name == name)
            aliases_q = aliases_q.where(model_aliases.c.name == name)
        with self._db.read() as conn:
            rows = conn.execute(query).all()
            aliases: dict[str, dict[str, int]] = {}
            for model_name, alias, version in conn.execute(aliases_q):
                aliases.setdefault(model_name, {})[alias] = version
        loads = json.loads
        no_aliases: dict[str, int] = {}
        found = []
        for (
            name_,
            description,
            created,
            updated,
            tags,
            n,
            version,
            art,
            run,
            status,
            gates,
            metrics,
            at,
        ) in rows:
            latest = None
            if version is not None:
                metrics = loads(metrics) if metrics else {}
                latest = VersionSummary(version, art, run, status, gates, metrics, as_aware(at))
            mine = aliases.get(name_, no_aliases)
            found.append(
                RegisteredModel(
                    name=name_,
                    description=description,
                    created_at=as_aware(created),
                    updated_at=as_aware(updated),
                    latest=latest,
                    versions=n or 0,
                    aliases=dict(sorted(mine.items())) if mine else {},
                    tags=loads(tags) if tags else {},
                )
            )
        return found

    def history(self, name: str) -> list[ModelEvent]:
        with self._db.read() as conn:
            rows = conn.execute(
                sa.select(model_events).where(model_events.c.name == name).order_by(model_events.c.id)
            ).all()
        if not rows:
            raise NotFound(f"no registered model {name!r}", hint="`loopline models` lists them")
        return [to_event(r) for r in rows]

    @staticmethod
    def _approvals(conn: sa.Connection, name: str, version: int, alias: str) -> list[ModelEvent]:
        rows = conn.execute(
            sa.select(model_events)
            .where(
                model_events.c.name == name,
                model_events.c.kind == "approve",
                model_events.c.version == version,
                model_events.c.alias == alias,
            )
            .order_by(model_events.c.id)
        )
        return [to_event(r) for r in rows]

    def approvals(self, name: str, version: int, alias: str) -> list[ModelEvent]:
        with self._db.read() as conn:
            return self._approvals(conn, name, version, alias)
