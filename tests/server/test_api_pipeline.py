"""/api/v1 pipeline runs: a run started over the API is recorded as `loopline run` records it (the
CLI's next run is all cache hits, `show --json` equals the API's run), one at a time (409), its
DAG's edges are the artifacts its steps exchanged (from the pipeline for a skipped step), lists
page and filter in SQL, a reproduce run compares its outputs, and the CLI's --json equals the API's
JSON (runs, show, status) through loopline.Client."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import loopline
from loopline.core.errors import Forbidden
from loopline.project import Project
from loopline.server import create_app
from tests.conftest import cli, write_project
from tests.pipeline.test_figures import CLEAN_STEPS, CLEAN_YAML
from tests.server.conftest import make_user
from tests.server.live import live_server

GATED_STEPS = (
    CLEAN_STEPS
    + """
import time
from pathlib import Path

def wait(table, gate):
    while not Path(gate).exists():  # the test opens the gate once it has seen the run running
        time.sleep(0.02)
    return {"rows": table.height}
"""
)

FAILING_YAML = """
steps:
  raw:
    uses: steps:raw
    params: {n: 3}
    outputs: [raw]
  broken:
    uses: steps:broken
    inputs: {table: raw}
    outputs: [half]
  after:
    uses: steps:count
    inputs: {table: half}
    outputs: [summary]
"""
FAILING_STEPS = (
    CLEAN_STEPS
    + """
def broken(table):
    raise ValueError("no good")
"""
)


def open_project(root: Path, yaml_text: str, steps_py: str) -> tuple[Project, dict[str, str]]:
    write_project(root, yaml_text, steps_py)
    project = Project.init(root)
    tokens = {role: make_user(project, f"user-{role}", role) for role in ("scientist", "viewer", "annotator")}
    return project, tokens


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def wait_done(client: TestClient, run_id: str, token: str) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        got = client.get(f"/api/v1/pipeline-runs/{run_id}", headers=bearer(token)).json()
        if got["status"] != "running":
            return got
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} still running")


@pytest.fixture
def clean(tmp_path: Path) -> Iterator[tuple[Project, dict[str, str]]]:
    project, tokens = open_project(tmp_path / "proj", CLEAN_YAML, CLEAN_STEPS)
    yield project, tokens
    project.close()


def test_a_run_started_over_the_api_is_recorded_as_the_cli_records_it(clean: tuple[Project, dict]) -> None:
    project, tokens = clean
    sci = bearer(tokens["scientist"])
    with TestClient(create_app(project)) as client:
        started = client.post("/api/v1/pipeline-runs", json={}, headers=sci)
        assert started.status_code == 202, started.text
        run_id = started.json()["run_id"]
        done = wait_done(client, run_id, tokens["scientist"])
        assert done["status"] == "succeeded"
        steps = {s["name"]: s for s in done["steps"]}
        assert [s["status"] for s in done["steps"]] == ["ran", "ran", "ran"]
        assert steps["clean"]["rows"] == {"in": 10, "out": 8, "quarantined": 2}
        assert done["environment"]["id"] == done["environment_id"]
        env = client.get(f"/api/v1/environments/{done['environment_id']}", headers=sci).json()
        assert env == done["environment"] and "polars" in env["packages"]
        # the CLI finds every step made: the same fingerprints, the same outputs
        again = json.loads(cli("run", "--json", cwd=project.root, check=True).stdout)
        assert [s["status"] for s in again["steps"]] == ["cached"] * 3
        assert [s["fingerprint"] for s in again["steps"]] == [s["fingerprint"] for s in done["steps"]]
        assert [s["outputs"] for s in again["steps"]] == [s["outputs"] for s in done["steps"]]
        shown = json.loads(cli("show", run_id, "--json", cwd=project.root, check=True).stdout)
        assert shown == client.get(f"/api/v1/pipeline-runs/{run_id}", headers=sci).json()
        # force: every step recomputed (no cache hits), as `run --no-cache`
        forced = client.post("/api/v1/pipeline-runs", json={"force": True, "targets": ["raw"]}, headers=sci)
        assert forced.status_code == 202
        redo = wait_done(client, forced.json()["run_id"], tokens["scientist"])
        assert [(s["name"], s["status"]) for s in redo["steps"]] == [("raw", "ran")]


def test_one_run_at_a_time_and_what_cannot_start_is_a_4xx(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    yaml_text = CLEAN_YAML.replace("uses: steps:count", f"uses: steps:wait\n    params: {{gate: '{gate}'}}")
    project, tokens = open_project(tmp_path / "proj", yaml_text, GATED_STEPS)
    sci = bearer(tokens["scientist"])
    try:
        with TestClient(create_app(project)) as client:
            run_id = client.post("/api/v1/pipeline-runs", json={}, headers=sci).json()["run_id"]
            assert client.get(f"/api/v1/pipeline-runs/{run_id}", headers=sci).json()["status"] == "running"
            busy = client.post("/api/v1/pipeline-runs", json={}, headers=sci)
            assert busy.status_code == 409 and run_id in busy.json()["message"]
            gate.write_text("go")
            assert wait_done(client, run_id, tokens["scientist"])["status"] == "succeeded"
            unknown = client.post("/api/v1/pipeline-runs", json={"targets": ["nope"]}, headers=sci)
            assert unknown.status_code == 422 and "nope" in unknown.json()["message"]
            assert (
                client.post("/api/v1/pipeline-runs", json={"targets": ["x" * 201]}, headers=sci).status_code
                == 422
            )
            refused = client.post("/api/v1/pipeline-runs", json={}, headers=bearer(tokens["viewer"]))
            assert refused.status_code == 403
            assert client.get("/api/v1/pipeline-runs", headers=bearer(tokens["annotator"])).status_code == 403
            listed = client.get("/api/v1/pipeline-runs", headers=bearer(tokens["viewer"])).json()
            assert [r["run_id"] for r in listed["items"]] == [run_id]
    finally:
        project.close()
    empty = Project.init(tmp_path / "empty")
    token = make_user(empty, "sci", "scientist")
    try:
        with TestClient(create_app(empty)) as client:
            nothing = client.post("/api/v1/pipeline-runs", json={}, headers=bearer(token))
            assert nothing.status_code == 409 and "no steps" in nothing.json()["message"]
            assert client.get("/api/v1/pipeline-status", headers=bearer(token)).status_code == 409
            assert client.get("/api/v1/pipeline-runs", headers=bearer(token)).json() == {
                "items": [],
                "next_page_token": None,
            }
    finally:
        empty.close()


def test_the_dag_is_the_artifacts_the_steps_exchanged(tmp_path: Path) -> None:
    project, tokens = open_project(tmp_path / "proj", FAILING_YAML, FAILING_STEPS)
    sci = bearer(tokens["scientist"])
    try:
        with TestClient(create_app(project)) as client:
            run_id = client.post("/api/v1/pipeline-runs", json={}, headers=sci).json()["run_id"]
            assert wait_done(client, run_id, tokens["scientist"])["status"] == "failed"
            dag = client.get(f"/api/v1/pipeline-runs/{run_id}/dag", headers=sci).json()
    finally:
        project.close()
    nodes = {n["name"]: n for n in dag["nodes"]}
    assert {k: (n["status"], n["layer"]) for k, n in nodes.items()} == {
        "raw": ("ran", 0),
        "broken": ("failed", 1),
        "after": ("skipped", 2),
    }
    assert "no good" in nodes["broken"]["error"]
    edges = {(e["source"], e["target"]): e for e in dag["edges"]}
    assert set(edges) == {("raw", "broken"), ("broken", "after")}
    assert edges["raw", "broken"]["artifacts"] == [nodes["raw"]["outputs"]["raw"]]
    assert edges["raw", "broken"]["known_from"] == "run"
    # the skipped step read nothing: its upstream step is what the pipeline declares
    assert edges["broken", "after"] == {
        "source": "broken",
        "target": "after",
        "artifacts": [],
        "known_from": "pipeline",
    }
    assert dag["comparisons"] == [] and dag["inputs"] == {}


def test_pages_filters_reproduce_and_the_cli_json_is_the_api_json(clean: tuple[Project, dict]) -> None:
    project, tokens = clean
    first = json.loads(cli("run", "--json", cwd=project.root, check=True).stdout)["run_id"]
    cli("run", "--json", cwd=project.root, check=True)
    repro = json.loads(cli("reproduce", first, "--json", cwd=project.root, check=True).stdout)
    assert repro["identical"]
    with live_server(create_app(project)) as url, loopline.Client(url, tokens["viewer"]) as client:
        listed = list(client.iter_pipeline_runs())
        assert len(listed) == 3 and listed[-1].run_id == first
        one = client.pipeline_runs(limit=1)
        assert len(one.items) == 1 and one.next_page_token
        two = client.pipeline_runs(limit=1, page_token=one.next_page_token)
        assert two.items[0].run_id == listed[1].run_id
        assert client.pipeline_runs(status="failed").items == []
        assert [r.run_id for r in client.pipeline_runs(status="succeeded").items] == [
            r.run_id for r in listed
        ]
        cli_runs = json.loads(cli("runs", "--json", cwd=project.root, check=True).stdout)
        assert cli_runs == [r.model_dump(mode="json") for r in listed]
        shown = json.loads(cli("show", first, "--json", cwd=project.root, check=True).stdout)
        assert shown == client.pipeline_run(first).model_dump(mode="json")
        status = json.loads(cli("status", "--json", cwd=project.root, check=True).stdout)
        assert status == client.pipeline_status().model_dump(mode="json")
        assert {s["state"] for s in status["steps"]} == {"fresh"}
        dag = client.pipeline_dag(repro["reproduce_run_id"])
        assert dag.reproduce_of == first
        assert {(c.step, c.output) for c in dag.comparisons} == {
            (s["name"], slot) for s in shown["steps"] for slot in s["outputs"]
        }
        assert all(c.identical and c.got == c.expected for c in dag.comparisons)
        with pytest.raises(Forbidden):  # a viewer reads, and may not start a run
            client.start_pipeline_run()
