"""Stages, runs:/ sources, model-linked metrics, run outputs, and the refusals of tracing and
prompts at the HTTP level: error bodies, roles, and nothing written by a refused request
(SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from loopline.core.identity import acting, local_principal
from loopline.project import Project
from loopline.server import create_app
from tests.conftest import write_project
from tests.mlflow.test_http import API, FILES, error, new_run
from tests.server.conftest import make_user

_MLMODEL = b"flavors:\n  python_function:\n    loader_module: mlflow.sklearn\n"


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """SQLite only: this module tests the HTTP layer; the stores under it run on PostgreSQL too
    in tests/store, tests/tracking and tests/registry (CI time)."""
    return f"sqlite:///{tmp_path / 'meta.db'}"


@pytest.fixture
def guarded(tmp_path: Path, store_url: str) -> Iterator[Project]:
    """A project whose production alias needs an approval (four eyes)."""
    yaml = "registry:\n  require_approval: [production]\nsteps: {}\n"
    project = Project.init(write_project(tmp_path / "guarded", yaml, store=store_url))
    try:
        yield project
    finally:
        project.close()


def _logged_model(api: TestClient, run_id: str, headers: dict[str, str] | None = None) -> str:
    """A logged model "model" of run_id with its files uploaded (an MLmodel, one data file)."""
    run = api.get(f"{API}/runs/get", params={"run_id": run_id}, headers=headers).json()["run"]["info"]
    made = api.post(
        f"{API}/logged-models",
        json={"experiment_id": run["experiment_id"], "name": "model", "source_run_id": run_id},
        headers=headers,
    ).json()["model"]["info"]
    folder = f"{FILES}/{run['experiment_id']}/models/{made['model_id']}/artifacts"
    assert api.put(f"{folder}/MLmodel", content=_MLMODEL, headers=headers).status_code == 200
    assert api.put(f"{folder}/data.bin", content=b"weights", headers=headers).status_code == 200
    return str(made["model_id"])


def _versions(api: TestClient, name: str, count: int, headers: dict[str, str] | None = None) -> None:
    """name with count versions, each from a logged model of a run of its own."""
    api.post(f"{API}/registered-models/create", json={"name": name}, headers=headers)
    exp = api.post(f"{API}/experiments/create", json={"name": f"{name}-runs"}, headers=headers).json()
    for _ in range(count):
        run = api.post(f"{API}/runs/create", json=exp, headers=headers).json()["run"]["info"]["run_id"]
        source = {"name": name, "source": f"models:/{_logged_model(api, run, headers)}"}
        made = api.post(f"{API}/model-versions/create", json=source, headers=headers)
        assert made.status_code == 200, made.text


def _stage(api: TestClient, name: str, version: int, stage: str, **more: Any) -> Any:
    body = {"name": name, "version": str(version), "stage": stage, **more}
    return api.post(f"{API}/model-versions/transition-stage", json=body)


def _stages(api: TestClient, name: str) -> dict[str, str]:
    found = api.get(f"{API}/model-versions/search", params={"filter": f"name = '{name}'"}).json()
    return {v["version"]: v["current_stage"] for v in found["model_versions"]}


def test_stage_transitions_move_aliases_and_archive(api: TestClient, project: Project) -> None:
    _versions(api, "m", 3)
    assert _stage(api, "m", 1, "staging").json()["model_version"]["current_stage"] == "Staging"
    _stage(api, "m", 2, "Production")
    assert _stages(api, "m") == {"1": "Staging", "2": "Production", "3": "None"}
    assert project.registry.resolve("m", "production").version == 2
    # 1 leaves Staging for Production: 2, the holder, is Archived; nothing is in Staging
    _stage(api, "m", 1, "Production", archive_existing_versions=False)
    assert _stages(api, "m") == {"1": "Production", "2": "Archived", "3": "None"}
    assert project.model("m", 2).status == "archived"
    latest = api.post(f"{API}/registered-models/get-latest-versions", json={"name": "m"}).json()
    assert [(v["version"], v["current_stage"]) for v in latest["model_versions"]] == [
        ("3", "None"),
        ("1", "Production"),
        ("2", "Archived"),
    ]
    query = api.get(
        f"{API}/registered-models/get-latest-versions", params={"name": "m", "stages": "archived"}
    )
    assert [v["version"] for v in query.json()["model_versions"]] == ["2"]
    listed = api.get(f"{API}/registered-models/get", params={"name": "m"}).json()["registered_model"]
    assert sorted(v["version"] for v in listed["latest_versions"]) == ["1", "2", "3"]
    # back to None, then Archived directly; a promotion clears Archived
    _stage(api, "m", 2, "None")
    _stage(api, "m", 1, "Archived")
    assert _stages(api, "m") == {"1": "Archived", "2": "None", "3": "None"}
    assert "production" not in project.registry.model("m")[0].aliases
    _stage(api, "m", 1, "Staging", archive_existing_versions=True)
    assert _stages(api, "m")["1"] == "Staging"
    kinds = [e.kind for e in project.model_history("m")]
    assert {"promote", "alias_delete", "archive", "unarchive"} <= set(kinds), kinds
    actions = {e.action for e in project.audit_log(action="model.")}
    assert {"model.promote", "model.alias_delete", "model.set_status"} <= actions, actions


def test_stage_errors_name_the_fix_and_change_nothing(api: TestClient, project: Project) -> None:
    _versions(api, "m", 1)
    message = error(_stage(api, "m", 1, "Prod"), 400, "INVALID_PARAMETER_VALUE")
    assert "None, Staging, Production, Archived" in message, message
    message = error(
        _stage(api, "m", 1, "Archived", archive_existing_versions=True), 400, "INVALID_PARAMETER_VALUE"
    )
    assert "Staging or Production" in message
    error(_stage(api, "m", 1, "Staging", archive_existing_versions="maybe"), 400, "INVALID_PARAMETER_VALUE")
    error(_stage(api, "m", 9, "Staging"), 404, "RESOURCE_DOES_NOT_EXIST")
    error(_stage(api, "zz", 1, "Staging"), 404, "RESOURCE_DOES_NOT_EXIST")
    latest = {"name": "m", "stages": ["Prod"]}
    error(
        api.post(f"{API}/registered-models/get-latest-versions", json=latest), 400, "INVALID_PARAMETER_VALUE"
    )
    missing = {"name": "zz"}
    error(
        api.post(f"{API}/registered-models/get-latest-versions", json=missing), 404, "RESOURCE_DOES_NOT_EXIST"
    )
    api.post(f"{API}/registered-models/create", json={"name": "empty"})
    empty = api.post(f"{API}/registered-models/get-latest-versions", json={"name": "empty"})
    assert empty.json() == {"model_versions": []}
    assert _stages(api, "m") == {"1": "None"}
    assert [e.kind for e in project.model_history("m")] == ["register"]


def test_a_transition_the_policy_refuses_is_mlflows_error(guarded: Project) -> None:
    """Production needs an approval here: the transition is refused with the policy's message,
    and with an approval by someone else it goes through."""
    with TestClient(create_app(guarded, auth=False)) as api:
        _versions(api, "m", 1)
        message = error(_stage(api, "m", 1, "Production"), 400, "INVALID_STATE")
        assert "needs an approval" in message and "loopline approve m 1 --alias production" in message
        assert _stages(api, "m") == {"1": "None"}
        assert [e.kind for e in guarded.model_history("m")] == ["register"]
        with acting(local_principal("carol")):  # an approver who neither registered nor moves it
            guarded.registry.approve("m", 1, "production", reason="looks right")
        assert _stage(api, "m", 1, "Production").json()["model_version"]["current_stage"] == "Production"
        # leaving Production removes a protected alias: that needs an approved removal
        message = error(_stage(api, "m", 1, "Archived"), 400, "INVALID_STATE")
        assert "removing production" in message
        assert _stages(api, "m") == {"1": "Production"}


def test_stage_routes_need_a_role_that_may(project: Project) -> None:
    tokens = {role: make_user(project, role, role) for role in ("scientist", "viewer")}
    by = {role: {"Authorization": f"Bearer {token}"} for role, token in tokens.items()}
    with TestClient(create_app(project)) as api:
        _versions(api, "m", 1, by["scientist"])
        body = {"name": "m", "version": "1", "stage": "Staging"}
        path = f"{API}/model-versions/transition-stage"
        error(api.post(path, json=body), 401, "UNAUTHENTICATED")
        error(api.post(path, json=body, headers=by["viewer"]), 403, "PERMISSION_DENIED")
        latest = api.get(
            f"{API}/registered-models/get-latest-versions", params={"name": "m"}, headers=by["viewer"]
        )
        assert [v["current_stage"] for v in latest.json()["model_versions"]] == ["None"]
        moved = api.post(path, json=body, headers=by["scientist"])
        assert moved.json()["model_version"]["current_stage"] == "Staging", moved.text


def test_a_runs_source_is_the_runs_logged_model(api: TestClient, project: Project) -> None:
    run_id = new_run(api)
    model_id = _logged_model(api, run_id)
    api.post(f"{API}/registered-models/create", json={"name": "m"})
    version = {"name": "m", "source": f"runs:/{run_id}/model", "run_id": run_id}
    made = api.post(f"{API}/model-versions/create", json=version).json()["model_version"]
    assert (made["source"], made["model_id"], made["run_id"]) == (f"runs:/{run_id}/model", model_id, run_id)
    uri = api.get(f"{API}/model-versions/get-download-uri", params={"name": "m", "version": "1"}).json()
    exp = project.mlflow.run(run_id).experiment_id
    assert uri == {"artifact_uri": f"mlflow-artifacts:/{exp}/models/{model_id}/artifacts"}
    for source in (f"runs:/{run_id}/other", "runs:/no-such-run/model"):
        got = api.post(f"{API}/model-versions/create", json={"name": "m", "source": source})
        assert got.status_code in (400, 404), got.text
    assert [v.version for v in project.registry.repo.versions("m")] == [1]


def test_model_metrics_and_run_outputs(api: TestClient, project: Project) -> None:
    run_id = new_run(api)
    model_id = _logged_model(api, run_id)
    point = {"key": "acc", "value": 0.9, "timestamp": 1_700_000_000_000, "step": 2, "model_id": model_id}
    point |= {"dataset_name": "holdout", "dataset_digest": "d1"}
    assert api.post(f"{API}/runs/log-metric", json={"run_id": run_id, **point}).json() == {}
    batch = {"run_id": run_id, "metrics": [point, {**point, "model_id": None, "key": "loss"}]}
    assert api.post(f"{API}/runs/log-batch", json=batch).json() == {}
    got = api.get(f"{API}/logged-models/{model_id}").json()["model"]["data"]["metrics"]
    assert got == [{**point, "run_id": run_id}]
    assert [p.value for p in project.mlflow.metric_history(run_id, "acc")] == [0.9]
    searched = api.post(f"{API}/logged-models/search", json={"experiment_ids": []}).json()["models"]
    assert searched[0]["data"]["metrics"] == got
    # an unknown model, an over-long digest: refused, nothing written
    bad = [{**point, "model_id": "m-nope", "key": "x"}, {**point, "dataset_digest": "d" * 65, "key": "y"}]
    for item in bad:
        response = api.post(f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": [item]})
        assert response.status_code in (400, 404), response.text
    assert project.mlflow.metric_history(run_id, "x") == project.mlflow.metric_history(run_id, "y") == []
    # outputs: runs/get and runs/search name the model; an unknown model is 404
    outputs = {"run_id": run_id, "models": [{"model_id": model_id, "step": 3}]}
    assert api.post(f"{API}/runs/outputs", json=outputs).json() == {}
    run = api.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]
    assert run["outputs"] == {"model_outputs": [{"model_id": model_id, "step": 3}]}
    found = api.post(f"{API}/runs/search", json={"experiment_ids": [run["info"]["experiment_id"]]}).json()
    assert found["runs"][0]["outputs"] == run["outputs"]
    unknown = {"run_id": run_id, "models": [{"model_id": "m-nope", "step": 0}]}
    error(api.post(f"{API}/runs/outputs", json=unknown), 404, "RESOURCE_DOES_NOT_EXIST")
    assert project.mlflow.logged_model(model_id).tags == {}


def test_prompts_are_refused_before_anything_is_stored(api: TestClient, project: Project) -> None:
    tag = [{"key": "mlflow.prompt.is_prompt", "value": "true"}]
    made = api.post(f"{API}/registered-models/create", json={"name": "p", "tags": tag})
    assert "prompt registry is not supported by loopline server" in error(made, 400, "FEATURE_DISABLED")
    assert project.models() == []
    api.post(f"{API}/registered-models/create", json={"name": "m"})
    flip = {"name": "m", "key": "mlflow.prompt.is_prompt", "value": "TRUE"}
    error(api.post(f"{API}/registered-models/set-tag", json=flip), 400, "FEATURE_DISABLED")
    version = {"name": "m", "source": "dummy-source", "tags": tag}
    error(api.post(f"{API}/model-versions/create", json=version), 400, "FEATURE_DISABLED")
    assert (
        api.get(f"{API}/registered-models/get", params={"name": "m"}).json()["registered_model"]["tags"] == []
    )
    assert {e.action for e in project.audit_log()} & {"model.set_tag"} == set()
    _versions(api, "v", 1)
    flip = {"name": "v", "version": "1", "key": "mlflow.prompt.is_prompt", "value": "true"}
    error(api.post(f"{API}/model-versions/set-tag", json=flip), 400, "FEATURE_DISABLED")
    got = api.get(f"{API}/model-versions/get", params={"name": "v", "version": "1"}).json()
    assert got["model_version"]["tags"] == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/3.0/mlflow/traces"),
        ("POST", "/api/2.0/mlflow/traces"),
        ("GET", "/api/2.0/mlflow/traces"),
        ("POST", "/api/3.0/mlflow/traces/search"),
        ("GET", "/api/3.0/mlflow/traces/tr-1"),
        ("PATCH", "/api/2.0/mlflow/traces/tr-1/tags"),
        ("DELETE", "/api/2.0/mlflow/traces/tr-1/tags"),
        ("POST", "/api/2.0/mlflow/traces/delete-traces"),
    ],
)
def test_trace_routes_refuse_loudly_whoever_asks(project: Project, method: str, path: str) -> None:
    with TestClient(create_app(project)) as api:  # auth on, no token: the same answer
        message = error(api.request(method, path, json={"x": 1}), 400, "FEATURE_DISABLED")
    assert message.startswith("tracing is not supported by loopline server; use "), message
