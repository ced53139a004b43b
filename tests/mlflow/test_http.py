"""The MLflow routes at the HTTP level: error bodies and codes the client depends on, and bad
input answered 4xx with nothing written (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from loopline.core.errors import InvalidInput
from loopline.project import Project
from loopline.server import create_app
from tests.server.conftest import make_user


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """SQLite only: this module tests the HTTP layer; the stores under it run on PostgreSQL too
    in tests/store, tests/tracking and tests/registry (CI time)."""
    return f"sqlite:///{tmp_path / 'meta.db'}"


API = "/api/2.0/mlflow"
FILES = "/api/2.0/mlflow-artifacts/artifacts"


def error(response: object, status: int, code: str) -> str:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["error_code"] == code, body
    return str(body["message"])


def new_run(api: TestClient) -> str:
    exp = api.post(f"{API}/experiments/create", json={"name": "e"}).json()["experiment_id"]
    run = api.post(f"{API}/runs/create", json={"experiment_id": exp, "start_time": 1_700_000_000_000})
    assert run.status_code == 200, run.text
    return str(run.json()["run"]["info"]["run_id"])


def history(project: Project, run_id: str, key: str = "loss") -> list[float | None]:
    return [p.value for p in project.mlflow.metric_history(run_id, key)]


def test_experiment_codes_drive_the_client(api: TestClient) -> None:
    error(
        api.get(f"{API}/experiments/get-by-name", params={"experiment_name": "x"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    made = api.post(f"{API}/experiments/create", json={"name": "x", "tags": [{"key": "k", "value": "v"}]})
    assert made.status_code == 200
    error(api.post(f"{API}/experiments/create", json={"name": "x"}), 400, "RESOURCE_ALREADY_EXISTS")
    exp = api.get(f"{API}/experiments/get-by-name", params={"experiment_name": "x"}).json()["experiment"]
    assert exp["lifecycle_stage"] == "active"
    assert exp["artifact_location"] == f"mlflow-artifacts:/{exp['experiment_id']}"
    assert exp["tags"] == [{"key": "k", "value": "v"}]


def test_unknown_endpoints_are_endpoint_not_found(api: TestClient) -> None:
    for method, path in [
        ("GET", f"{API}/no/such/thing"),
        ("POST", f"{API}/runs/no-such-call"),
        ("GET", "/api/2.0/mlflow-artifacts/mpu/create/x"),
        ("GET", "/api/3.0/mlflow/nothing"),
    ]:
        error(api.request(method, path), 404, "ENDPOINT_NOT_FOUND")


def test_metric_values_and_runs_round_trip(api: TestClient, project: Project) -> None:
    run_id = new_run(api)
    batch = {
        "run_id": run_id,
        "metrics": [
            {"key": "loss", "value": 0.5, "timestamp": 1_700_000_000_100, "step": 0},
            {"key": "loss", "value": "NaN", "timestamp": 1_700_000_000_200, "step": 1},
            {"key": "ratio", "value": "Infinity", "timestamp": 1_700_000_000_200, "step": "1"},
        ],
        "params": [{"key": "lr", "value": "0.1"}],
        "tags": [{"key": "team", "value": "a"}],
    }
    assert api.post(f"{API}/runs/log-batch", json=batch).json() == {}
    got = api.get(f"{API}/metrics/get-history", params={"run_id": run_id, "metric_key": "loss"}).json()
    assert [(m["step"], m["value"], m["timestamp"]) for m in got["metrics"]] == [
        (0, 0.5, 1_700_000_000_100),
        (1, "NaN", 1_700_000_000_200),
    ]
    run = api.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]
    assert {m["key"]: m["value"] for m in run["data"]["metrics"]} == {"loss": "NaN", "ratio": "Infinity"}
    assert run["info"]["start_time"] == 1_700_000_000_000 and run["info"]["status"] == "RUNNING"
    dataset = {"dataset": {"name": "train", "digest": "abc", "source_type": "local", "source": "{}"}}
    assert api.post(f"{API}/runs/log-inputs", json={"run_id": run_id, "datasets": [dataset]}).json() == {}
    got = api.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]
    assert got["inputs"] == {"dataset_inputs": [dataset], "model_inputs": []}
    done = api.post(
        f"{API}/runs/update", json={"run_id": run_id, "status": "FINISHED", "end_time": 1_700_000_001_000}
    )
    assert done.json()["run_info"]["status"] == "FINISHED"
    assert project.tracked_run(run_id).status == "succeeded"


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (json.dumps({"run_id": "RUN", "metrics": [], "surprise": 1}).encode(), "unknown field"),
        (
            json.dumps(
                {"run_id": "RUN", "metrics": [{"key": "loss", "value": 1, "timestamp": 1, "step": "NaN"}]}
            ).encode(),
            "step",
        ),
        (
            json.dumps(
                {"run_id": "RUN", "metrics": [{"key": "loss", "value": 1, "timestamp": 1, "step": 1.5}]}
            ).encode(),
            "step",
        ),
        (
            json.dumps({"run_id": "RUN", "metrics": [{"key": "loss", "value": "high", "step": 1}]}).encode(),
            "number",
        ),
        (b'{"run_id": "RUN", "metrics": [{"key": "a", "value": 1' + b"0" * 400 + b', "step": 1}]}', "number"),
        (b'{"run_id": "RUN", "metrics": [{"key": "a", "value": 1, "step": 99999999999999999999}]}', "step"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
        (
            json.dumps({"run_id": "RUN", "metrics": [{"key": "", "value": 1, "step": 1}]}).encode(),
            "metric key",
        ),
        (
            json.dumps(
                {"run_id": "RUN", "metrics": [{"key": "a", "value": 1, "step": 1, "colour": 1}]}
            ).encode(),
            "metric",
        ),
    ],
)
def test_bad_log_batch_is_400_and_writes_nothing(
    api: TestClient, project: Project, body: bytes, why: str
) -> None:
    run_id = new_run(api)
    ok = {"run_id": run_id, "metrics": [{"key": "loss", "value": 1.0, "timestamp": 1, "step": 0}]}
    body = body.replace(b"RUN", run_id.encode())
    message = error(api.post(f"{API}/runs/log-batch", content=body), 400, "INVALID_PARAMETER_VALUE")
    assert why in message
    assert history(project, run_id) == []
    assert api.post(f"{API}/runs/log-batch", json=ok).status_code == 200


def test_unknown_run_is_404_and_a_changed_param_400(api: TestClient, project: Project) -> None:
    metric = {"key": "loss", "value": 1.0, "timestamp": 1, "step": 0}
    error(
        api.post(f"{API}/runs/log-batch", json={"run_id": "nope", "metrics": [metric]}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    error(api.get(f"{API}/runs/get", params={"run_id": "nope"}), 404, "RESOURCE_DOES_NOT_EXIST")
    error(
        api.post(f"{API}/runs/log-metric", json={"run_id": "nope", **metric}), 404, "RESOURCE_DOES_NOT_EXIST"
    )
    run_id = new_run(api)
    assert (
        api.post(f"{API}/runs/log-parameter", json={"run_id": run_id, "key": "lr", "value": "1"}).status_code
        == 200
    )
    bad = {"run_id": run_id, "metrics": [metric], "params": [{"key": "lr", "value": "2"}]}
    error(api.post(f"{API}/runs/log-batch", json=bad), 400, "INVALID_PARAMETER_VALUE")
    assert history(project, run_id) == []


def _run_folder(api: TestClient) -> str:
    run_id = new_run(api)
    exp = api.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]["info"]["experiment_id"]
    return f"{exp}/{run_id}"


def test_artifacts_land_in_the_blob_store_and_dot_dot_is_refused(api: TestClient, project: Project) -> None:
    run = _run_folder(api)
    assert api.put(f"{FILES}/{run}/artifacts/docs/a.txt", content=b"hello").json() == {}
    assert api.get(f"{FILES}/{run}/artifacts/docs/a.txt").content == b"hello"
    listed = api.get(FILES, params={"path": f"{run}/artifacts"}).json()
    assert listed == {"files": [{"path": "docs", "is_dir": True}]}
    blobs_before = sorted(project.blobs.digests())
    for path in ("1/run/%2E%2E/%2E%2E/escape.txt", "1/run/artifacts/%2E%2E/x"):
        error(api.put(f"{FILES}/{path}", content=b"evil"), 400, "INVALID_PARAMETER_VALUE")
    error(api.get(FILES, params={"path": "1/../.."}), 400, "INVALID_PARAMETER_VALUE")
    error(api.get(f"{FILES}/{run}/artifacts/none.txt"), 404, "RESOURCE_DOES_NOT_EXIST")
    # only into runs (and logged models) that exist, in their own experiment
    for path in ("1/no-such-run/artifacts/a.txt", f"99{run}/artifacts/a.txt", "models-by-hand/x/MLmodel"):
        error(api.put(f"{FILES}/{path}", content=b"stray"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert sorted(project.blobs.digests()) == blobs_before
    assert [p for p, _, _ in project.mlflow.files_under("")] == [f"{run}/artifacts/docs/a.txt"]


def _pickled_model_folder(api: TestClient, folder: str) -> None:
    mlmodel = "flavors:\n  sklearn:\n    pickled_model: model.pkl\n    serialization_format: cloudpickle\n"
    api.put(f"{FILES}/{folder}/MLmodel", content=mlmodel.encode())
    api.put(f"{FILES}/{folder}/model.pkl", content=b"\x80\x04not really a pickle")


def _skops_calling(function: object) -> bytes:
    """A genuine skops archive of a FunctionTransformer that would call `function`."""
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    return bytes(sio.dumps(FunctionTransformer(func=function)))


def test_a_pickled_model_is_registered_as_files_and_never_unpickled(
    api: TestClient, project: Project
) -> None:
    run_id = new_run(api)
    exp = api.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]["info"]["experiment_id"]
    folder = f"{exp}/{run_id}/artifacts/model"
    _pickled_model_folder(api, folder)
    assert api.post(f"{API}/registered-models/create", json={"name": "pickled"}).status_code == 200
    made = api.post(
        f"{API}/model-versions/create",
        json={"name": "pickled", "source": f"runs:/{run_id}/model", "run_id": run_id},
    )
    assert made.status_code == 200, made.text
    assert made.json()["model_version"]["status"] == "READY"
    version = project.model("pickled", 1)
    assert project.registry.artifact(version).kind == "blobs"
    with pytest.raises(InvalidInput, match="not a skops model"):
        project.load_model("pickled", 1)
    uri = api.get(f"{API}/model-versions/get-download-uri", params={"name": "pickled", "version": "1"}).json()
    assert uri == {"artifact_uri": f"mlflow-artifacts:/{folder}"}


def test_a_skops_model_with_untrusted_types_is_refused_at_registration(
    api: TestClient, project: Project
) -> None:
    folder = f"{_run_folder(api)}/artifacts/by-hand"
    mlmodel = "flavors:\n  sklearn:\n    pickled_model: model.skops\n    serialization_format: skops\n"
    api.put(f"{FILES}/{folder}/MLmodel", content=mlmodel.encode())
    source = {"name": "evil", "source": f"mlflow-artifacts:/{folder}"}
    api.put(f"{FILES}/{folder}/model.skops", content=_skops_calling(os.system))
    message = error(api.post(f"{API}/model-versions/create", json=source), 400, "INVALID_PARAMETER_VALUE")
    assert "system" in message
    api.put(f"{FILES}/{folder}/model.skops", content=b"PK\x03\x04 a broken zip")
    error(api.post(f"{API}/model-versions/create", json=source), 400, "INVALID_PARAMETER_VALUE")
    assert project.models() == []


def test_registry_codes(api: TestClient) -> None:
    assert api.post(f"{API}/registered-models/create", json={"name": "m"}).status_code == 200
    error(api.post(f"{API}/registered-models/create", json={"name": "m"}), 400, "RESOURCE_ALREADY_EXISTS")
    error(api.get(f"{API}/registered-models/get", params={"name": "zz"}), 404, "RESOURCE_DOES_NOT_EXIST")
    error(
        api.get(f"{API}/model-versions/get", params={"name": "m", "version": "7"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    error(
        api.get(f"{API}/registered-models/alias", params={"name": "m", "alias": "champion"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    error(
        api.post(f"{API}/model-versions/create", json={"name": "m", "source": "s3://bucket/model"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    got = api.get(f"{API}/registered-models/get", params={"name": "m"}).json()["registered_model"]
    assert (got["name"], got["latest_versions"], got["aliases"]) == ("m", [], [])


def test_writes_need_a_role_that_may_and_registered_files_are_write_once(project: Project) -> None:
    tokens = {role: make_user(project, role, role) for role in ("scientist", "annotator", "viewer")}
    by = {role: {"Authorization": f"Bearer {token}"} for role, token in tokens.items()}
    find = {"experiment_name": "x"}
    with TestClient(create_app(project)) as api:  # auth on: the default
        error(api.get(f"{API}/experiments/get-by-name", params=find), 401, "UNAUTHENTICATED")
        error(api.post(f"{API}/registered-models/create", json={"name": "m"}), 401, "UNAUTHENTICATED")
        wrong = {"Authorization": "Bearer not-a-token"}
        error(api.get(f"{API}/experiments/get-by-name", params=find, headers=wrong), 401, "UNAUTHENTICATED")
        made = api.post(f"{API}/registered-models/create", json={"name": "m"}, headers=by["annotator"])
        error(made, 403, "PERMISSION_DENIED")
        viewed = api.get(f"{API}/experiments/get-by-name", params=find, headers=by["viewer"])
        error(viewed, 404, "RESOURCE_DOES_NOT_EXIST")
        alias = {"name": "m", "alias": "production", "version": "1"}
        moved = api.post(f"{API}/registered-models/alias", json=alias, headers=by["viewer"])
        error(moved, 403, "PERMISSION_DENIED")

        exp = api.post(f"{API}/experiments/create", json={"name": "e"}, headers=by["scientist"]).json()
        run = api.post(f"{API}/runs/create", json=exp, headers=by["scientist"]).json()["run"]["info"]
        folder = f"{FILES}/{exp['experiment_id']}/{run['run_id']}/artifacts/model"
        error(api.put(f"{folder}/model.pkl", content=b"v", headers=by["viewer"]), 403, "PERMISSION_DENIED")
        mlmodel = (
            b"flavors:\n  sklearn:\n    pickled_model: model.pkl\n    serialization_format: cloudpickle\n"
        )
        assert api.put(f"{folder}/MLmodel", content=mlmodel, headers=by["scientist"]).status_code == 200
        assert api.put(f"{folder}/model.pkl", content=b"first", headers=by["scientist"]).status_code == 200
        assert api.put(f"{folder}/model.pkl", content=b"second", headers=by["scientist"]).status_code == 200
        api.post(f"{API}/registered-models/create", json={"name": "m"}, headers=by["scientist"])
        version = {"name": "m", "source": f"runs:/{run['run_id']}/model", "run_id": run["run_id"]}
        made = api.post(f"{API}/model-versions/create", json=version, headers=by["scientist"])
        assert made.status_code == 200, made.text
        overwrite = api.put(f"{folder}/model.pkl", content=b"evil", headers=by["scientist"])
        error(overwrite, 400, "RESOURCE_ALREADY_EXISTS")
        assert api.get(f"{folder}/model.pkl", headers=by["viewer"]).content == b"second"
        assert api.put(f"{folder}/notes.txt", content=b"new", headers=by["scientist"]).status_code == 200
