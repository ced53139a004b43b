"""INSERT … ON CONFLICT for both engines: SQLite and PostgreSQL spell it alike, SQLAlchemy gives
each its own construct. Shared by tracking, MLflow and the prediction index.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from loopline.store.metadata.tables import metrics_latest, run_tags


def dialect_insert(dialect: str, table: sa.Table) -> Any:
    """The dialect's INSERT that takes ON CONFLICT (SQLite and PostgreSQL spell it alike)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


@lru_cache(maxsize=4)
def upsert_latest(dialect: str) -> Any:
    """Keep the value with the highest step (then the latest time), as MLflow's latest metric."""
    stmt = dialect_insert(dialect, metrics_latest)
    newer = sa.or_(
        stmt.excluded.step > metrics_latest.c.step,
        sa.and_(
            stmt.excluded.step == metrics_latest.c.step,
            stmt.excluded.timestamp >= metrics_latest.c.timestamp,
        ),
    )
    return stmt.on_conflict_do_update(
        index_elements=[metrics_latest.c.run_id, metrics_latest.c.key],
        set_={
            "value": stmt.excluded.value,
            "step": stmt.excluded.step,
            "timestamp": stmt.excluded.timestamp,
        },
        where=newer,
    )


@lru_cache(maxsize=4)
def upsert_tags(dialect: str) -> Any:
    stmt = dialect_insert(dialect, run_tags)
    return stmt.on_conflict_do_update(
        index_elements=[run_tags.c.run_id, run_tags.c.key], set_={"value": stmt.excluded.value}
    )


def insert_ignore(dialect: str, table: sa.Table, keys: Sequence[str]) -> Any:
    """INSERT that skips rows whose key exists (a batch retried after an ambiguous commit)."""
    return dialect_insert(dialect, table).on_conflict_do_nothing(index_elements=list(keys))


def upsert(dialect: str, table: sa.Table, keys: Sequence[str], update: Sequence[str]) -> Any:
    stmt = dialect_insert(dialect, table)
    return stmt.on_conflict_do_update(
        index_elements=list(keys), set_={c: getattr(stmt.excluded, c) for c in update}
    )
