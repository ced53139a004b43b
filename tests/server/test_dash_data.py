"""The data pages in headless Chromium: a viewer opens /data, a dataset, a version with its
quarantined rows and their reasons, a diff, and follows a prediction's lineage back to the raw
file and line, with the keyboard where a user would; no console errors. Each page is saved to
artifacts/screenshots/data-*.png for a human to look at."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from loopline.server import create_app
from tests.server.live import SHOTS, chromium, live_server
from tests.server.test_api_data import DataSetup, make_data_project


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DataSetup]:
    made = make_data_project(tmp_path_factory.mktemp("dash") / "proj")
    yield made
    made.project.close()


def test_pages_render_for_a_viewer_and_refuse_an_annotator(data: DataSetup) -> None:
    from tests.server.conftest import make_user

    with TestClient(create_app(data.project)) as client:
        client.headers.update(data.auth)
        for path in (
            "/data",
            "/data/people",
            "/data/people/versions/2",
            "/data/people/versions/2?page_token=bzI",
            "/data/model/versions/1",
            "/data/people/diff?a=1&b=2",
            "/lineage?ref=people@2",
        ):
            got = client.get(path)
            assert got.status_code == 200, (path, got.text[:500])
            assert "<h1>" in got.text
        assert client.get("/data/nobody").status_code == 404
        assert client.get("/data/people/versions/2?page_token=%%").status_code == 422
        assert client.get("/lineage?ref=people@2&row=-1").status_code == 422
        second = client.get("/data/people/versions/2?page_token=bzI").text  # offset 2
        assert "<td>dee</td>" in second and "<td>ann</td>" not in second
        token = make_user(data.project, "ann_a", "annotator")
        refused = client.get("/data", headers={"Authorization": f"Bearer {token}"})
        assert refused.status_code == 403


@pytest.fixture
def browser_page(data: DataSetup) -> Iterator[tuple[str, Any, list[str]]]:
    with live_server(create_app(data.project)) as url, chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(5000)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url + "/signin")
        page.fill("#token", data.token)
        page.keyboard.press("Enter")  # the form submits with Enter
        page.wait_for_url(lambda u: "/signin" not in u)
        yield url, page, errors
        context.close()


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"data-{name}.png"), full_page=True)


def test_from_datasets_to_a_raw_line(browser_page: tuple[str, Any, list[str]], data: DataSetup) -> None:
    url, page, errors = browser_page
    page.goto(url + "/data")
    assert page.locator("#datasets a[href='/data/people']").inner_text() == "people"
    shot(page, "datasets")

    page.click("#datasets a[href='/data/people']")
    page.wait_for_url(url + "/data/people")
    assert page.locator("#versions tbody tr").count() == 2
    shot(page, "versions")

    page.focus("#versions a[href='/data/people/versions/2']")  # the keyboard opens a version
    page.keyboard.press("Enter")
    page.wait_for_url(url + "/data/people/versions/2")
    assert page.locator("#schema").inner_text().count("Int64") == 1
    assert page.locator("#preview tbody tr").count() == 4
    reasons = page.locator("#quarantined td.reason").all_inner_texts()
    assert reasons == ["column age: abc is not Int64", "column age: x9 is not Int64"]
    assert "inbox/people.csv:3" in page.locator("#quarantined").inner_text()
    shot(page, "version")

    page.go_back()
    page.click("text=diff with v1")
    page.wait_for_url(url + "/data/people/diff?a=1&b=2")
    assert "+1" in page.locator("#summary").inner_text()
    assert "eve" in page.locator("table.diff-added").inner_text()
    shot(page, "diff")

    # a prediction: the scores table's row for ann, traced back
    page.goto(url + "/data/ages_scores/versions/1")
    ann = next(r for r in data.project.head("adults", 10)[1] if r["name"] == "ann")
    trace = page.locator(f"#preview a[href*='{ann['_item_id']}']")
    trace.focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/lineage?**")
    lines = page.locator("#trace-list .raw-line").all_inner_texts()
    assert lines == ["inbox/people.csv, line 2", "inbox/people.csv, line 2"]
    assert page.locator("#graph .node.current").inner_text().startswith("ages_scores@1")
    shot(page, "lineage")

    page.click("#graph .node a.node-main:text-is('people@2')")
    page.wait_for_url("**/lineage?ref=*")
    assert page.locator("#graph .node.current").inner_text().startswith("people@2")
    assert page.locator("#graph a.node-main:text-is('ages_scores@1')").count() == 1  # a descendant
    shot(page, "lineage-people")
    assert errors == []
