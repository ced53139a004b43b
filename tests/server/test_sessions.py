"""The UI's sign-in: the cookie holds a server-side session's id, never the token; signing out
or revoking the token ends the session on the server; too many failed sign-ins are 429."""

from __future__ import annotations

from fastapi.testclient import TestClient

from loopline.server.deps import COOKIE
from tests.server.conftest import Setup, make_user

API = "/api/annotate/reviews"


def sign_in(client: TestClient, token: str) -> str:
    response = client.post("/signin", data={"token": token}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return str(client.cookies[COOKIE])


def test_the_cookie_is_a_session_id_not_the_token(client: TestClient, setup: Setup) -> None:
    session_id = sign_in(client, setup.tokens["alice"])
    assert session_id and setup.tokens["alice"] not in session_id
    assert setup.tokens["alice"] not in client.post(
        "/signin", data={"token": setup.tokens["alice"]}
    ).headers.get("set-cookie", "")
    assert client.get("/api/annotate/me").json()["name"] == "alice"
    client.cookies.clear()
    client.cookies.set(COOKIE, setup.tokens["alice"])  # a token where the session id goes
    assert client.get("/api/annotate/me").status_code == 401
    assert client.get("/annotate", follow_redirects=False).headers["location"] == "/signin"


def test_sign_out_ends_the_session_on_the_server(client: TestClient, setup: Setup) -> None:
    session_id = sign_in(client, setup.tokens["alice"])
    client.post("/signout", follow_redirects=False)
    client.cookies.clear()
    client.cookies.set(COOKIE, session_id)  # the old cookie, kept by whoever copied it
    assert client.get("/api/annotate/me").status_code == 401
    assert client.get("/annotate", follow_redirects=False).headers["location"] == "/signin"


def test_revoking_the_token_ends_its_sessions(client: TestClient, setup: Setup) -> None:
    sign_in(client, setup.tokens["alice"])
    (token,) = setup.project.tokens_list("alice")
    setup.project.tokens_revoke(token.id)
    assert client.get("/api/annotate/me").status_code == 401
    assert client.get("/api/annotate/me", headers=setup.auth("alice")).status_code == 401


def test_a_user_of_any_role_signs_in(client: TestClient, setup: Setup) -> None:
    token = make_user(setup.project, "vic", "viewer")
    sign_in(client, token)
    assert client.get("/api/annotate/me").json() == {"name": "vic", "role": "viewer"}


def test_failed_sign_ins_over_the_limit_are_429(client: TestClient, setup: Setup) -> None:
    for n in range(10):
        assert client.post("/signin", data={"token": f"guess-{n}"}).status_code == 401
    response = client.post("/signin", data={"token": setup.tokens["alice"]}, follow_redirects=False)
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.text
    assert COOKIE not in client.cookies


def test_the_writes_of_signing_in_and_out_are_on_record_as_the_user(client: TestClient, setup: Setup) -> None:
    """Authentication writes before any principal acts (a token's last use, a new session, its
    end): the audit log names the user and how they signed in, not the server's OS user."""
    client.get("/api/annotate/me", headers=setup.auth("bob"))
    sign_in(client, setup.tokens["alice"])
    client.post("/signout", follow_redirects=False)
    events = {(e.action, e.actor, e.auth) for e in setup.project.audit_log()}
    assert {
        ("token.use", "bob", "token"),
        ("session.create", "alice", "token"),
        ("session.delete", "alice", "session"),
    } <= events, events
    user = setup.project.settings.user
    assert not [
        e
        for e in setup.project.audit_log()
        if e.action.startswith(("token.use", "session.")) and e.actor == user
    ]
