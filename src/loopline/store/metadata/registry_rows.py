"""The registry's row helpers and its listing query, shared by the repository (registry.py):
locking a model, reading a version, its aliases and approvals, appending an event.

Deleted models and versions (lifecycle 'deleted', registry_lifecycle.py) are left out here, so
every read built on these helpers (Registry.models/resolve/load, serving, the dashboard, the
REST and MLflow APIs) sees them gone until they are restored."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from loopline.core.errors import NotFound
from loopline.store.metadata.model_records import ModelEvent, to_event
from loopline.store.metadata.summaries import RegisteredModel, VersionSummary
from loopline.store.metadata.tables import model_aliases, model_events, model_versions, registered_models
from loopline.store.metadata.times import as_aware, utc_now


def no_model(name: str) -> NotFound:
    return NotFound(f"no registered model {name!r}", hint="`loopline models` lists them")


def lock_any(conn: sa.Connection, name: str) -> Any:
    """The model's row, deleted or not, locked for this transaction (FOR UPDATE; SQLite's write
    lock is whole)."""
    row = conn.execute(
        sa.select(registered_models).where(registered_models.c.name == name).with_for_update()
    ).first()
    if row is None:
        raise no_model(name)
    return row


def lock_model(conn: sa.Connection, name: str) -> Any:
    """The active model's row, locked: a deleted model is gone to every write but a restore."""
    row = lock_any(conn, name)
    if row.lifecycle != "active":
        raise NotFound(
            f"registered model {name!r} is deleted",
            hint=f"`loopline models restore {name}` brings it back; `loopline gc` removes it for good",
        )
    return row


ACTIVE = model_versions.c.lifecycle == "active"


def version_row(conn: sa.Connection, name: str, version: int) -> Any:
    """An active version's row (a deleted version is gone to every read until restored)."""
    row = conn.execute(
        sa.select(model_versions).where(
            model_versions.c.name == name, model_versions.c.version == version, ACTIVE
        )
    ).first()
    if row is None:
        top = conn.execute(
            sa.select(sa.func.max(model_versions.c.version)).where(model_versions.c.name == name, ACTIVE)
        ).scalar()
        if top is None:
            raise no_model(name)
        raise NotFound(f"model {name} has no version {version}", hint=f"versions are 1 to {top}")
    return row


def add_event(conn: sa.Connection, name: str, kind: str, actor: str, reason: str, **values: Any) -> None:
    conn.execute(
        model_events.insert().values(name=name, kind=kind, actor=actor, reason=reason, at=utc_now(), **values)
    )


def aliases_of(conn: sa.Connection, name: str) -> dict[str, int]:
    rows = conn.execute(sa.select(model_aliases).where(model_aliases.c.name == name))
    return {r.alias: r.version for r in rows}


def approvals(
    conn: sa.Connection, name: str, version: int, alias: str, kind: str = "approve"
) -> list[ModelEvent]:
    """Approvals of `version` for `alias` (kind "approve": to point it there; "approve_removal":
    to remove the alias from it), oldest first."""
    rows = conn.execute(
        sa.select(model_events)
        .where(
            model_events.c.name == name,
            model_events.c.kind == kind,
            model_events.c.version == version,
            model_events.c.alias == alias,
        )
        .order_by(model_events.c.id)
    )
    return [to_event(r) for r in rows]


def list_models(
    conn: sa.Connection, name: str | None = None, offset: int = 0, limit: int | None = None
) -> list[RegisteredModel]:
    """Every model (or one; or the page [offset, offset+limit) by name) with its latest
    version, number of versions and aliases: two queries whatever the number of models."""
    v = model_versions.c
    top = (
        sa.select(v.name, sa.func.max(v.version).label("top"), sa.func.count().label("n"))
        .where(ACTIVE)
        .group_by(v.name)
    )
    if name is not None:
        top = top.where(v.name == name)
    m = registered_models.c
    if limit is not None:
        names = list(
            conn.execute(
                sa.select(m.name).where(m.lifecycle == "active").order_by(m.name).offset(offset).limit(limit)
            ).scalars()
        )
        top = top.where(v.name.in_(names))
    top_q = top.subquery()
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
        .where(m.lifecycle == "active")  # deleted models are in no listing
        .order_by(m.name)
    )
    aliases_q = sa.select(model_aliases.c.name, model_aliases.c.alias, model_aliases.c.version)
    if name is not None:
        query = query.where(m.name == name)
        aliases_q = aliases_q.where(model_aliases.c.name == name)
    if limit is not None:
        query = query.where(m.name.in_(names))
        aliases_q = aliases_q.where(model_aliases.c.name.in_(names))
    rows = conn.execute(query).all()
    aliases: dict[str, dict[str, int]] = {}
    for model_name, alias, version in conn.execute(aliases_q):
        aliases.setdefault(model_name, {})[alias] = version
    loads = json.loads
    found = []
    for name_, description, created, updated, tags, n, version, art, run, status, gates, metrics, at in rows:
        latest = None
        if version is not None:
            latest = VersionSummary(
                version, art, run, status, gates, loads(metrics) if metrics else {}, as_aware(at)
            )
        mine = aliases.get(name_)
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
