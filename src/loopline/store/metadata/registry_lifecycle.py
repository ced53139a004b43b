"""Delete, restore, rename and describe registered models and versions, and delete their tags.

Deleting is soft: the rows stay with `lifecycle = 'deleted'` (registry_rows.py leaves them out
of every read) until `loopline gc` removes them. The aliases of a deleted version are removed
in the same transaction, each through the caller's `check` (Registry's governance: the removal
of a protected alias needs an approval), and each removal is an `alias_delete` event, as
`loopline models delete-alias` makes; if one check refuses, nothing is deleted. A restore
brings back the model and the versions deleted with it, never their aliases (promote again).

A rename moves every row that names the model (versions, aliases, the registry's events,
MLflow's version records, grants, monitoring and prediction records) in one transaction; the
audit log keeps its events as they were written (it is an append-only hash chain).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from loopline.core.errors import Conflict, InvalidInput, NotFound
from loopline.store.metadata import registry_rows as rows
from loopline.store.metadata.database import Database, HasDatabase, as_database
from loopline.store.metadata.mlflow_models import mlflow_model_versions
from loopline.store.metadata.model_records import ModelEvent, ModelVersion, check_model_name, to_version
from loopline.store.metadata.monitor import monitor_alerts, monitor_profiles, monitor_reports
from loopline.store.metadata.predictions import prediction_batches, prediction_truths
from loopline.store.metadata.tables import (
    grants,
    model_aliases,
    model_events,
    model_versions,
    registered_models,
)
from loopline.store.metadata.times import utc_now

# The check of removing one alias from a version (Registry._checked's), given that alias.
AliasCheck = Callable[[str], Callable[[ModelVersion, list[ModelEvent]], None]]

# Every other table whose `model` column names a registered model: moved by a rename.
_NAMED_BY_MODEL = (monitor_profiles, monitor_reports, monitor_alerts, prediction_batches, prediction_truths)


def _version_where(name: str, version: int) -> Any:
    return sa.and_(model_versions.c.name == name, model_versions.c.version == version)


class RegistryLifecycle:
    def __init__(self, db: Database | HasDatabase) -> None:
        self._db = as_database(db)

    def _drop_aliases(
        self, conn: sa.Connection, name: str, row: Any, *, actor: str, reason: str, check: AliasCheck
    ) -> list[str]:
        """Remove every alias pointing at the version of `row`, each checked first; the aliases."""
        held = sorted(a for a, v in rows.aliases_of(conn, name).items() if v == row.version)
        version = to_version(row, held)
        for alias in held:  # every check before any removal: a refusal leaves all in place
            check(alias)(version, rows.approvals(conn, name, row.version, alias, "approve_removal"))
        for alias in held:
            conn.execute(
                model_aliases.delete().where(model_aliases.c.name == name, model_aliases.c.alias == alias)
            )
            rows.add_event(
                conn, name, "alias_delete", actor, reason, version=None, alias=alias, from_version=row.version
            )
        return held

    # -- delete / restore ------------------------------------------------------------------------
    def delete_version(
        self, name: str, version: int, *, actor: str, reason: str, check: AliasCheck
    ) -> list[str]:
        """Mark one version deleted, its aliases removed; the aliases it had."""

        def work(conn: sa.Connection) -> list[str]:
            rows.lock_model(conn, name)
            row = rows.version_row(conn, name, version)
            removed = self._drop_aliases(conn, name, row, actor=actor, reason=reason, check=check)
            conn.execute(
                model_versions.update()
                .where(_version_where(name, version))
                .values(lifecycle="deleted", deleted_at=utc_now())
            )
            rows.add_event(conn, name, "delete", actor, reason, version=version)
            return removed

        return self._db.write(
            work,
            lambda removed: self._db.change(
                "model.delete_version", f"{name}@{version}", actor=actor, before={"aliases": removed}
            ),
        )

    def delete_model(self, name: str, *, actor: str, reason: str, check: AliasCheck) -> list[str]:
        """Mark the model and every version of it deleted, all aliases removed; the aliases."""

        def work(conn: sa.Connection) -> list[str]:
            rows.lock_model(conn, name)
            removed: list[str] = []
            active = conn.execute(sa.select(model_versions).where(model_versions.c.name == name, rows.ACTIVE))
            for row in active.all():
                removed += self._drop_aliases(conn, name, row, actor=actor, reason=reason, check=check)
            for alias in rows.aliases_of(conn, name):  # none should be left; never leave one dangling
                raise Conflict(f"alias {alias!r} of {name} points at no active version")
            now = utc_now()
            conn.execute(
                model_versions.update()
                .where(model_versions.c.name == name, rows.ACTIVE)
                .values(lifecycle="deleted", deleted_at=now)
            )
            conn.execute(
                registered_models.update()
                .where(registered_models.c.name == name)
                .values(lifecycle="deleted", deleted_at=now, updated_at=now)
            )
            rows.add_event(conn, name, "delete", actor, reason)
            return removed

        return self._db.write(
            work,
            lambda removed: self._db.change(
                "model.delete", name, actor=actor, before={"aliases": sorted(removed)}
            ),
        )

    def restore_model(self, name: str, *, actor: str, reason: str = "") -> int:
        """Make a deleted model active again with the versions deleted with it; how many."""

        def work(conn: sa.Connection) -> int:
            row = rows.lock_any(conn, name)
            if row.lifecycle == "active":
                raise Conflict(
                    f"registered model {name!r} is not deleted",
                    hint=f"restore one of its versions: `loopline models restore {name} --version N`",
                )
            back = conn.execute(
                model_versions.update()
                .where(
                    model_versions.c.name == name,
                    model_versions.c.lifecycle == "deleted",
                    model_versions.c.deleted_at == row.deleted_at,
                )
                .values(lifecycle="active", deleted_at=None)
            )
            conn.execute(
                registered_models.update()
                .where(registered_models.c.name == name)
                .values(lifecycle="active", deleted_at=None, updated_at=utc_now())
            )
            rows.add_event(conn, name, "restore", actor, reason)
            return int(back.rowcount)

        return self._db.write(
            work, lambda n: self._db.change("model.restore", name, actor=actor, after={"versions": n})
        )

    def restore_version(self, name: str, version: int, *, actor: str, reason: str = "") -> None:
        def work(conn: sa.Connection) -> None:
            rows.lock_model(conn, name)  # NotFound for a deleted model: restore the model first
            row = conn.execute(
                sa.select(model_versions.c.lifecycle).where(_version_where(name, version))
            ).first()
            if row is None:
                raise NotFound(
                    f"model {name} has no version {version}", hint="`loopline gc` may have removed it"
                )
            if row.lifecycle == "active":
                raise Conflict(f"{name} version {version} is not deleted")
            conn.execute(
                model_versions.update()
                .where(_version_where(name, version))
                .values(lifecycle="active", deleted_at=None)
            )
            rows.add_event(conn, name, "restore", actor, reason, version=version)

        self._db.write(work, self._db.change("model.restore_version", f"{name}@{version}", actor=actor))

    # -- rename, descriptions, tags -----------------------------------------------------------------
    def rename(self, name: str, new_name: str, *, actor: str) -> None:
        """Rename the model; a deleted model holding new_name is removed for good first (as a
        create under that name does: MLflow's delete is final)."""
        check_model_name(new_name)

        def work(conn: sa.Connection) -> None:
            old = rows.lock_model(conn, name)
            if new_name == name:
                return
            held = conn.execute(
                sa.select(registered_models.c.lifecycle).where(registered_models.c.name == new_name)
            ).first()
            if held is not None and held.lifecycle == "active":
                raise Conflict(f"registered model {new_name!r} exists already", hint="choose another name")
            if held is not None:
                from loopline.store.metadata.gc import purge_model

                purge_model(conn, new_name)
            conn.execute(
                registered_models.insert().values(
                    name=new_name,
                    description=old.description,
                    tags_json=old.tags_json,
                    created_at=old.created_at,
                    updated_at=utc_now(),
                    lifecycle="active",
                )
            )
            for table in (model_versions, model_aliases, model_events, mlflow_model_versions):
                conn.execute(table.update().where(table.c.name == name).values(name=new_name))
            for table in _NAMED_BY_MODEL:
                conn.execute(table.update().where(table.c.model == name).values(model=new_name))
            conn.execute(
                grants.update()
                .where(grants.c.resource == "model", grants.c.resource_name == name)
                .values(resource_name=new_name)
            )
            conn.execute(registered_models.delete().where(registered_models.c.name == name))
            rows.add_event(conn, new_name, "rename", actor, f"renamed from {name}")

        self._db.write(
            work,
            self._db.change(
                "model.rename", name, actor=actor, before={"name": name}, after={"name": new_name}
            ),
        )

    def describe_model(self, name: str, description: str, *, actor: str) -> None:
        def work(conn: sa.Connection) -> str:
            before = str(rows.lock_model(conn, name).description)
            conn.execute(
                registered_models.update()
                .where(registered_models.c.name == name)
                .values(description=description, updated_at=utc_now())
            )
            return before

        self._db.write(
            work,
            lambda before: self._db.change(
                "model.describe",
                name,
                actor=actor,
                before={"description": before},
                after={"description": description},
            ),
        )

    def describe_version(self, name: str, version: int, description: str, *, actor: str) -> None:
        def work(conn: sa.Connection) -> str:
            rows.lock_model(conn, name)
            before = str(rows.version_row(conn, name, version).description)
            conn.execute(
                model_versions.update().where(_version_where(name, version)).values(description=description)
            )
            return before

        self._db.write(
            work,
            lambda before: self._db.change(
                "model.describe_version",
                f"{name}@{version}",
                actor=actor,
                before={"description": before},
                after={"description": description},
            ),
        )

    def delete_model_tag(self, name: str, key: str, *, actor: str) -> None:
        """Remove a tag of the model (a tag it does not have: nothing to do, as MLflow)."""

        def work(conn: sa.Connection) -> None:
            row = rows.lock_model(conn, name)
            tags = json.loads(row.tags_json) if row.tags_json else {}
            if tags.pop(key, None) is not None:
                conn.execute(
                    registered_models.update()
                    .where(registered_models.c.name == name)
                    .values(
                        tags_json=json.dumps(tags, sort_keys=True) if tags else None, updated_at=utc_now()
                    )
                )

        self._db.write(work, self._db.change("model.delete_tag", f"{name}:{key}", actor=actor))

    def delete_version_tag(self, name: str, version: int, key: str, *, actor: str) -> None:
        """Remove a tag of a version (one it does not have, or a version registered by loopline,
        which has no MLflow tags: nothing to do, as MLflow)."""

        def work(conn: sa.Connection) -> None:
            rows.version_row(conn, name, version)
            where = sa.and_(mlflow_model_versions.c.name == name, mlflow_model_versions.c.version == version)
            row = conn.execute(sa.select(mlflow_model_versions.c.tags_json).where(where)).first()
            tags = json.loads(row.tags_json) if row is not None else {}
            if tags.pop(key, None) is not None:
                conn.execute(
                    mlflow_model_versions.update()
                    .where(where)
                    .values(tags_json=json.dumps(tags, sort_keys=True))
                )

        self._db.write(
            work, self._db.change("model.delete_version_tag", f"{name}@{version}:{key}", actor=actor)
        )


def check_description(description: object) -> str:
    if not isinstance(description, str) or len(description) > 100_000:
        raise InvalidInput("a description must be text of at most 100,000 characters")
    return description
