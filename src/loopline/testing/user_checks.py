"""Checks of identities: users, tokens (by hash), sign-in sessions and per-resource grants."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from loopline.core.errors import Conflict, InvalidInput, NotFound
from loopline.core.users import Session
from loopline.testing.expect import raises
from loopline.testing.samples import T0

if TYPE_CHECKING:
    from loopline.testing.stores import MetadataStores

NOUN = "users"
HOUR = timedelta(hours=1)


def check_users_round_trip(s: MetadataStores) -> None:
    """add_user stores role and kind (with a first token when given, in the same write); a second
    user of that name is a Conflict, an unknown role or kind InvalidInput, an unknown name NotFound."""
    repo = s.meta.users
    made = repo.add_user("ci", "scientist", "service", T0, first_token="hash-ci")
    assert (made.name, made.role, made.kind, made.active) == ("ci", "scientist", "service", True)
    got = repo.get_user("ci")
    assert (got.role, got.kind, got.active, got.created_at) == ("scientist", "service", True, T0), got
    token, owner = repo.token_by_hash("hash-ci")
    assert (token.user, token.name, owner.name) == ("ci", "initial", "ci"), token
    raises(Conflict, repo.add_user, "ci", "viewer", "person", T0)
    raises(InvalidInput, repo.add_user, "bob", "owner", "person", T0)
    raises(InvalidInput, repo.add_user, "bob", "viewer", "robot", T0)
    raises(NotFound, repo.get_user, "bob")
    repo.add_user("ann", "annotator", "person", T0)
    assert [u.name for u in repo.list_users()] == ["ann", "ci"]


def check_tokens_are_found_by_hash_and_revoked_once(s: MetadataStores) -> None:
    """A token is found by its hash with its user; revoke stamps the time once; an unknown hash
    or id is NotFound, a past expiry InvalidInput."""
    repo = s.meta.users
    repo.add_user("ann", "annotator", "person", T0)
    made = repo.add_token("ann", "laptop", "hash-1", T0, T0 + HOUR)
    token, user = repo.token_by_hash("hash-1")
    assert (token.id, token.name, token.expires_at, user.name) == (made.id, "laptop", T0 + HOUR, "ann")
    assert [t.id for t in repo.list_tokens("ann")] == [made.id]
    raises(NotFound, repo.token_by_hash, "hash-unknown")
    raises(NotFound, repo.add_token, "nobody", "x", "hash-2", T0)
    raises(InvalidInput, repo.add_token, "ann", "late", "hash-3", T0, T0 - HOUR)
    assert repo.revoke_token(made.id, T0 + HOUR).revoked_at == T0 + HOUR
    assert repo.revoke_token(made.id, T0 + 2 * HOUR).revoked_at == T0 + HOUR, "revoked_at moved"
    raises(NotFound, repo.revoke_token, "no-such-id", T0)
    repo.touch_token(made.id, T0 + HOUR)
    assert repo.token_by_hash("hash-1")[0].last_used_at == T0 + HOUR


def check_sessions_end_with_their_token_and_user(s: MetadataStores) -> None:
    """A session is found by its hash; revoking its token or disabling its user ends it, and so
    does delete_session."""
    repo = s.meta.users
    repo.add_user("ann", "annotator", "person", T0)
    first = repo.add_token("ann", "a", "hash-a", T0)
    second = repo.add_token("ann", "b", "hash-b", T0)
    repo.add_session("s1", Session("ann", first.id, T0, T0 + HOUR))
    repo.add_session("s2", Session("ann", second.id, T0, T0 + HOUR))
    repo.add_session("s3", Session("ann", second.id, T0, T0 + HOUR))
    session, user = repo.session_by_hash("s1")
    got = (session.user, session.token_id, session.expires_at, user.name)
    assert got == ("ann", first.id, T0 + HOUR, "ann"), got
    repo.revoke_token(first.id, T0)
    raises(NotFound, repo.session_by_hash, "s1")
    repo.delete_session("s2", "ann")
    raises(NotFound, repo.session_by_hash, "s2")
    repo.session_by_hash("s3")
    repo.set_active("ann", False)
    raises(NotFound, repo.session_by_hash, "s3")
    assert repo.get_user("ann").active is False


def check_grants_override_one_resource(s: MetadataStores) -> None:
    """set_grant keeps one level per (user, kind, name), None takes it away; an unknown kind or
    level is InvalidInput and an unknown user NotFound."""
    repo = s.meta.users
    repo.add_user("ann", "viewer", "person", T0)
    repo.set_grant("ann", "model", "churn", "edit")
    repo.set_grant("ann", "model", "churn", "manage")
    repo.set_grant("ann", "dataset", "reviews", "read")
    assert repo.grants("ann") == {("model", "churn"): "manage", ("dataset", "reviews"): "read"}
    repo.set_grant("ann", "dataset", "reviews", None)
    assert repo.grants("ann") == {("model", "churn"): "manage"}
    raises(InvalidInput, repo.set_grant, "ann", "users", "x", "read")
    raises(InvalidInput, repo.set_grant, "ann", "model", "churn", "owner")
    raises(NotFound, repo.set_grant, "nobody", "model", "churn", "read")
    assert repo.grants("ann") == {("model", "churn"): "manage"}, "a refused grant changed the grants"


CHECKS = (
    check_users_round_trip,
    check_tokens_are_found_by_hash_and_revoked_once,
    check_sessions_end_with_their_token_and_user,
    check_grants_override_one_resource,
)
