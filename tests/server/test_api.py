"""The labeling REST API against a real project on disk: the happy path and every bad input of
issue 4 (unknown token, wrong role, unknown task, label outside the set, duplicate submit,
expired lease), each a clear 4xx that stores nothing wrong."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from loopline.server import create_app
from tests.server.conftest import TEXTS, Clock, Setup, make_setup

API = "/api/annotate/reviews"


def stored(setup: Setup) -> list[tuple[int, str, str]]:
    return [(a.task_id, a.annotator, a.label) for a in setup.project.meta.annotations.annotations("reviews")]


def lease(client: TestClient, setup: Setup, who: str) -> dict:
    response = client.get(f"{API}/next", headers=setup.auth(who))
    assert response.status_code == 200, response.text
    return response.json()


def test_health(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_label_a_task_end_to_end(client: TestClient, setup: Setup) -> None:
    projects = client.get("/api/annotate/projects", headers=setup.auth("alice")).json()
    assert [(p["name"], p["labels"]) for p in projects] == [("reviews", ["positive", "negative", "neutral"])]

    got = lease(client, setup, "alice")
    task = got["task"]
    assert task["item"] == {
        "kind": "text",
        "text": TEXTS[0],
        "blob_url": None,
        "media_type": None,
        "path": None,
        "fields": {"n": "0"},
    }
    assert got["progress"] == {"done": 0, "total": len(TEXTS)}
    # the same annotator asking again gets the same task back (its lease is resumable)
    assert lease(client, setup, "alice")["task"]["id"] == task["id"]
    # another annotator gets another task: overlap 1
    assert lease(client, setup, "bob")["task"]["id"] != task["id"]

    response = client.post(
        f"{API}/tasks/{task['id']}", json={"label": "positive", "seconds": 3.5}, headers=setup.auth("alice")
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["task_id"], body["annotator"], body["label"], body["seconds"], body["source"]) == (
        task["id"],
        "alice",
        "positive",
        3.5,
        "human",
    )
    assert stored(setup) == [(task["id"], "alice", "positive")]
    assert lease(client, setup, "alice")["progress"] == {"done": 1, "total": len(TEXTS)}

    progress = client.get(f"{API}/progress", headers=setup.auth("mia")).json()
    assert (progress["tasks"], progress["complete"], progress["annotations"]) == (len(TEXTS), 1, 1)
    assert progress["per_annotator"] == {"alice": 1}


def test_skip_hands_out_another_task(client: TestClient, setup: Setup) -> None:
    first = lease(client, setup, "alice")["task"]["id"]
    response = client.post(f"{API}/tasks/{first}/skip", headers=setup.auth("alice"))
    assert response.status_code == 204
    assert lease(client, setup, "alice")["task"]["id"] != first
    assert stored(setup) == []


def test_queue_runs_dry(client: TestClient, setup: Setup) -> None:
    for _ in TEXTS:
        task = lease(client, setup, "alice")["task"]
        client.post(f"{API}/tasks/{task['id']}", json={"label": "neutral"}, headers=setup.auth("alice"))
    got = lease(client, setup, "alice")
    assert got["task"] is None
    assert got["project"] == "reviews"
    assert len(stored(setup)) == len(TEXTS)


def test_no_or_unknown_token_is_401(client: TestClient, setup: Setup) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer "},
    ):
        response = client.get(f"{API}/next", headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["error"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"
    response = client.post(
        f"{API}/tasks/1", json={"label": "positive"}, headers={"Authorization": "Bearer x"}
    )
    assert response.status_code == 401
    assert stored(setup) == []


def test_manager_routes_are_403_for_annotators(client: TestClient, setup: Setup) -> None:
    for path in (f"{API}/progress", f"{API}/export"):
        response = client.get(path, headers=setup.auth("alice"))
        assert response.status_code == 403, path
        assert response.json() == {
            "error": "forbidden",
            "message": "alice is an annotator; this needs a maintainer or an admin",
            "hint": None,
        }
    assert client.get(f"{API}/progress", headers=setup.auth("mia")).status_code == 200


def test_unknown_task_and_project_are_404(client: TestClient, setup: Setup) -> None:
    lease(client, setup, "alice")
    response = client.post(f"{API}/tasks/99999", json={"label": "positive"}, headers=setup.auth("alice"))
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert "99999" in response.json()["message"]
    assert client.post(f"{API}/tasks/99999/skip", headers=setup.auth("alice")).status_code == 404
    response = client.get("/api/annotate/nope/next", headers=setup.auth("alice"))
    assert response.status_code == 404
    assert response.json()["hint"]
    assert stored(setup) == []


def test_label_outside_the_set_is_422_and_stores_nothing(client: TestClient, setup: Setup) -> None:
    task = lease(client, setup, "alice")["task"]
    for label in ("excellent", 3, ["positive"], None):
        response = client.post(
            f"{API}/tasks/{task['id']}", json={"label": label}, headers=setup.auth("alice")
        )
        assert response.status_code == 422, label
        assert response.json()["error"] == "invalid_input"
    assert "positive, negative, neutral" in response.json()["hint"]
    # a malformed body is the same shape of error
    for body in ({}, {"label": "positive", "seconds": -1}, {"label": "positive", "seconds": "soon"}):
        response = client.post(f"{API}/tasks/{task['id']}", json=body, headers=setup.auth("alice"))
        assert response.status_code == 422, body
        assert set(response.json()) == {"error", "message", "hint"}
    assert stored(setup) == []
    # the lease survives bad input: the right label still goes in
    response = client.post(
        f"{API}/tasks/{task['id']}", json={"label": "negative"}, headers=setup.auth("alice")
    )
    assert response.status_code == 201


def test_duplicate_submit_is_409(client: TestClient, setup: Setup) -> None:
    task = lease(client, setup, "alice")["task"]
    url = f"{API}/tasks/{task['id']}"
    assert client.post(url, json={"label": "positive"}, headers=setup.auth("alice")).status_code == 201
    response = client.post(url, json={"label": "negative"}, headers=setup.auth("alice"))
    assert response.status_code == 409
    assert response.json()["error"] == "conflict"
    assert stored(setup) == [(task["id"], "alice", "positive")]


def test_submit_without_a_lease_is_409(client: TestClient, setup: Setup) -> None:
    task = lease(client, setup, "alice")["task"]
    response = client.post(f"{API}/tasks/{task['id']}", json={"label": "positive"}, headers=setup.auth("bob"))
    assert response.status_code == 409
    assert stored(setup) == []


def test_expired_lease_is_409_and_the_task_goes_to_another(
    client: TestClient, setup: Setup, clock: Clock
) -> None:
    task = lease(client, setup, "alice")["task"]
    clock.advance(600 + 1)
    response = client.post(
        f"{API}/tasks/{task['id']}", json={"label": "positive"}, headers=setup.auth("alice")
    )
    assert response.status_code == 409
    assert "expired" in response.json()["message"]
    assert stored(setup) == []
    assert lease(client, setup, "bob")["task"]["id"] == task["id"]
    response = client.post(f"{API}/tasks/{task['id']}", json={"label": "neutral"}, headers=setup.auth("bob"))
    assert response.status_code == 201
    assert stored(setup) == [(task["id"], "bob", "neutral")]


def test_gold_answers_never_reach_the_annotator(tmp_path: Path, clock: Clock) -> None:
    setup = make_setup(tmp_path / "gold", gold_share=0.5)
    repo = setup.project.meta.annotations
    repo.set_gold("reviews", {"item0003": "positive"})
    repo.set_suggestions("reviews", {"item0003": "neutral"}, "model")
    with TestClient(create_app(setup.project, clock=clock)) as client:
        got = client.get(f"{API}/next", headers=setup.auth("alice"))
    setup.project.close()
    assert got.status_code == 200
    task = got.json()["task"]
    assert task["item_id"] == "item0003"  # the gold task comes first at a share of 0.5
    assert (task["suggestion"], task["suggestion_source"]) == ("neutral", "model")
    assert "positive" not in got.text  # the known answer stays on the server
    assert "gold" not in got.text


def test_errors_and_headers_on_every_response(client: TestClient, setup: Setup) -> None:
    response = client.get("/api/annotate/reviews/nothing-here", headers=setup.auth("alice"))
    assert response.status_code == 404
    assert set(response.json()) == {"error", "message", "hint"}
    response = client.get("/health")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert client.get(f"{API}/next", headers=setup.auth("alice")).headers["cache-control"] == "no-store"
