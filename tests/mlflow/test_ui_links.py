"""The links the real MLflow client prints ("View run … at: HOST/#/experiments/ID/runs/RUN_ID",
"View experiment at: HOST/#/experiments/ID") and the MLflow UI's model-version links open the
matching loopline page in Chromium: signed out, through the sign-in page (the fragment becomes
its `next`), signed in, straight away. Sign-in's `next` is only ever a local path."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from loopline.project import Project
from loopline.server import create_app
from tests.server.conftest import make_user
from tests.server.live import chromium, live_server

SCRIPT = """
import mlflow, mlflow.sklearn
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
X, y = load_iris(return_X_y=True)
mlflow.set_experiment("links")
with mlflow.start_run(run_name="linked") as run:
    mlflow.log_metric("loss", 0.5)
    mlflow.sklearn.log_model(LogisticRegression(max_iter=300).fit(X, y), name="model",
                             registered_model_name="churn")
print("RUN", run.info.run_id)
"""


def _links(stdout: str) -> tuple[str, str]:
    run = re.search(r"View run linked at: (\S+)", stdout)
    experiment = re.search(r"View experiment at: (\S+)", stdout)
    assert run and experiment, stdout
    return run[1], experiment[1]


def test_the_printed_links_open_loopline_pages(tmp_path: Path, mlflow_python: Path) -> None:
    project = Project.init(tmp_path / "proj")
    token = make_user(project, "sam", "scientist")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "LOOPLINE_"))}
    try:
        with live_server(create_app(project)) as url, chromium() as browser:
            done = subprocess.run(
                [str(mlflow_python), "-c", SCRIPT],
                env=env | {"MLFLOW_TRACKING_URI": url, "MLFLOW_TRACKING_TOKEN": token},
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
                cwd=tmp_path,
            )
            assert done.returncode == 0, done.stderr[-3000:]
            run_id = done.stdout.split("RUN ")[-1].strip()
            run_link, experiment_link = _links(done.stdout)
            experiment = re.fullmatch(rf"{re.escape(url)}/#/experiments/(\d+)", experiment_link)
            assert experiment is not None, experiment_link
            assert run_link == f"{experiment_link}/runs/{run_id}"

            page = browser.new_context().new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(run_link)  # signed out: / sends to the sign-in page, the fragment survives
            page.wait_for_url(re.compile(r"/signin#"))
            assert page.input_value("input[name=next]") == f"/runs/{run_id}"
            page.fill("#token", token)
            page.press("#token", "Enter")
            page.wait_for_url(re.compile(r"/runs/"))
            assert urlsplit(page.url).path == f"/runs/{run_id}"

            page.goto(experiment_link)  # signed in: straight to the page
            page.wait_for_url(re.compile(r"/runs\?"))
            assert page.url == f"{url}/runs?experiment={experiment[1]}"

            page.goto(f"{url}/#/models/churn/versions/1")  # the MLflow UI's model-version link
            page.wait_for_url(f"{url}/models/churn/versions/1")
            assert "churn version 1" in page.inner_text("h1")
            assert page.get_attribute("a[href^='/runs/']", "href") == f"/runs/{run_id}"
            page.goto(f"{url}/#/models/churn")
            page.wait_for_url(f"{url}/models/churn")
            assert page.inner_text("h1") == "churn"
            assert errors == [], errors
    finally:
        project.close()


@pytest.mark.parametrize(
    ("next_path", "lands"),
    [
        ("/models/churn", "/models/churn"),
        ("/runs?experiment=3", "/runs?experiment=3"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("/ok\r\nSet-Cookie: x=1", "/"),
        ("", "/"),
    ],
)
def test_sign_in_goes_only_to_a_local_next(tmp_path: Path, next_path: str, lands: str) -> None:
    project = Project.init(tmp_path / "proj")
    token = make_user(project, "sam", "scientist")
    try:
        with TestClient(create_app(project), follow_redirects=False) as client:
            shown = client.get("/signin", params={"next": next_path})
            field = re.search(r'name="next" value="([^"]*)"', shown.text)
            assert field is not None and field[1] == ("" if lands == "/" else lands.replace("&", "&amp;"))
            done = client.post("/signin", data={"token": token, "next": next_path})
            assert done.status_code == 303 and done.headers["location"] == lands
    finally:
        project.close()
