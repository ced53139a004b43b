"""UserRepository on SQLAlchemy: users, their tokens (hashes only), sign-in sessions, grants.

Secrets never reach this module: callers hash tokens and session ids (core.users.secret_hash)
and the store compares hashes. Every write goes through Database.write with a Change naming the
user or token it is about.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from loopline.core.errors import Conflict, InvalidInput, NotFound
from loopline.core.identity import KINDS, LEVELS, RESOURCES, ROLES, Kind, Level, Resource, Role
from loopline.core.users import Session, Token, User
from loopline.store.metadata.database import Database, HasDatabase, as_database
from loopline.store.metadata.tables import grants, sessions, tokens, users
from loopline.store.metadata.times import as_aware, as_utc

_GRANTABLE = tuple(r for r in RESOURCES if r not in ("project", "users"))


def _one_of(what: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InvalidInput(f"unknown {what} {value!r}", hint=f"one of: {', '.join(allowed)}")


def _to_user(row: Any) -> User:
    return User(row.name, row.role, row.kind, bool(row.active), as_aware(row.created_at))


def _to_token(row: Any) -> Token:
    created = as_aware(row.created_at)
    assert created is not None
    return Token(
        row.id,
        row.user,
        row.name,
        created,
        as_aware(row.expires_at),
        as_aware(row.revoked_at),
        as_aware(row.last_used_at),
    )


def check_active(conn: sa.Connection, name: str, *, lock: bool = False) -> None:
    """NotFound unless `name` is an active user; `lock` serializes that user's queue requests."""
    query = sa.select(users.c.active).where(users.c.name == name)
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None or not row.active:
        raise NotFound(f"no active user named {name!r}", hint="`loopline users add NAME --role annotator`")


class SqlUserRepository:
    """`loopline.store.contracts.UserRepository` on the metadata store's engine."""

    def __init__(self, db: Database | HasDatabase) -> None:
        self._db = as_database(db)

    # -- users --------------------------------------------------------------------------------
    def add_user(
        self, name: str, role: Role, kind: Kind, now: datetime, *, first_token: str | None = None
    ) -> User:
        """The user, and with `first_token` (a hash) its token "initial", in one transaction."""
        _one_of("role", role, ROLES)
        _one_of("kind", kind, KINDS)

        def work(conn: sa.Connection) -> User:
            if conn.execute(sa.select(users.c.name).where(users.c.name == name)).first():
                raise Conflict(f"a user named {name!r} exists already", hint="pick another name")
            conn.execute(
                users.insert().values(name=name, role=role, kind=kind, active=True, created_at=as_utc(now))
            )
            if first_token is not None:
                self._insert_token(conn, Token(secrets.token_hex(6), name, "initial", now), first_token)
            return User(name, role, kind, True, now)

        return self._db.write(work, self._db.change("user.add", name))

    def _user(self, conn: sa.Connection, name: str) -> User:
        row = conn.execute(sa.select(users).where(users.c.name == name)).first()
        if row is None:
            raise NotFound(f"no user named {name!r}", hint="`loopline users list` lists them")
        return _to_user(row)

    def get_user(self, name: str) -> User:
        with self._db.read() as conn:
            return self._user(conn, name)

    def list_users(self) -> list[User]:
        with self._db.read() as conn:
            return [_to_user(r) for r in conn.execute(sa.select(users).order_by(users.c.name))]

    def set_active(self, name: str, active: bool) -> User:
        def work(conn: sa.Connection) -> User:
            self._user(conn, name)
            conn.execute(users.update().where(users.c.name == name).values(active=active))
            if not active:
                conn.execute(sessions.delete().where(sessions.c.user == name))
            return self._user(conn, name)

        return self._db.write(work, self._db.change("user.enable" if active else "user.disable", name))

    def set_grant(self, name: str, resource: Resource, resource_name: str, level: Level | None) -> None:
        """Grant `level` on one resource, or take the grant away (`level` None)."""
        _one_of("resource kind", resource, _GRANTABLE)
        if level is not None:
            _one_of("level", level, LEVELS)
        if not resource_name:
            raise InvalidInput("the resource name is empty", hint="name the model, experiment, dataset…")

        def work(conn: sa.Connection) -> None:
            self._user(conn, name)
            key = (grants.c.user == name) & (grants.c.resource == resource)
            conn.execute(grants.delete().where(key & (grants.c.resource_name == resource_name)))
            if level is not None:
                conn.execute(
                    grants.insert().values(
                        user=name, resource=resource, resource_name=resource_name, level=level
                    )
                )

        self._db.write(work, self._db.change("grant.set", f"{name}:{resource}:{resource_name}"))

    def grants(self, name: str) -> dict[tuple[Resource, str], Level]:
        with self._db.read() as conn:
            rows = conn.execute(sa.select(grants).where(grants.c.user == name))
            return {(r.resource, r.resource_name): r.level for r in rows}

    # -- tokens -------------------------------------------------------------------------------
    def add_token(
        self, user: str, name: str, token_hash: str, now: datetime, expires_at: datetime | None = None
    ) -> Token:
        if not name.strip():
            raise InvalidInput("a token needs a name", hint="--name ci, --name laptop…")
        if expires_at is not None and expires_at <= now:
            raise InvalidInput("a token's expiry must be in the future")

        def work(conn: sa.Connection) -> Token:
            self._user(conn, user)
            made = Token(secrets.token_hex(6), user, name, now, expires_at)
            self._insert_token(conn, made, token_hash)
            return made

        return self._db.write(work, self._db.change("token.create", user))

    @staticmethod
    def _insert_token(conn: sa.Connection, token: Token, token_hash: str) -> None:
        expires = token.expires_at
        conn.execute(
            tokens.insert().values(
                id=token.id,
                user=token.user,
                name=token.name,
                hash=token_hash,
                created_at=as_utc(token.created_at),
                expires_at=as_utc(expires) if expires is not None else None,
            )
        )

    def token_by_hash(self, token_hash: str) -> tuple[Token, User]:
        """The token and its user, whatever their state (the caller says why it is refused)."""
        with self._db.read() as conn:
            row = conn.execute(sa.select(tokens).where(tokens.c.hash == token_hash)).first()
            if row is None:
                raise NotFound("no such token")
            return _to_token(row), self._user(conn, row.user)

    def list_tokens(self, user: str | None = None) -> list[Token]:
        with self._db.read() as conn:
            query = sa.select(tokens).order_by(tokens.c.user, tokens.c.created_at, tokens.c.id)
            if user is not None:
                self._user(conn, user)
                query = query.where(tokens.c.user == user)
            return [_to_token(r) for r in conn.execute(query)]

    def revoke_token(self, token_id: str, now: datetime) -> Token:
        """Revoke a token and end the sessions signed in with it; revoking twice keeps the first time."""

        def work(conn: sa.Connection) -> Token:
            row = conn.execute(sa.select(tokens).where(tokens.c.id == token_id)).first()
            if row is None:
                raise NotFound(f"no token {token_id!r}", hint="`loopline tokens list` shows the ids")
            if row.revoked_at is None:
                conn.execute(tokens.update().where(tokens.c.id == token_id).values(revoked_at=as_utc(now)))
            conn.execute(sessions.delete().where(sessions.c.token_id == token_id))
            return _to_token(conn.execute(sa.select(tokens).where(tokens.c.id == token_id)).one())

        return self._db.write(work, self._db.change("token.revoke", token_id))

    def touch_token(self, token_id: str, now: datetime) -> None:
        def work(conn: sa.Connection) -> None:
            conn.execute(tokens.update().where(tokens.c.id == token_id).values(last_used_at=as_utc(now)))

        self._db.write(work, self._db.change("token.use", token_id))

    # -- sessions -----------------------------------------------------------------------------
    def add_session(self, session_hash: str, session: Session) -> None:
        """Store a new session (and drop the ones expired by its start)."""

        def work(conn: sa.Connection) -> None:
            conn.execute(sessions.delete().where(sessions.c.expires_at <= as_utc(session.created_at)))
            conn.execute(
                sessions.insert().values(
                    hash=session_hash,
                    user=session.user,
                    token_id=session.token_id,
                    created_at=as_utc(session.created_at),
                    expires_at=as_utc(session.expires_at),
                )
            )

        self._db.write(work, self._db.change("session.create", session.user, actor=session.user))

    def session_by_hash(self, session_hash: str) -> tuple[Session, User]:
        with self._db.read() as conn:
            row = conn.execute(sa.select(sessions).where(sessions.c.hash == session_hash)).first()
            if row is None:
                raise NotFound("no such session")
            created, expires = as_aware(row.created_at), as_aware(row.expires_at)
            assert created is not None and expires is not None
            return Session(row.user, row.token_id, created, expires), self._user(conn, row.user)

    def delete_session(self, session_hash: str, user: str) -> None:
        def work(conn: sa.Connection) -> None:
            conn.execute(sessions.delete().where(sessions.c.hash == session_hash))

        self._db.write(work, self._db.change("session.delete", user, actor=user))
