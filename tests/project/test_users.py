"""Project's identities: users and their tokens, expiry (an injected clock), revocation,
disabling, grants in the Principal, basic auth, sessions and the sign-in rate limit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from loopline.core.errors import Conflict, Forbidden, InvalidInput, NotFound, TooManyRequests, Unauthorized
from loopline.core.identity import RESOURCES, ROLE_DEFAULTS, Principal, acting
from loopline.core.users import SESSION_TTL, secret_hash
from loopline.project import Project

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    made = Project.init(tmp_path / "proj")
    yield made
    made.close()


def test_a_new_user_signs_in_with_its_first_token(project: Project) -> None:
    user, secret = project.users_add("ci", "scientist", "service", now=T0)
    assert (user.role, user.kind, user.active) == ("scientist", "service", True)
    who = project.authenticate_token(secret, now=T0)
    assert who == Principal("ci", "scientist", "service", "token", grants={})
    assert [(t.user, t.name) for t in project.tokens_list("ci")] == [("ci", "initial")]
    stored = project.meta.users.token_by_hash(secret_hash(secret))[0]
    assert stored.last_used_at == T0, "a use of the token was not recorded"
    with pytest.raises(Conflict):
        project.users_add("ci", "viewer")
    with pytest.raises(InvalidInput, match="unknown role 'owner'"):
        project.users_add("bob", "owner")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="not valid"):
        project.users_add("bad name!", "viewer")
    assert [u.name for u in project.users_list()] == ["ci"]


def test_an_expired_token_is_unauthorized_with_a_hint(project: Project) -> None:
    project.users_add("ann", "annotator", now=T0)
    token, secret = project.tokens_create("ann", "laptop", timedelta(days=30), now=T0)
    assert token.expires_at == T0 + timedelta(days=30)
    assert project.authenticate_token(secret, now=T0 + timedelta(days=29)).name == "ann"
    with pytest.raises(Unauthorized, match=f"token {token.id} \\(laptop\\) of ann expired") as info:
        project.authenticate_token(secret, now=T0 + timedelta(days=30))
    assert "loopline tokens create" in (info.value.hint or "")
    states = {t.name: t.state(T0 + timedelta(days=31)) for t in project.tokens_list("ann")}
    assert states == {"initial": "active", "laptop": "expired"}
    with pytest.raises(InvalidInput, match="positive time"):
        project.tokens_create("ann", "never", timedelta(0))
    with pytest.raises(NotFound, match="no user named 'nobody'"):
        project.tokens_create("nobody", "x")


def test_a_revoked_token_and_a_disabled_user_are_unauthorized(project: Project) -> None:
    _, first = project.users_add("ann", "annotator", now=T0)
    token, second = project.tokens_create("ann", "ci", now=T0)
    revoked = project.tokens_revoke(token.id, now=T0)
    assert revoked.revoked_at == T0
    with pytest.raises(Unauthorized, match="was revoked"):
        project.authenticate_token(second)
    assert project.authenticate_token(first).name == "ann"  # the other token still works
    with pytest.raises(NotFound):
        project.tokens_revoke("nope")
    project.users_disable("ann")
    with pytest.raises(Unauthorized, match="ann is disabled"):
        project.authenticate_token(first)
    with pytest.raises(Unauthorized, match="unknown token"):
        project.authenticate_token("guess")


def test_grants_reach_the_principal(project: Project) -> None:
    _, secret = project.users_add("vic", "viewer")
    project.users_grant("vic", "model", "churn", "manage")
    who = project.authenticate_token(secret)
    assert who.grants == {("model", "churn"): "manage"}
    assert who.allows("model", "manage", "churn") and not who.allows("model", "edit", "other")
    project.users_grant("vic", "model", "churn", None)
    assert project.authenticate_token(secret).grants == {}
    with pytest.raises(InvalidInput, match="unknown level"):
        project.users_grant("vic", "model", "churn", "owner")  # type: ignore[arg-type]


def test_basic_auth_takes_a_token_of_that_user_only(project: Project) -> None:
    _, ann = project.users_add("ann", "scientist")
    project.users_add("bob", "scientist")
    assert project.authenticate_basic("ann", ann).auth == "basic"
    with pytest.raises(Unauthorized, match="not bob's"):
        project.authenticate_basic("bob", ann)


def test_only_a_user_manager_may_change_users_when_one_is_acting(project: Project) -> None:
    project.users_add("ann", "annotator")
    with acting(Principal("mia", "maintainer")), pytest.raises(Forbidden, match="manage on users"):
        project.users_add("eve", "admin")
    with acting(Principal("root", "admin")):
        project.users_add("eve", "viewer")
    assert [u.name for u in project.users_list()] == ["ann", "eve"]


def test_a_session_is_its_own_secret_and_ends(project: Project) -> None:
    _, secret = project.users_add("ann", "annotator", now=T0)
    session_id, who = project.sign_in(secret, client="10.0.0.1", now=T0)
    assert session_id != secret and who.auth == "session"
    assert project.authenticate_session(session_id, now=T0 + SESSION_TTL / 2).name == "ann"
    with pytest.raises(Unauthorized, match="expired"):
        project.authenticate_session(session_id, now=T0 + SESSION_TTL)
    with pytest.raises(Unauthorized):
        project.authenticate_session(secret, now=T0)  # a token is no session id
    again, _ = project.sign_in(secret, client="10.0.0.1", now=T0)
    project.sign_out(again)
    with pytest.raises(Unauthorized, match="unknown or ended"):
        project.authenticate_session(again, now=T0)
    project.sign_out(again)  # twice: nothing to do


def test_a_session_ends_with_its_token(project: Project) -> None:
    project.users_add("ann", "annotator", now=T0)
    token, secret = project.tokens_create("ann", "short", timedelta(hours=1), now=T0)
    session_id, _ = project.sign_in(secret, client="c", now=T0)
    with pytest.raises(Unauthorized, match="expired"):  # the token's hour, not the session's 12
        project.authenticate_session(session_id, now=T0 + timedelta(hours=1))
    session_id, _ = project.sign_in(secret, client="c", now=T0)
    project.tokens_revoke(token.id, now=T0)
    with pytest.raises(Unauthorized, match="unknown or ended"):
        project.authenticate_session(session_id, now=T0)


def test_sign_in_is_rate_limited_per_client(project: Project) -> None:
    _, secret = project.users_add("ann", "annotator", now=T0)
    for n in range(10):
        with pytest.raises(Unauthorized):
            project.sign_in(f"guess-{n}", client="10.0.0.9", now=T0 + timedelta(seconds=n))
    with pytest.raises(TooManyRequests, match=r"10 failed sign-ins from 10\.0\.0\.9"):
        project.sign_in(secret, client="10.0.0.9", now=T0 + timedelta(seconds=30))
    assert project.sign_in(secret, client="10.0.0.7", now=T0 + timedelta(seconds=30))[1].name == "ann"
    later = T0 + timedelta(seconds=61)  # the first failures left the window
    assert project.sign_in(secret, client="10.0.0.9", now=later)[1].name == "ann"


def test_the_docs_roles_table_is_role_defaults() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "users.md").read_text()
    header = "| role | " + " | ".join(RESOURCES) + " | approves |"
    assert header in page
    for role, defaults in ROLE_DEFAULTS.items():
        cells = [defaults.get(r, "-") for r in RESOURCES]
        approves = "yes" if Principal("x", role).can_approve else "-"
        assert f"| {role} | {' | '.join(cells)} | {approves} |" in page, role
