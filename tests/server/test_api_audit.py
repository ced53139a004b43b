"""/api/v1/audit over a real log (a dataset, a labeling project, users, an annotator's label
through the server): newest first, paged in SQL, filtered by object, actor and action; the chain's
verify result and head; viewers and approvers read it, annotators do not; an edit made in SQL is
named by verify; the CLI's --json and the client say what the API says."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from loopline.api.client import Client
from loopline.core.errors import Forbidden
from loopline.server import create_app
from tests.conftest import cli
from tests.server.conftest import Setup, make_setup, make_user
from tests.server.live import live_server


@pytest.fixture
def logged(tmp_path: Any) -> Iterator[Setup]:
    made = make_setup(tmp_path / "proj")
    for role in ("viewer", "approver"):
        made.tokens[role] = make_user(made.project, f"u-{role}", role)
    with TestClient(create_app(made.project)) as client:
        task = client.get("/api/annotate/reviews/next", headers=made.auth("alice")).json()["task"]
        done = client.post(
            f"/api/annotate/reviews/tasks/{task['id']}",
            json={"label": "positive"},
            headers=made.auth("alice"),
        )
        assert done.status_code == 201, done.text
        for role in ("viewer", "approver"):  # a token's first use is an event: have it now
            assert client.get("/api/v1/audit/head", headers=made.auth(role)).status_code == 200
    yield made
    made.project.close()


def _all(client: TestClient, made: Setup, limit: int, **filters: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    token = None
    while True:
        page = client.get(
            "/api/v1/audit",
            params={**filters, "limit": limit, "page_token": token},
            headers=made.auth("viewer"),
        ).json()
        assert len(page["items"]) <= limit
        seen += page["items"]
        token = page["next_page_token"]
        if token is None:
            return seen


def test_the_log_is_paged_newest_first_and_filtered(logged: Setup) -> None:
    everything = [e.to_json() for e in logged.project.audit_log()]
    assert len(everything) > 10
    with TestClient(create_app(logged.project)) as client:
        assert _all(client, logged, 4) == everything
        by_alice = _all(client, logged, 2, actor="alice")
        assert by_alice and {e["actor"] for e in by_alice} == {"alice"}
        assert any(e["action"].startswith("labeling.") for e in by_alice)
        on_reviews = _all(client, logged, 1000, object="reviews")
        assert on_reviews and all(e["object"] == "reviews" or e["object"][7] in "@#:/" for e in on_reviews)
        family = _all(client, logged, 1000, action="user.")
        assert family and all(e["action"].startswith("user.") for e in family)
        one = family[0]["action"]
        assert {e["action"] for e in _all(client, logged, 1000, action=one)} == {one}
        assert _all(client, logged, 10, actor="nobody-at-all") == []
        seqs = [e["seq"] for e in _all(client, logged, 3)]
        assert seqs == sorted(seqs, reverse=True)
        for role in ("approver", "viewer"):
            assert client.get("/api/v1/audit", headers=logged.auth(role)).status_code == 200
        assert client.get("/api/v1/audit", headers=logged.auth("alice")).status_code == 403
        assert client.get("/api/v1/audit").status_code == 401
        for bad in ("?limit=0", "?limit=5000", "?page_token=%%%", "?actor=" + "a" * 501):
            assert client.get("/api/v1/audit" + bad, headers=logged.auth("viewer")).status_code in (400, 422)


def test_verify_and_head_and_a_broken_link(logged: Setup) -> None:
    with TestClient(create_app(logged.project)) as client:
        head = client.get("/api/v1/audit/head", headers=logged.auth("approver")).json()
        verified = client.get("/api/v1/audit/verify", headers=logged.auth("approver")).json()
        assert verified["ok"] is True and verified["broken"] is None and verified["head"] == head
        kept = f"{head['seq']}:{head['hash']}"
        assert client.get(
            "/api/v1/audit/verify", params={"head": kept}, headers=logged.auth("viewer")
        ).json()["ok"]
        wrong = client.get("/api/v1/audit/verify", params={"head": "x:y"}, headers=logged.auth("viewer"))
        assert wrong.status_code == 422 and "SEQ:HASH" in json.dumps(wrong.json())
        engine = logged.project.meta.database.engine
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE audit_events SET actor = 'mallory' WHERE seq = 3")
        broken = client.get("/api/v1/audit/verify", headers=logged.auth("viewer")).json()
        assert broken["ok"] is False and broken["broken"]["seq"] == 3 and broken["broken"]["problem"]
        assert client.get("/api/v1/audit/verify", headers=logged.auth("alice")).status_code == 403


def test_the_cli_and_the_client_say_what_the_api_says(logged: Setup) -> None:
    app = create_app(logged.project)
    root = logged.project.root
    with TestClient(app) as client:
        page = client.get(
            "/api/v1/audit", params={"actor": "alice", "limit": 1000}, headers=logged.auth("viewer")
        )
        verified = client.get("/api/v1/audit/verify", headers=logged.auth("viewer")).json()
        head = client.get("/api/v1/audit/head", headers=logged.auth("viewer")).json()
    listed = cli("audit", "log", "--actor", "alice", "--json", cwd=root)
    assert json.loads(listed.stdout) == page.json()["items"]
    family = cli("audit", "log", "--action", "labeling.", "--json", cwd=root)
    assert {e["action"].split(".")[0] for e in json.loads(family.stdout)} == {"labeling"}
    shown = cli("audit", "log", "--action", "no.such.action", cwd=root)
    assert shown.returncode == 0 and "no audit events match" in shown.stdout
    assert json.loads(cli("audit", "head", "--json", cwd=root).stdout) == head
    done = cli("audit", "verify", "--json", cwd=root)
    assert done.returncode == 0 and json.loads(done.stdout) == verified
    with live_server(app) as url:
        with Client(url, logged.tokens["viewer"]) as viewer:
            first = viewer.audit_log(actor="alice", limit=1)
            assert [e.model_dump(mode="json") for e in first.items] == page.json()["items"][:1]
            assert viewer.audit_verify().ok is True
            assert viewer.audit_head() is not None
        with Client(url, logged.tokens["alice"]) as annotator, pytest.raises(Forbidden):
            annotator.audit_log()


def test_paging_and_filters_on_each_engine(tmp_path: Any, store_url: str) -> None:
    from loopline.core.hashing import hash_text
    from loopline.core.types import Artifact
    from loopline.project import Project

    project = Project.init(tmp_path / "proj", store=store_url)
    for n in range(30):
        name = "iris" if n % 2 else "iris_2"  # `_` is no wildcard: iris_2 is not inside iris
        art = Artifact(id=hash_text(f"a{n}"), kind="table", blob=hash_text(f"b{n}"), size=1)
        project.meta.add_version(name, art, source="x")
    page = project.audit_log(object="iris", limit=4, offset=2)
    assert [e.object for e in page] == ["iris@13", "iris@12", "iris@11", "iris@10"]
    assert {e.action for e in project.audit_log(action="dataset.")} == {"dataset.add_version"}
    assert project.audit_log(action="dataset") == [] and project.audit_log(action="d%.") == []
    assert len(project.audit_log(action="dataset.add_version", offset=25)) == 5
    project.close()
