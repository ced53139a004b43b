"""The pipeline pages in headless Chromium: a scientist starts the pipeline with the Run pipeline
button, the run's page follows it to the end, /pipelines lists it, its DAG shows each step's
status, a step focused with the keyboard shows its outputs (links to their lineage), the
environment page lists the packages and a reproduce run's page compares its outputs; a viewer
sees no Run button; no console errors. Each page is saved to artifacts/screenshots/pipeline-*.png to be
looked at. The list pages through many runs without a gap or a repeat."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from loopline.api.paging import encode_token
from loopline.project import Project
from loopline.server import create_app
from tests.conftest import write_project
from tests.pipeline.test_figures import CLEAN_STEPS, CLEAN_YAML
from tests.server.conftest import make_user
from tests.server.live import SHOTS, chromium, live_server
from tests.server.test_browser import sign_in


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Project, dict[str, str], str, Any]]:
    write_project(tmp_path / "proj", CLEAN_YAML, CLEAN_STEPS)
    project = Project.init(tmp_path / "proj")
    tokens = {role: make_user(project, f"user-{role}", role) for role in ("scientist", "viewer")}
    with live_server(create_app(project)) as url, chromium() as browser:
        yield project, tokens, url, browser
    project.close()


def watch(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def test_run_the_pipeline_open_its_dag_and_focus_a_step(served: tuple[Project, dict, str, Any]) -> None:
    project, tokens, url, browser = served
    page, _ = sign_in(browser, url, tokens["scientist"])
    errors = watch(page)
    page.goto(url + "/pipelines")
    assert "No pipeline runs yet" in page.inner_text("main")
    page.click("[data-run-pipeline]")
    page.wait_for_url(url + "/pipelines/*")
    run_id = page.url.rsplit("/", 1)[1]
    page.wait_for_selector("[data-run-status='succeeded']", timeout=60_000)  # reloaded when it ended

    page.goto(url + "/pipelines")
    row = page.locator("table.runs-table tbody tr")
    assert row.count() == 1
    assert row.first.locator("td").nth(1).inner_text() == "succeeded"
    assert [row.first.locator("td").nth(i).inner_text() for i in (4, 5, 6)] == ["3", "0", "0"]
    page.screenshot(path=str(SHOTS / "pipeline-runs.png"), full_page=True)
    page.click(f"a[href='/pipelines/{run_id}']")
    page.wait_for_url(url + f"/pipelines/{run_id}")

    nodes = page.locator("svg.dag a.node")
    assert nodes.count() == 3
    labels = [nodes.nth(i).get_attribute("aria-label") or "" for i in range(3)]
    assert [label.split(":")[0] for label in labels] == ["step raw", "step clean", "step count"]
    assert all(": ran" in label for label in labels)
    assert "rows 10 → 8 · 2 quarantined" in labels[1]
    assert page.locator("svg.dag path.edge").count() == 2
    # Tab from the top of the page until the second step has the focus: its panel shows
    page.locator("h1").click()
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.dataset && document.activeElement.dataset.step") == "step-1":
            break
    else:
        raise AssertionError("the clean step never got the keyboard focus")
    panel = page.locator("#step-1")
    assert panel.is_visible() and not page.locator("#step-0").is_visible()
    outputs = panel.locator("a[href^='/lineage?ref=']")
    made = project.show(run_id).steps[1].outputs
    assert outputs.count() >= len(made)
    hrefs = {outputs.nth(i).get_attribute("href") for i in range(outputs.count())}
    assert {f"/lineage?ref={art}" for art in made.values()} <= hrefs
    assert "rows 10 → 8 · 2 quarantined" in panel.inner_text()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "step-1"
    page.screenshot(path=str(SHOTS / "pipeline-run.png"), full_page=True)

    page.click("a[href^='/environments/']")
    assert "packages" in page.inner_text("h2")
    assert page.locator("table.packages").get_by_role("cell", name="polars", exact=True).count() == 1
    page.screenshot(path=str(SHOTS / "pipeline-environment.png"), full_page=True)
    # a reproduce run's page compares each output of the original with this run's
    _, again, compared = project.reproduce(run_id)
    page.goto(url + f"/pipelines/{again.id}")
    assert f"Reproduction of {run_id}" in page.inner_text("#repro-title")
    table = page.locator("section[aria-labelledby='repro-title'] table tbody tr")
    assert table.count() == len(compared) == 5
    assert page.locator("section[aria-labelledby='repro-title'] .badge.good").count() == 5
    page.screenshot(path=str(SHOTS / "pipeline-reproduce.png"), full_page=True)
    assert errors == []

    viewer, _ = sign_in(browser, url, tokens["viewer"])
    viewer_errors = watch(viewer)
    viewer.goto(url + f"/pipelines/{run_id}")
    assert viewer.locator("[data-run-pipeline]").count() == 0
    viewer.goto(url + "/pipelines?status=failed")
    assert "No failed runs" in viewer.inner_text("main")
    assert viewer_errors == []


def test_the_list_pages_in_sql(tmp_path: Path, store_url: str) -> None:
    """Pages of the list follow each other without a gap or a repeat, and the page shows 50 runs
    with a link to the older ones; a token not the server's is a 422."""
    write_project(tmp_path / "proj", CLEAN_YAML, CLEAN_STEPS, store=store_url)
    project = Project.init(tmp_path / "proj")
    token = make_user(project, "sci", "scientist")
    runner = project.stores.runner
    made = [runner.start_run("local") for _ in range(55)]
    for run_id in made:
        project.meta.finish_run(run_id, "succeeded")
    try:
        with TestClient(create_app(project)) as client:
            headers = {"Authorization": f"Bearer {token}"}
            first = client.get("/api/v1/pipeline-runs", params={"limit": 25}, headers=headers).json()
            second = client.get(
                "/api/v1/pipeline-runs",
                params={"limit": 25, "page_token": first["next_page_token"]},
                headers=headers,
            ).json()
            third = client.get(
                "/api/v1/pipeline-runs",
                params={"limit": 25, "page_token": second["next_page_token"]},
                headers=headers,
            ).json()
            ids = [r["run_id"] for r in first["items"] + second["items"] + third["items"]]
            assert len(ids) == 55 and set(ids) == set(made) and third["next_page_token"] is None
            page = client.get("/pipelines", headers=headers)
            assert page.status_code == 200 and page.text.count("<tr>") == 51  # the header and 50 runs
            assert "Older runs" in page.text
            bad = client.get("/pipelines", params={"page_token": "nope"}, headers=headers)
            assert bad.status_code == 422
            far = encode_token(2**63)  # beyond SQL's OFFSET: refused, not a 500
            assert (
                client.get("/api/v1/pipeline-runs", params={"page_token": far}, headers=headers).status_code
                == 422
            )
            # a run id prefix is a prefix: % and _ match themselves, not any run
            assert client.get("/api/v1/pipeline-runs/%25", headers=headers).status_code == 404
            assert client.get(f"/api/v1/pipeline-runs/{made[0][:-1]}_", headers=headers).status_code == 404
            assert (
                client.get(f"/api/v1/pipeline-runs/{made[0][:-2]}", headers=headers).json()["run_id"]
                == made[0]
            )
    finally:
        project.close()
