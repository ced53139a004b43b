"""Database: the one write path of loopline's metadata, shared by every repository.

Every state change goes through `write(work, change)`: one short transaction, retried on lock
contention and on a unique key taken by a concurrent writer, so concurrent pipelines on one
SQLite file never show "database is locked" to a user. The `Change` names who did what to which
object; a journal given when the store is built is called with it inside the same transaction,
so what it records (the audit log) commits or rolls back with the change itself.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa

from loopline.core.errors import Conflict, StorageError

__all__ = ["Change", "ChangeOf", "Database", "HasDatabase", "Journal", "as_database", "inserted_id"]

T = TypeVar("T")
_RETRIES = 12


@dataclass(frozen=True)
class Change:
    """Who (`actor`) did what (`action`, e.g. "dataset.add_version") to which `object` ("iris@3"),
    and, where a write knows them, the state `before` and `after` (JSON-able, for the audit log)."""

    actor: str
    action: str
    object: str
    before: Any = None
    after: Any = None


Journal = Callable[[sa.Connection, Change], None]
# A write names its Change up front, or as a function of what its work returned (a new version
# number, the version an alias pointed at), computed inside the transaction.
ChangeOf = Change | Callable[[Any], Change]


def _is_contention(exc: sa.exc.DBAPIError) -> bool:
    text = str(exc.orig).lower()
    return "locked" in text or "busy" in text or "deadlock" in text or "serializ" in text


def _is_race(exc: sa.exc.DBAPIError) -> bool:
    """A unique key taken by a concurrent writer (a version number, an artifact id): retry."""
    if not isinstance(exc, sa.exc.IntegrityError):
        return False
    text = str(exc.orig).lower()
    return getattr(exc.orig, "sqlstate", None) == "23505" or "unique constraint" in text


class Database:
    """One engine, its reads and its retried, journalled writes."""

    def __init__(
        self, engine: sa.Engine, url: str, *, actor: str = "unknown", journal: Journal | None = None
    ) -> None:
        self.engine = engine
        self.url = url
        self.actor = actor  # who the writes of this store are by, unless a write names another
        self.journal = journal

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def change(
        self, action: str, obj: object, *, actor: str | None = None, before: Any = None, after: Any = None
    ) -> Change:
        """A Change by this store's actor (or `actor`, when a write names its own)."""
        return Change(actor or self.actor, action, str(obj), before, after)

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except sa.exc.OperationalError as exc:
            raise StorageError(f"metadata store failed: {exc.orig}", where=self.url) from exc

    def record(self, change: Change) -> None:
        """Journal an event that changes nothing (a read that must be on record: a label export)."""
        self.write(lambda conn: None, change)

    def write(self, work: Callable[[sa.Connection], T], change: ChangeOf) -> T:
        """Run `work`, then the journal, in one write transaction, retrying on lock contention
        with jittered backoff. `change` may be a function of work's result."""
        for attempt in range(_RETRIES):
            try:
                with (
                    self.engine.connect().execution_options(loopline_write=True) as conn,
                    conn.begin(),
                ):
                    result = work(conn)
                    if self.journal is not None:
                        self.journal(conn, change if isinstance(change, Change) else change(result))
                    return result
            except sa.exc.DBAPIError as exc:
                if not _is_contention(exc) and not _is_race(exc):
                    raise StorageError(f"metadata store failed: {exc.orig}", where=self.url) from exc
                if attempt == _RETRIES - 1 and _is_race(exc):
                    raise Conflict(
                        f"metadata write still clashes with an existing row after {_RETRIES} "
                        f"attempts: {exc.orig}",
                        where=self.url,
                    ) from exc
                if attempt == _RETRIES - 1:
                    raise StorageError(
                        f"metadata store stayed busy after {_RETRIES} attempts: {exc.orig}",
                        where=self.url,
                        hint="another process holds a long write; try again",
                    ) from exc
                time.sleep(min(2.0, 0.02 * 2**attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")


class HasDatabase(Protocol):
    """What holds a Database (a MetadataStore): repositories accept it as well as a Database."""

    @property
    def database(self) -> Database: ...


def as_database(source: Database | HasDatabase) -> Database:
    return source if isinstance(source, Database) else source.database


def inserted_id(result: sa.CursorResult[Any]) -> int:
    """The integer key an INSERT of one row made."""
    key = result.inserted_primary_key
    if key is None:  # SQLAlchemy types it optional: only an executemany has none
        raise StorageError("an insert returned no primary key", hint="this is a bug in loopline")
    return int(key[0])
