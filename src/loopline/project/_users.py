"""A Project's identities: users, their tokens, grants, and the authentication the server asks for.

Tokens are `secrets.token_urlsafe(32)`, shown once and stored as their SHA-256; an expired or
revoked token, or one of a disabled user, is Unauthorized with a hint saying which. The UI signs
in with a token and gets a session id (its own random secret, stored hashed, 12 hours, never the
token); failed sign-ins are counted per client and over 10 a minute are TooManyRequests.
"""

from __future__ import annotations

import secrets
import threading
from collections import deque
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from loopline.core.errors import InvalidInput, NotFound, TooManyRequests, Unauthorized
from loopline.core.identity import Auth, Kind, Level, Principal, Resource, Role, acting, current
from loopline.core.ids import check_name
from loopline.core.users import SESSION_TTL, Session, Token, User, secret_hash

if TYPE_CHECKING:
    from loopline.project._stores import Stores
    from loopline.store.metadata.users import SqlUserRepository

SIGN_IN_LIMIT = 10  # failed sign-ins per client per window
SIGN_IN_WINDOW = timedelta(minutes=1)
_CLIENTS_KEPT = 10_000  # clients with recent failures remembered before the quiet ones are swept
_TOUCH_EVERY = timedelta(minutes=5)  # how stale a token's last_used_at may get (a write each time)
_ANNOTATOR_ROLES: dict[str, Role] = {"annotator": "annotator", "manager": "maintainer"}
_NEW_TOKEN = "`loopline tokens create USER --name LABEL` (an admin)"


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def _as(user: User, auth: Auth) -> AbstractContextManager[Principal]:
    """Act as `user` for the writes authentication itself makes (a token's last use, a new
    session): the audit log names them and how they signed in, not the server's OS user."""
    return acting(Principal(user.name, user.role, user.kind, auth))


def _manage_users() -> None:
    """A principal acting (a server request) needs manage on users; the local CLI is its owner's."""
    who = current()
    if who is not None:
        who.require("users", "manage")


class Users:
    def __init__(self, stores: Stores) -> None:
        self.stores = stores
        self._failures: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()

    @property
    def repo(self) -> SqlUserRepository:
        return self.stores.meta.users

    # -- users and grants -----------------------------------------------------------------------
    def users_add(
        self, name: str, role: Role, kind: Kind = "person", *, now: datetime | None = None
    ) -> tuple[User, str]:
        """A new user and its first token (named "initial"): the secret is shown once."""
        _manage_users()
        check_name(name, "user name")
        secret = secrets.token_urlsafe(32)
        user = self.repo.add_user(name, role, kind, _now(now), first_token=secret_hash(secret))
        return user, secret

    def annotator_add(self, name: str, role: str = "annotator") -> tuple[User, str]:
        """`users_add` of an annotator, or of a maintainer for role "manager" (what the labeling
        shortcut `loopline annotate annotators add` makes)."""
        if role not in _ANNOTATOR_ROLES:
            raise InvalidInput(f"unknown annotator role {role!r}", hint="annotator or manager")
        return self.users_add(name, _ANNOTATOR_ROLES[role])

    def users_list(self) -> list[User]:
        return self.repo.list_users()

    def users_disable(self, name: str) -> User:
        """Disable a user: their tokens stop working and their sessions end."""
        _manage_users()
        return self.repo.set_active(name, False)

    def users_grant(self, name: str, resource: Resource, resource_name: str, level: Level | None) -> None:
        """Give `name` `level` on one resource, whatever their role's default (None: the default again)."""
        _manage_users()
        self.repo.set_grant(name, resource, resource_name, level)

    # -- tokens -------------------------------------------------------------------------------------
    def tokens_create(
        self, user: str, name: str, expires: timedelta | None = None, *, now: datetime | None = None
    ) -> tuple[Token, str]:
        """A new token of `user`, valid for `expires` (None: until revoked); its secret, shown once."""
        _manage_users()
        if expires is not None and expires <= timedelta(0):
            raise InvalidInput(f"a token must live a positive time, not {expires}", hint="e.g. --expires 30d")
        at = _now(now)
        secret = secrets.token_urlsafe(32)
        token = self.repo.add_token(
            user, name, secret_hash(secret), at, at + expires if expires is not None else None
        )
        return token, secret

    def tokens_list(self, user: str | None = None) -> list[Token]:
        return self.repo.list_tokens(user)

    def tokens_revoke(self, token_id: str, *, now: datetime | None = None) -> Token:
        _manage_users()
        return self.repo.revoke_token(token_id, _now(now))

    # -- authentication -----------------------------------------------------------------------
    def _holder(self, secret: str, now: datetime) -> tuple[Token, User]:
        """The token `secret` is and its user, if both may act now; else Unauthorized saying why."""
        try:
            token, user = self.repo.token_by_hash(secret_hash(secret))
        except NotFound:
            hint = f"check it was copied whole; new ones: {_NEW_TOKEN}"
            raise Unauthorized("unknown token", hint=hint) from None
        what = f"token {token.id} ({token.name}) of {user.name}"
        if token.revoked_at is not None:
            raise Unauthorized(f"{what} was revoked", hint=f"use another token; new ones: {_NEW_TOKEN}")
        if token.expires_at is not None and token.expires_at <= now:
            when = token.expires_at.isoformat(timespec="seconds")
            raise Unauthorized(f"{what} expired at {when}", hint=f"new ones: {_NEW_TOKEN}")
        if not user.active:
            raise Unauthorized(f"user {user.name} is disabled", hint="ask an admin (`loopline users`)")
        if token.last_used_at is None or now - token.last_used_at >= _TOUCH_EVERY:
            with _as(user, "token"):  # no principal acts yet: the token's user does this
                self.repo.touch_token(token.id, now)
        return token, user

    def _principal(self, user: User, auth: Auth) -> Principal:
        return Principal(user.name, user.role, user.kind, auth, grants=self.repo.grants(user.name))

    def authenticate_token(self, token: str, *, now: datetime | None = None) -> Principal:
        """The principal a bearer token is; Unauthorized if unknown, expired, revoked or disabled."""
        _, user = self._holder(token, _now(now))
        return self._principal(user, "token")

    def authenticate_basic(self, user: str, password: str, *, now: datetime | None = None) -> Principal:
        """HTTP basic auth: `password` is one of `user`'s tokens."""
        _, holder = self._holder(password, _now(now))
        if holder.name != user:
            raise Unauthorized(f"that token is not {user}'s", hint="the user name must be the token's owner")
        return self._principal(holder, "basic")

    def authenticate_session(self, session_id: str, *, now: datetime | None = None) -> Principal:
        """The principal of a UI session; Unauthorized if unknown, ended, expired or disabled."""
        try:
            session, user = self.repo.session_by_hash(secret_hash(session_id))
        except NotFound:
            raise Unauthorized("unknown or ended session", hint="sign in again") from None
        if session.expires_at <= _now(now):
            raise Unauthorized("the session expired", hint="sign in again")
        if not user.active:
            raise Unauthorized(f"user {user.name} is disabled", hint="ask an admin (`loopline users`)")
        return self._principal(user, "session")

    def sign_in(self, token: str, *, client: str, now: datetime | None = None) -> tuple[str, Principal]:
        """A new session id for the holder of `token`; TooManyRequests after too many failures
        from `client` (an address) within a minute, whatever the token."""
        at = _now(now)
        self._check_rate(client, at)
        try:
            held, user = self._holder(token, at)
        except Unauthorized:
            with self._lock:
                self._failures.setdefault(client, deque()).append(at)
            raise
        session_id = secrets.token_urlsafe(32)
        expires = at + SESSION_TTL
        if held.expires_at is not None:
            expires = min(expires, held.expires_at)  # a session never outlives its token
        with _as(user, "token"):
            self.repo.add_session(secret_hash(session_id), Session(user.name, held.id, at, expires))
        return session_id, self._principal(user, "session")

    def _check_rate(self, client: str, now: datetime) -> None:
        with self._lock:
            if len(self._failures) > _CLIENTS_KEPT:  # many clients: forget those quiet for a window
                for quiet in [c for c, times in self._failures.items() if times[-1] <= now - SIGN_IN_WINDOW]:
                    del self._failures[quiet]
            recent = self._failures.get(client)
            while recent and recent[0] <= now - SIGN_IN_WINDOW:
                recent.popleft()
            if recent is not None and not recent:
                del self._failures[client]
            if recent and len(recent) >= SIGN_IN_LIMIT:
                raise TooManyRequests(
                    f"{len(recent)} failed sign-ins from {client} in the last minute",
                    hint="wait a minute, then try again with a valid token",
                )

    def sign_out(self, session_id: str) -> None:
        """End a session (nothing to do for an unknown one)."""
        hashed = secret_hash(session_id)
        try:
            session, user = self.repo.session_by_hash(hashed)
        except NotFound:
            return
        with _as(user, "session"):
            self.repo.delete_session(hashed, session.user)
