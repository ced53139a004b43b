"""/api/v1/models: listing, a model, a version with its card and approvals, history, promote,
approve (four eyes on a protected alias), rollback, deployments observed in the prediction log
and the log itself; each shape equals the CLI's --json of the same object; the Python client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from loopline import Client
from loopline.core.errors import CheckFailed, Forbidden
from loopline.core.identity import Principal, acting
from loopline.project import Project
from loopline.server import create_app
from loopline.store.models import save_model
from tests.conftest import cli, write_project
from tests.server.conftest import make_user
from tests.server.live import live_server


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """SQLite only: this module tests the HTTP layer; the stores under it run on PostgreSQL too
    in tests/store, tests/tracking and tests/registry (CI time)."""
    return f"sqlite:///{tmp_path / 'meta.db'}"


X, Y = load_iris(return_X_y=True)
NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
ROLES = {"alice": "scientist", "bob": "approver", "dave": "maintainer", "vera": "viewer"}


@dataclass
class Registry:
    project: Project
    tokens: dict[str, str]

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def make_registry(root: Path, versions: int = 3, store_url: str | None = None) -> Registry:
    """`iris` with `versions` versions registered by alice (version 2's gates failed), production
    protected by four eyes, version 1 approved by bob and promoted by dave; a prediction log with
    primary, canary and shadow traffic."""
    write_project(root, "registry:\n  require_approval: [production]\nsteps: {}\n", store=store_url)
    project = Project.init(root)
    tokens = {name: make_user(project, name, role) for name, role in ROLES.items()}  # type: ignore[arg-type]
    for n in range(versions):
        art = save_model(project.blobs, LogisticRegression(C=1.0 / (n + 1), max_iter=500).fit(X, Y))
        project.meta.add_version("model", art, source="test")
        with acting(Principal("alice", "scientist")):
            project.registry.register(
                "iris",
                art,
                metrics={"accuracy": 0.9 + n / 100, "f1": 0.8},
                gates_passed=n != 1,
                description=f"version {n + 1}",
            )
    with acting(Principal("bob", "approver")):
        project.approve("iris", 1, "production", reason="looked at the card")
    with acting(Principal("dave", "maintainer")):
        project.promote("iris", 1, "production", reason="first")
    log = [
        {
            "request_id": f"r{i}",
            "model": "iris",
            "version": 1,
            "variant": "primary",
            "at": NOW - timedelta(minutes=i),
        }
        for i in range(9)
    ]
    log += [
        {
            "request_id": "c0",
            "model": "iris",
            "version": 3,
            "variant": "canary",
            "at": NOW - timedelta(minutes=1),
        }
    ]
    log += [
        {
            "request_id": "s0",
            "model": "iris",
            "version": 3,
            "variant": "shadow",
            "at": NOW - timedelta(minutes=2),
        }
    ]
    log += [
        {
            "request_id": "old",
            "model": "iris",
            "version": 1,
            "variant": "primary",
            "at": NOW - timedelta(days=3),
        }
    ]
    project.predictions.write(
        [r | {"latency_ms": 1.5, "prediction": 0, "confidence": 0.9, "features": {"x": 1.0}} for r in log]
    )
    return Registry(project, tokens)


@pytest.fixture
def reg(tmp_path: Path, store_url: str) -> Iterator[Registry]:
    made = make_registry(tmp_path / "proj", store_url=store_url)
    yield made
    made.project.close()


@pytest.fixture
def api(reg: Registry) -> Iterator[TestClient]:
    with TestClient(create_app(reg.project, clock=lambda: NOW)) as client:
        yield client


def test_reads_page_and_match_the_cli(reg: Registry, api: TestClient) -> None:
    h = reg.auth("vera")
    listing = api.get("/api/v1/models", headers=h)
    assert listing.status_code == 200, listing.text
    [model] = listing.json()["items"]
    assert (model["name"], model["latest_version"], model["versions"]) == ("iris", 3, 3)
    assert model["aliases"] == {"production": 1} and listing.json()["next_page_token"] is None
    root = reg.project.root
    assert json.loads(cli("models", "--json", cwd=root, check=True).stdout) == [model]

    detail = api.get("/api/v1/models/iris", headers=h).json()
    assert [v["version"] for v in detail["versions"]] == [1, 2, 3]
    assert json.loads(cli("models", "show", "iris", "--json", cwd=root, check=True).stdout) == detail

    version = api.get("/api/v1/models/iris/versions/1", headers=h).json()
    assert version["aliases"] == ["production"] and version["gates_passed"] is True
    assert [(a["kind"], a["actor"]) for a in version["approvals"]] == [("approve", "bob")]
    assert version["awaiting_approval"] == [] and version["model_card"] is None  # never evaluated
    shown = cli("models", "show", "iris", "1", "--json", cwd=root, check=True).stdout
    assert json.loads(shown) == version
    third = api.get("/api/v1/models/iris/versions/3", headers=h).json()
    assert third["awaiting_approval"] == ["production"]  # newer, gates passed, not approved
    failed = api.get("/api/v1/models/iris/versions/2", headers=h).json()
    assert failed["awaiting_approval"] == []  # its gates failed: nothing to approve

    first = api.get("/api/v1/models/iris/history", params={"limit": 2}, headers=h).json()
    assert [e["kind"] for e in first["items"]] == ["register", "register"]
    rest = api.get(
        "/api/v1/models/iris/history", params={"page_token": first["next_page_token"]}, headers=h
    ).json()
    events = first["items"] + rest["items"]
    assert [e["kind"] for e in events][-2:] == ["approve", "promote"] and rest["next_page_token"] is None
    assert json.loads(cli("models", "history", "iris", "--json", cwd=root, check=True).stdout) == events
    shown_model = json.loads(cli("show", "iris", "--json", cwd=root, check=True).stdout)
    assert [v["test_sets"] for v in shown_model["versions"]] == [[], [], []]  # never evaluated: no error


def test_deployments_are_what_the_log_shows(reg: Registry, api: TestClient) -> None:
    got = api.get("/api/v1/models/iris/deployments", headers=reg.auth("vera"))
    assert got.status_code == 200, got.text
    seen = {v["variant"]: v for v in got.json()["variants"]}
    assert got.json()["requests"] == 10  # 9 primary + 1 canary in the last day; shadow mirrors
    assert seen["primary"]["versions"] == [1] and seen["primary"]["share"] == pytest.approx(0.9)
    assert seen["canary"]["versions"] == [3] and seen["canary"]["share"] == pytest.approx(0.1)
    assert seen["shadow"]["requests"] == 1 and seen["primary"]["last_seen"].startswith("2030-01-01T12:00")
    week = api.get("/api/v1/models/iris/deployments", params={"hours": 24 * 7}, headers=reg.auth("vera"))
    assert week.json()["requests"] == 11

    page = api.get("/api/v1/models/iris/predictions", params={"limit": 4}, headers=reg.auth("vera")).json()
    assert [p["request_id"] for p in page["items"]] == ["r0", "c0", "r1", "s0"]  # newest first
    assert page["items"][0]["features"] == {"x": 1.0} and page["items"][0]["variant"] == "primary"
    ids = [p["request_id"] for p in page["items"]]
    while page["next_page_token"]:
        page = api.get(
            "/api/v1/models/iris/predictions",
            params={"limit": 4, "page_token": page["next_page_token"]},
            headers=reg.auth("vera"),
        ).json()
        ids += [p["request_id"] for p in page["items"]]
    assert len(ids) == 11 and "old" not in ids  # the default window is the last day
    old = api.get(
        "/api/v1/models/iris/predictions",
        params={"since": "2029-12-28T00:00:00", "until": "2029-12-30T00:00:00"},
        headers=reg.auth("vera"),
    ).json()
    assert [p["request_id"] for p in old["items"]] == ["old"]


def test_four_eyes_over_the_api(reg: Registry, api: TestClient) -> None:
    promote = "/api/v1/models/iris/versions/3/promote"
    approve = "/api/v1/models/iris/versions/3/approve"
    refused = api.post(promote, json={"alias": "production"}, headers=reg.auth("dave"))
    assert refused.status_code == 409 and "needs an approval" in refused.json()["message"], refused.text
    assert api.post(approve, json={"alias": "production"}, headers=reg.auth("alice")).status_code == 403
    assert api.post(promote, json={"alias": "production"}, headers=reg.auth("vera")).status_code == 403
    approved = api.post(approve, json={"alias": "production", "reason": "ok"}, headers=reg.auth("bob"))
    assert approved.status_code == 200, approved.text
    assert (approved.json()["actor"], approved.json()["auth"]) == ("bob", "token")
    moved = api.post(promote, json={"alias": "production", "reason": "better"}, headers=reg.auth("dave"))
    assert moved.json() == {
        "name": "iris",
        "alias": "production",
        "version": 3,
        "from_version": 1,
        "actor": "dave",
        "auth": "token",
    }
    back = api.post("/api/v1/models/iris/rollback", json={"reason": "oops"}, headers=reg.auth("dave"))
    assert back.status_code == 200 and back.json()["version"] == 1, back.text
    assert reg.project.model("iris", "production").version == 1
    staging = api.post(
        "/api/v1/models/iris/versions/2/promote", json={"alias": "staging"}, headers=reg.auth("alice")
    )
    assert staging.status_code == 409 and "gate" in staging.json()["message"]  # version 2 failed
    bad = api.post(promote, json={"alias": "no such!"}, headers=reg.auth("dave"))
    assert bad.status_code in (400, 422)
    assert api.get("/api/v1/models/nope/versions/1", headers=reg.auth("vera")).status_code == 404
    from loopline.api.paging import encode_token

    far = api.get(
        "/api/v1/models/iris/history", params={"page_token": encode_token(10**20)}, headers=reg.auth("vera")
    )
    assert far.status_code == 422  # beyond what a store can OFFSET: refused, not a 500
    early = api.get(
        "/api/v1/models/iris/predictions", params={"until": "0001-01-01T00:00:00"}, headers=reg.auth("vera")
    )
    assert early.status_code == 422
    token = api.get("/api/v1/models", params={"page_token": "zz"}, headers=reg.auth("vera"))
    assert token.status_code == 422 and "page_token" in token.json()["message"]


def test_cli_writes_emit_the_api_shapes(reg: Registry, api: TestClient) -> None:
    """promote/approve/rollback --json as the CLI prints them validate as the API's models."""
    from loopline.api.models import ApprovalOut, MovedOut

    root = reg.project.root
    env = {"LOOPLINE_USER": "carol"}
    approved = json.loads(
        cli("approve", "iris", "3", "--alias", "production", "--json", cwd=root, env=env, check=True).stdout
    )
    assert ApprovalOut.model_validate(approved).model_dump(mode="json") == approved
    moved = json.loads(
        cli("promote", "iris", "3", "--alias", "production", "--json", cwd=root, check=True).stdout
    )
    assert MovedOut.model_validate(moved).model_dump(mode="json") == moved
    back = json.loads(cli("rollback", "iris", "--json", cwd=root, check=True).stdout)
    assert MovedOut.model_validate(back).model_dump(mode="json") == back and back["version"] == 1


def test_the_python_client(reg: Registry) -> None:
    app = create_app(reg.project, clock=lambda: NOW)
    with live_server(app) as url:
        with Client(url, reg.tokens["bob"]) as client:
            assert [m.name for m in client.models()] == ["iris"]
            assert client.model_version("iris", 3).awaiting_approval == ["production"]
            assert client.approve("iris", 3, "production").actor == "bob"
            assert [e.kind for e in client.model_history("iris")][-1] == "approve"
            assert client.deployments("iris").requests == 10
            with pytest.raises(Forbidden):
                client.promote("iris", 3, "production")
        with Client(url, reg.tokens["dave"]) as client:
            assert client.promote("iris", 3, "production").version == 3
            with pytest.raises(CheckFailed, match="gate"):  # the policy's refusal (409) comes back
                client.promote("iris", 2, "production")
