"""Engines for SQLite (WAL, busy timeout, BEGIN IMMEDIATE for writes) and PostgreSQL (psycopg 3),
and schema migration on open."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from loopline.core.errors import StorageError
from loopline.store.metadata.migrations import HEAD_REVISION

_MIGRATIONS = Path(__file__).with_name("migrations")
_BUSY_MS = 60_000
_LOCK_KEY = 0x6C6F6F70  # "loop": the advisory lock migrations take on PostgreSQL


def normalize_url(url: str) -> str:
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def create_engine(url: str) -> sa.Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        path = sa.make_url(url).database
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        # Pooled, not a connection per transaction: closing the last connection to a WAL database
        # checkpoints it, which cost ~14 ms on every short write (measured: metric logging). Safe
        # with the process executor, which spawns rather than forks.
        engine = sa.create_engine(
            url,
            connect_args={"timeout": _BUSY_MS / 1000, "check_same_thread": False},
            poolclass=sa.QueuePool,
            pool_size=4,
            max_overflow=16,
        )

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={_BUSY_MS}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            # A write transaction takes the write lock up front, so it waits (busy timeout)
            # instead of failing with "database is locked" when it later upgrades a read lock.
            write = conn.get_execution_options().get("loopline_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    if url.startswith("postgresql"):
        return sa.create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=8)
    raise StorageError(
        f"unsupported metadata store URL {url!r}",
        hint="use sqlite:///PATH or postgresql://USER@HOST:PORT/DB",
    )


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


@contextmanager
def _migration_lock(engine: sa.Engine) -> Iterator[None]:
    """One migrator at a time, whoever else opens the store at the same moment: a file lock
    beside a SQLite database, an advisory lock on PostgreSQL. (A transaction is not enough: on
    SQLite Alembic's DDL is not transactional, so a second process could read the old revision
    and then create tables the first one had just made.)"""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({_LOCK_KEY})")
            try:
                yield
            finally:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({_LOCK_KEY})")
                conn.commit()
        return
    path = engine.url.database
    if not path or path == ":memory:":
        yield
        return
    with open(f"{path}.migrate-lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade(engine: sa.Engine) -> None:
    """Bring the schema to HEAD_REVISION with Alembic (imported only when there is work)."""
    from alembic import command
    from alembic.config import Config

    with _migration_lock(engine):
        revision = current_revision(engine)
        if revision == HEAD_REVISION:  # another process just did it
            return
        known = {p.name.split("_", 1)[0] for p in (_MIGRATIONS / "versions").glob("*.py")}
        if revision is not None and revision not in known:
            raise StorageError(
                f"the metadata store is at schema revision {revision!r}, which this loopline "
                f"does not know (it knows up to {HEAD_REVISION!r})",
                where=engine.url.render_as_string(hide_password=True),
                hint="a newer loopline wrote it: upgrade loopline to use this store",
            )
        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        with engine.connect().execution_options(loopline_write=True) as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
            conn.commit()
