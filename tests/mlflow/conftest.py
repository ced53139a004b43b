"""The real MLflow client lives in a venv of its own (`make test` creates `.venv-mlflow`, pinned in
the Makefile) and its path reaches the tests as LOOPLINE_MLFLOW_PYTHON; a missing venv fails the
tests with the command that makes it, it never skips them."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from loopline.project import Project
from loopline.server import create_app
from tests.conftest import write_project

ROOT = Path(__file__).resolve().parents[2]
CLIENT_SCRIPT = Path(__file__).with_name("client_script.py")
DEFAULT_PYTHON = ROOT / ".venv-mlflow" / "bin" / "python"


@pytest.fixture(scope="session")
def mlflow_python() -> Path:
    python = Path(os.environ.get("LOOPLINE_MLFLOW_PYTHON") or DEFAULT_PYTHON)
    if not python.exists():
        pytest.fail(
            f"no MLflow client venv at {python}: run `make test` (it creates .venv-mlflow once) or "
            "set LOOPLINE_MLFLOW_PYTHON to a Python with mlflow 3 and scikit-learn installed",
            pytrace=False,
        )
    found = subprocess.run(
        [str(python), "-c", "import mlflow, sklearn; print(mlflow.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    if found.returncode != 0 or not found.stdout.startswith("3."):
        pytest.fail(f"{python} has no MLflow 3: {found.stdout}{found.stderr}", pytrace=False)
    return python


@pytest.fixture
def project(tmp_path: Path, store_url: str) -> Iterator[Project]:
    root = write_project(tmp_path / "proj", "steps: {}\n", store=store_url)
    project = Project.init(root)
    try:
        yield project
    finally:
        project.close()


@pytest.fixture
def api(project: Project) -> Iterator[TestClient]:
    """The MLflow API with auth off (every request the local admin): the wire protocol alone;
    tests/server/test_access.py and test_http's auth tests cover who may call what."""
    with TestClient(create_app(project, auth=False)) as client:
        yield client


PARITY_RUNNER = Path(__file__).with_name("parity") / "run.py"


def parity(tmp_path: Path, mlflow_python: Path, point: int, **env: str) -> dict[str, str]:
    """Run point's MLflow client checks (tests/mlflow/parity) against a live `loopline server`
    with auth on, as an admin's token; {check name: error ('' when it passed)}."""
    import json

    from tests.server.live import live_server

    project = Project.init(tmp_path / "parity")
    token = project.users_add("parity", "admin")[1]
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "LOOPLINE_"))}
    try:
        with live_server(create_app(project)) as url:
            base |= {"MLFLOW_TRACKING_URI": url, "MLFLOW_TRACKING_TOKEN": token, **env}
            base |= {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
            done = subprocess.run(
                [str(mlflow_python), str(PARITY_RUNNER), "--point", str(point)],
                cwd=tmp_path,
                env=base,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
    finally:
        project.close()
    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert results, f"no checks for point {point}"
    return {r["name"]: r["error"] for r in results}
