"""Four eyes on a protected alias (registry.require_approval): the approver is neither who
registered the version nor who promotes, rolls back or removes it; who is the acting principal,
not LOOPLINE_USER; a refusal writes nothing; the MLflow alias routes obey the same rule."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from loopline.cli.commands import exit_code
from loopline.core.errors import CheckFailed, Forbidden
from loopline.core.identity import Principal, acting
from loopline.project import Project
from loopline.server import create_app
from loopline.store.models import save_model
from tests.conftest import write_project

X, Y = load_iris(return_X_y=True)
ALICE = Principal("alice", "scientist")  # trains and registers
BOB = Principal("bob", "approver")
CAROL = Principal("carol", "approver")
DAVE = Principal("dave", "maintainer")  # promotes


@pytest.fixture
def project(tmp_path: Path, store_url: str) -> Iterator[Project]:
    root = write_project(
        tmp_path / "proj", "registry:\n  require_approval: [production]\nsteps: {}\n", store=store_url
    )
    opened = Project.init(root)
    try:
        yield opened
    finally:
        opened.close()


def register(project: Project, versions: int = 1) -> None:
    for n in range(versions):
        art = save_model(project.blobs, LogisticRegression(C=1.0 / (n + 1), max_iter=500).fit(X, Y))
        project.meta.add_version("model", art, source="test")
        with acting(ALICE):
            project.registry.register("iris", art)


def kinds(project: Project) -> list[tuple[str, str | None, int | None, str]]:
    return [(e.kind, e.alias, e.version, e.actor) for e in project.model_history("iris")]


def test_the_registrant_cannot_approve_and_an_approver_cannot_promote_alone(project: Project):
    register(project)
    as_approver = Principal("alice", "approver")  # were alice an approver too, still not her own
    with acting(as_approver), pytest.raises(Forbidden, match="alice registered iris version 1") as info:
        project.approve("iris", 1, "production")
    assert exit_code(info.value) == 2
    with acting(Principal("erin", "scientist")), pytest.raises(Forbidden, match="approver or admin role"):
        project.approve("iris", 1, "production")
    with acting(BOB):
        project.approve("iris", 1, "production", reason="reviewed")
        with pytest.raises(CheckFailed, match=r"other than .*bob.*four eyes") as refused:
            project.promote("iris", 1, "production")
    assert exit_code(refused.value) == 1
    assert [k for k, *_ in kinds(project)] == ["register", "approve"], "a refusal wrote an event"
    assert [e.action for e in project.audit_log(object="iris")][:1] == ["model.approve"]


def test_another_approver_lets_a_third_person_promote(project: Project):
    register(project)
    with acting(BOB):
        project.approve("iris", 1, "production")
    with acting(DAVE):
        moved = project.promote("iris", 1, "production")
    assert (moved["actor"], moved["auth"], moved["version"]) == ("dave", "token", 1)
    audit = [(e.actor, e.auth, e.action) for e in reversed(project.audit_log(object="iris"))]
    assert audit[-2:] == [("bob", "token", "model.approve"), ("dave", "token", "model.promote")]


def test_removing_or_rolling_back_a_protected_alias_is_gated(project: Project):
    register(project, 2)
    for version in (1, 2):
        with acting(BOB):
            project.approve("iris", version, "production")
        with acting(DAVE):
            project.promote("iris", version, "production")
    with acting(BOB), pytest.raises(CheckFailed, match=r"other than .*bob"):
        project.rollback("iris", "production")  # bob approved version 1: he may not move it back
    with acting(DAVE):
        assert project.rollback("iris", "production")["version"] == 1
        with pytest.raises(CheckFailed, match="removing production from iris version 1 needs an approval"):
            project.delete_alias("iris", "production")
    with acting(BOB):
        project.approve("iris", 1, "production", removal=True)
        with pytest.raises(CheckFailed, match="four eyes"):
            project.delete_alias("iris", "production")
    assert project.model("iris", "production").version == 1
    with acting(CAROL):
        assert project.delete_alias("iris", "production")["from_version"] == 1
    assert kinds(project)[-2:] == [
        ("approve_removal", "production", 1, "bob"),
        ("alias_delete", "production", None, "carol"),
    ]


def test_an_unprotected_alias_needs_no_approval(project: Project):
    register(project)
    with acting(ALICE):
        assert project.promote("iris", 1, "staging")["version"] == 1
        assert project.delete_alias("iris", "staging")["from_version"] == 1


def test_local_actors_follow_the_same_rule_by_name(project: Project):
    """No principal set (the CLI on a local project): the store's user, recorded auth=local."""
    art = save_model(project.blobs, LogisticRegression(max_iter=500).fit(X, Y))
    project.meta.add_version("model", art, source="test")
    project.registry.register("iris", art)  # by the project's user
    me = project.settings.user
    with pytest.raises(Forbidden, match=f"{me} registered iris version 1"):
        project.approve("iris", 1, "production")
    other = Project(project.file, {**os.environ, "LOOPLINE_USER": "reviewer"})
    try:
        assert other.approve("iris", 1, "production").actor == "reviewer"
        with pytest.raises(CheckFailed, match="reviewer"):
            other.promote("iris", 1, "production")
        assert project.promote("iris", 1, "production")["auth"] == "local"
        approvals = [e for e in project.audit_log(actor="reviewer") if e.action == "model.approve"]
        assert [(e.auth, e.object) for e in approvals] == [("local", "iris@1")]
    finally:
        other.close()


def test_over_the_server_approvals_and_alias_moves_are_by_the_signed_in_users(project: Project):
    """The approve route and the MLflow alias routes act as the token's user: an approver
    approves (not the registrant, who may not even call the route), a maintainer moves the
    alias only once someone else approved, and removing it needs an approval of the removal."""
    register(project)  # by alice
    token = {
        who: project.users_add(who, role)[1]
        for who, role in [
            ("alice", "scientist"),
            ("bob", "approver"),
            ("carol", "approver"),
            ("dave", "maintainer"),
        ]
    }

    def auth(who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token[who]}"}

    path = "/api/2.0/mlflow/registered-models/alias"
    alias = {"name": "iris", "alias": "production", "version": "1"}
    approve = "/api/v1/models/iris/versions/1/approve"
    with TestClient(create_app(project)) as api:
        assert api.post(path, json=alias).status_code == 401  # nobody moves it without a token
        refused = api.post(path, json=alias, headers=auth("dave"))
        assert refused.status_code == 400 and "needs an approval" in refused.json()["message"], refused.text
        assert api.post(approve, json={"alias": "production"}, headers=auth("alice")).status_code == 403
        approved = api.post(approve, json={"alias": "production", "reason": "ok"}, headers=auth("bob"))
        assert approved.status_code == 200 and approved.json()["actor"] == "bob", approved.text
        assert api.post(path, json=alias, headers=auth("bob")).status_code == 403  # approvers only read
        assert api.post(path, json=alias, headers=auth("dave")).status_code == 200
        remove = {"name": "iris", "alias": "production"}
        kept = api.request("DELETE", path, params=remove, headers=auth("dave"))
        assert kept.status_code == 400 and "needs an approval" in kept.json()["message"], kept.text
        removal = {"alias": "production", "removal": True}
        assert api.post(approve, json=removal, headers=auth("carol")).status_code == 200
        assert api.request("DELETE", path, params=remove, headers=auth("dave")).status_code == 200
    approvals = [(e.actor, e.auth) for e in project.audit_log() if e.action.startswith("model.approve")]
    assert approvals == [("carol", "token"), ("bob", "token")], approvals  # newest first
