"""The MLflow lifecycle routes at the HTTP level: the codes the client acts on, bad input
answered 4xx with nothing changed, who may delete what, and a protected alias guarding its
version (SQLite and PostgreSQL)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from loopline.core.identity import Principal, acting
from loopline.project import Project
from loopline.server import create_app
from loopline.store.models import save_model
from tests.mlflow.test_http import API, error, new_run
from tests.server.conftest import make_user

X, Y = load_iris(return_X_y=True)


def registered(project: Project, name: str = "iris") -> None:
    art = save_model(project.blobs, LogisticRegression(max_iter=300).fit(X, Y))
    project.meta.add_version("model", art, source="test")
    with acting(Principal("alice", "scientist")):
        project.registry.register(name, art)


def test_experiment_and_run_errors(api: TestClient) -> None:
    run_id = new_run(api)
    exp = api.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]["info"]["experiment_id"]
    not_found = "RESOURCE_DOES_NOT_EXIST"
    error(api.post(f"{API}/experiments/delete", json={"experiment_id": "999"}), 404, not_found)
    error(api.post(f"{API}/experiments/delete", json={"experiment_id": "x"}), 400, "INVALID_PARAMETER_VALUE")
    message = error(
        api.post(f"{API}/experiments/delete", json={"experiment_id": "0"}), 400, "INVALID_PARAMETER_VALUE"
    )
    assert "default experiment" in message
    error(api.post(f"{API}/experiments/delete", json={"id": exp}), 400, "INVALID_PARAMETER_VALUE")
    error(api.post(f"{API}/runs/delete", json={"run_id": "nope"}), 404, not_found)
    api.post(f"{API}/experiments/create", json={"name": "taken"})
    taken = api.post(f"{API}/experiments/update", json={"experiment_id": exp, "new_name": "taken"})
    assert "exists already" in error(taken, 400, "INVALID_PARAMETER_VALUE")
    error(api.post(f"{API}/experiments/update", json={"experiment_id": exp}), 400, "INVALID_PARAMETER_VALUE")
    gone = api.post(f"{API}/experiments/delete-experiment-tag", json={"experiment_id": exp, "key": "k"})
    error(gone, 404, not_found)

    assert api.post(f"{API}/runs/delete", json={"run_id": run_id}).status_code == 200
    info = api.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]["info"]
    assert info["lifecycle_stage"] == "deleted"
    metric = {"run_id": run_id, "key": "loss", "value": 1.0, "timestamp": 0, "step": 0}
    assert "is deleted" in error(
        api.post(f"{API}/runs/log-metric", json=metric), 400, "INVALID_PARAMETER_VALUE"
    )
    tag = {"run_id": run_id, "key": "k", "value": "v"}
    assert "restore it" in error(api.post(f"{API}/runs/set-tag", json=tag), 400, "INVALID_PARAMETER_VALUE")
    assert api.post(f"{API}/experiments/delete", json={"experiment_id": exp}).status_code == 200
    renaming = api.post(f"{API}/experiments/update", json={"experiment_id": exp, "new_name": "new"})
    assert "is deleted" in error(renaming, 400, "INVALID_PARAMETER_VALUE")
    again = api.post(f"{API}/experiments/create", json={"name": "e"})
    assert "(deleted)" in error(again, 400, "RESOURCE_ALREADY_EXISTS")
    assert api.post(f"{API}/experiments/restore", json={"experiment_id": exp}).status_code == 200
    got = api.get(f"{API}/experiments/get", params={"experiment_id": exp}).json()["experiment"]
    assert got["lifecycle_stage"] == "active" and got["name"] == "e"


def test_registry_errors_and_the_deleted_are_gone(api: TestClient, project: Project) -> None:
    registered(project)
    not_found = "RESOURCE_DOES_NOT_EXIST"
    error(api.request("DELETE", f"{API}/registered-models/delete", json={"name": "nope"}), 404, not_found)
    error(
        api.request("DELETE", f"{API}/model-versions/delete", json={"name": "iris", "version": "7"}),
        404,
        not_found,
    )
    bad = api.request("DELETE", f"{API}/model-versions/delete", json={"name": "iris", "version": "one"})
    error(bad, 400, "INVALID_PARAMETER_VALUE")
    api.post(f"{API}/registered-models/create", json={"name": "other"})
    clash = api.post(f"{API}/registered-models/rename", json={"name": "iris", "new_name": "other"})
    error(clash, 400, "RESOURCE_ALREADY_EXISTS")
    invalid = api.post(f"{API}/registered-models/rename", json={"name": "iris", "new_name": "a/b"})
    error(invalid, 400, "INVALID_PARAMETER_VALUE")
    described = api.patch(
        f"{API}/model-versions/update", json={"name": "iris", "version": "1", "description": "d"}
    )
    assert described.json()["model_version"]["description"] == "d"

    done = api.request("DELETE", f"{API}/model-versions/delete", json={"name": "iris", "version": "1"})
    assert done.status_code == 200, done.text
    error(api.get(f"{API}/model-versions/get", params={"name": "iris", "version": "1"}), 404, not_found)
    model = api.get(f"{API}/registered-models/get", params={"name": "iris"}).json()["registered_model"]
    assert model["latest_versions"] == []
    assert api.get(f"{API}/model-versions/search", params={"filter": "name = 'iris'"}).json() == {
        "model_versions": []
    }
    gone = api.request("DELETE", f"{API}/registered-models/delete", json={"name": "iris"})
    assert gone.status_code == 200, gone.text
    assert [m["name"] for m in api.get("/api/v1/models").json()["items"]] == ["other"]
    error(api.get(f"{API}/registered-models/get", params={"name": "iris"}), 404, not_found)
    tag = api.request(
        "DELETE", f"{API}/model-versions/delete-tag", json={"name": "iris", "version": "1", "key": "k"}
    )
    error(tag, 404, not_found)


def test_who_may_delete_what(project: Project) -> None:
    registered(project)
    tokens = {role: make_user(project, role, role) for role in ("scientist", "viewer", "maintainer")}
    by = {role: {"Authorization": f"Bearer {token}"} for role, token in tokens.items()}
    with TestClient(create_app(project)) as api:
        exp = api.post(f"{API}/experiments/create", json={"name": "e"}, headers=by["scientist"]).json()
        run = api.post(f"{API}/runs/create", json=exp, headers=by["scientist"]).json()["run"]["info"]
        delete_exp = {"experiment_id": exp["experiment_id"]}
        for role in ("scientist", "viewer"):
            refused = api.post(f"{API}/experiments/delete", json=delete_exp, headers=by[role])
            error(refused, 403, "PERMISSION_DENIED")
            gone = api.request(
                "DELETE", f"{API}/registered-models/delete", json={"name": "iris"}, headers=by[role]
            )
            error(gone, 403, "PERMISSION_DENIED")
        viewer = api.post(f"{API}/runs/delete", json={"run_id": run["run_id"]}, headers=by["viewer"])
        error(viewer, 403, "PERMISSION_DENIED")
        assert (
            api.post(
                f"{API}/runs/delete", json={"run_id": run["run_id"]}, headers=by["scientist"]
            ).status_code
            == 200
        )
        update = {"name": "iris", "description": "by a scientist"}
        assert (
            api.patch(f"{API}/registered-models/update", json=update, headers=by["scientist"]).status_code
            == 200
        )
        assert (
            api.post(f"{API}/experiments/delete", json=delete_exp, headers=by["maintainer"]).status_code
            == 200
        )
        done = api.request(
            "DELETE", f"{API}/registered-models/delete", json={"name": "iris"}, headers=by["maintainer"]
        )
        assert done.status_code == 200, done.text
    assert project.registry.models() == []
    assert project.meta.tracking.get_run(run["run_id"]).lifecycle == "deleted"


def test_a_protected_alias_guards_its_version(tmp_path, store_url: str) -> None:
    from tests.conftest import write_project

    root = write_project(
        tmp_path / "p", "registry:\n  require_approval: [production]\nsteps: {}\n", store=store_url
    )
    project = Project.init(root)
    try:
        registered(project)
        with acting(Principal("bob", "approver")):
            project.registry.approve("iris", 1, "production")
        with acting(Principal("dave", "maintainer")):
            project.registry.promote("iris", 1, "production")
        with TestClient(create_app(project, auth=False)) as api:
            refused = api.request(
                "DELETE", f"{API}/model-versions/delete", json={"name": "iris", "version": "1"}
            )
            assert "approv" in error(refused, 400, "INVALID_STATE")
            refused = api.request("DELETE", f"{API}/registered-models/delete", json={"name": "iris"})
            error(refused, 400, "INVALID_STATE")
        assert project.registry.resolve("iris", "production").version == 1
    finally:
        project.close()
