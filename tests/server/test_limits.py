"""Hardening of `loopline server`: body limits before auth and parsing, uploads and downloads in
bounded memory, MLflow's log-batch caps, and error messages that never echo a large input."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from loopline.serve.limits import MiB
from loopline.server import create_app
from tests.server.conftest import Setup

MLFLOW = "/api/2.0/mlflow"
FILES = "/api/2.0/mlflow-artifacts/artifacts"


def call_asgi(
    app: FastAPI, method: str, path: str, headers: dict[str, str], chunks: Iterator[bytes]
) -> tuple[int, list[bytes], list[int], int]:
    """Drive the app as a server would: the body handed over chunk by chunk. Returns the status,
    the first 1000 bytes and the size of each body message sent back, and how many body chunks
    the app asked for."""
    sent: list[dict[str, Any]] = []
    asked = 0

    done = False

    async def receive() -> dict[str, Any]:
        nonlocal asked, done
        if done:  # as a server does: nothing more until the client goes away
            await asyncio.Event().wait()
        asked += 1
        chunk = next(chunks, None)
        done = chunk is None
        return {"type": "http.request", "body": chunk or b"", "more_body": not done}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":  # kept short: the test measures the app's memory
            message = {
                **message,
                "body": message.get("body", b"")[:1000],
                "size": len(message.get("body", b"")),
            }
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8000),
        "scheme": "http",
        "root_path": "",
    }
    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    bodies = [m for m in sent if m["type"] == "http.response.body"]
    return status, [m["body"] for m in bodies], [m["size"] for m in bodies], asked


def _run_folder(api: TestClient, setup: Setup) -> str:
    """A new run's artifact folder, EXPERIMENT/RUN/artifacts."""
    auth = setup.auth("mia")
    made = api.post(f"{MLFLOW}/experiments/create", json={"name": "limits"}, headers=auth)
    exp = made.json()["experiment_id"]
    run = api.post(f"{MLFLOW}/runs/create", json={"experiment_id": exp, "start_time": 1}, headers=auth)
    return f"{exp}/{run.json()['run']['info']['run_id']}/artifacts"


def test_a_body_over_the_limit_is_refused_from_its_length_before_the_token_is_checked(
    setup: Setup,
) -> None:
    app = create_app(setup.project)
    app.state.require_token = True
    never = iter(())  # the app must not read a byte of it
    headers = {"content-type": "application/json", "content-length": str(300 * MiB)}
    for path in (f"{MLFLOW}/runs/log-batch", "/api/annotate/reviews/tasks/1"):
        status, body, _, asked = call_asgi(app, "POST", path, headers, never)
        assert (status, asked) == (413, 0), (path, body)
    assert b"INVALID_PARAMETER_VALUE" in body[0] or b"too_large" in body[0]


def test_a_chunked_body_is_counted_as_it_arrives(client: TestClient, setup: Setup) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"label": "'
        for _ in range(3):
            yield b"x" * MiB
        yield b'"}'

    answer = client.post("/api/annotate/reviews/tasks/1", content=chunks(), headers=setup.auth("alice"))
    assert answer.status_code == 413, answer.text
    assert answer.json()["error"] == "too_large" and len(answer.content) < 500
    mlflow = client.post(f"{MLFLOW}/runs/log-batch", content=chunks(), headers=setup.auth("mia"))
    assert mlflow.status_code == 413 and mlflow.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_an_upload_over_its_limit_leaves_no_blob_and_no_file(setup: Setup) -> None:
    project = setup.project
    app = create_app(project)
    app.state.body_limits.rules[0] = ("PUT", f"{FILES}/", 4 * MiB)
    with TestClient(app) as client:
        folder = _run_folder(client, setup)
        before = set(project.blobs.digests())
        status, _, _, _ = call_asgi(
            app, "PUT", f"{FILES}/{folder}/big.bin", setup.auth("mia"), (bytes([i]) * MiB for i in range(6))
        )
        assert status == 413
        assert set(project.blobs.digests()) == before
        assert project.mlflow.files_under(folder) == []
        ok = client.put(f"{FILES}/{folder}/ok.bin", content=b"x" * MiB, headers=setup.auth("mia"))
        assert ok.status_code == 200


def test_uploads_and_downloads_hold_one_chunk_at_a_time(setup: Setup) -> None:
    """64 MiB up and down in 1 MiB chunks: Python never holds more than a few chunks at once."""
    app = create_app(setup.project)
    with TestClient(app) as client:
        folder = _run_folder(client, setup)
    size = 64 * MiB
    auth = setup.auth("mia")
    tracemalloc.start()
    try:
        status, _, _, asked = call_asgi(
            app, "PUT", f"{FILES}/{folder}/big.bin", auth, (bytes([i]) * MiB for i in range(64))
        )
        _, upload_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        got, heads, sizes, _ = call_asgi(app, "GET", f"{FILES}/{folder}/big.bin", auth, iter(()))
        _, download_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (status, got, asked) == (200, 200, 65)
    assert sum(sizes) == size and len(sizes) > 32
    assert heads[0][:4] == b"\x00" * 4 and heads[-2][:1] == b"\x3f"  # the chunks, in order
    assert upload_peak < 16 * MiB, f"the upload held {upload_peak / MiB:.0f} MiB"
    assert download_peak < 16 * MiB, f"the download held {download_peak / MiB:.0f} MiB"


def test_log_batch_takes_what_mlflow_takes_and_no_more(setup: Setup) -> None:
    project = setup.project
    with TestClient(create_app(project), headers=setup.auth("mia")) as api:
        run = _run_folder(api, setup).split("/")[1]

        def batch(metrics: int = 0, params: int = 0, tags: int = 0) -> Any:
            return api.post(
                f"{MLFLOW}/runs/log-batch",
                json={
                    "run_id": run,
                    "metrics": [
                        {"key": "m", "value": 1.0, "timestamp": 1, "step": i} for i in range(metrics)
                    ],
                    "params": [{"key": f"p{i}", "value": "1"} for i in range(params)],
                    "tags": [{"key": f"t{i}", "value": "1"} for i in range(tags)],
                },
            )

        for too_many in (batch(metrics=1001), batch(params=101), batch(tags=101), batch(900, 100, 1)):
            assert too_many.status_code == 400, too_many.text
            assert too_many.json()["error_code"] == "INVALID_PARAMETER_VALUE"
            assert "at most" in too_many.json()["message"]
        assert project.mlflow.metric_history(run, "m") == []  # nothing of a refused batch is kept
        assert batch(900, 50, 50).status_code == 200
    assert len(project.mlflow.metric_history(run, "m")) == 900


def test_a_refused_label_is_not_echoed_back(client: TestClient, setup: Setup) -> None:
    task = client.get("/api/annotate/reviews/next", headers=setup.auth("alice")).json()["task"]
    label = "y" * 500_000
    answer = client.post(
        f"/api/annotate/reviews/tasks/{task['id']}", json={"label": label}, headers=setup.auth("alice")
    )
    assert answer.status_code == 422
    assert len(answer.content) < 2000 and "more characters" in answer.json()["message"]


def test_an_mlflow_error_does_not_echo_a_large_input(setup: Setup) -> None:
    with TestClient(create_app(setup.project), headers=setup.auth("mia")) as api:
        run = _run_folder(api, setup).split("/")[1]
        bad = {"key": "k", "value": "v", "extra": "y" * 500_000}
        answer = api.post(f"{MLFLOW}/runs/log-batch", json={"run_id": run, "params": [bad]})
    assert answer.status_code == 400 and answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert len(answer.content) < 2000 and "more characters" in answer.json()["message"]
