"""Monitoring reports in `loopline server`: the REST API (managers only) and the pages in
headless Chromium: the list, one report with its Plotly figures drawn by the plotly.js bundle
served locally, under the strict Content Security Policy (no violation, no page error). The page
is saved to /tmp/loopline-ui-monitor*.png for a human to look at."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from loopline.server import create_app
from tests.monitor.conftest import NOW, make_setup, sample
from tests.server.live import SHOTS, chromium, live_server


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    setup = make_setup(tmp_path_factory.mktemp("monitor-ui") / "proj")
    project = setup.project
    setup.log(sample(800, 21, shift=0.8), start=NOW)
    project.predictions.post_truth("clf", {f"r{i}": int(i % 2 == 0) for i in range(0, 800, 3)})
    drifted = project.monitor("clf", since=NOW, until=NOW + timedelta(hours=1))
    empty = project.monitor("clf", since=NOW + timedelta(days=1), until=NOW + timedelta(days=2))
    tokens = {"mia": project.annotator_add("mia", "manager")[1], "ann": project.annotator_add("ann")[1]}
    yield {"setup": setup, "drifted": drifted, "empty": empty, "tokens": tokens}
    project.close()


def test_api_lists_and_returns_reports_to_managers(served: dict[str, Any]):
    project = served["setup"].project
    tokens = served["tokens"]
    with TestClient(create_app(project)) as client:
        assert client.get("/api/monitor/reports").status_code == 401
        who = {"Authorization": f"Bearer {tokens['ann']}"}
        assert client.get("/api/monitor/reports", headers=who).status_code == 403
        boss = {"Authorization": f"Bearer {tokens['mia']}"}
        listed = client.get("/api/monitor/reports", headers=boss).json()
        assert [r["report_id"] for r in listed] == [
            served["empty"]["report_id"],
            served["drifted"]["report_id"],
        ]
        assert listed[1]["drifted"] is True and listed[1]["rows"] == 800
        report = client.get(
            f"/api/monitor/reports/{served['drifted']['report_id'][:12]}", headers=boss
        ).json()
        assert report["drift"] == served["drifted"]["drift"]
        missing = client.get("/api/monitor/reports/ffffffffffff", headers=boss)
        assert missing.status_code == 404 and missing.json()["error"] == "not_found"
        js = client.get("/monitor/static/plotly.min.js")
        assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
        assert len(js.content) > 1_000_000


def test_report_pages_in_chromium(served: dict[str, Any]):
    project = served["setup"].project
    with live_server(create_app(project)) as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        problems: list[str] = []
        page.on("console", lambda m: problems.append(f"{m.text} {m.location}") if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(url + "/monitor")
        assert page.url == url + "/signin"  # managers only
        page.fill("#token", served["tokens"]["mia"])
        page.click("button[type=submit]")
        page.wait_for_url(url + "/")
        page.click("nav >> a[href='/monitoring']")  # the dashboard's overview links the reports
        page.wait_for_url(url + "/monitoring")
        page.click("text=All reports")
        page.wait_for_url(url + "/monitor")
        rows = page.locator("#reports tbody tr")
        assert rows.count() == 2
        page.screenshot(path=str(SHOTS / "loopline-ui-monitor-list.png"), full_page=True)

        page.click(f"a[href='/monitor/{served['drifted']['report_id']}']")
        page.wait_for_selector("body[data-plotted]")
        figures = len(served["drifted"]["figures"])
        assert page.get_attribute("body", "data-plotted") == str(figures)
        page.wait_for_function(f"document.querySelectorAll('.plot .main-svg').length >= {figures}")
        assert "Drift" in page.inner_text("#verdict")
        assert page.locator("#columns tbody tr.bad").count() == served["drifted"]["drift"]["drifted_columns"]
        page.screenshot(path=str(SHOTS / "loopline-ui-monitor-report.png"), full_page=True)

        page.goto(f"{url}/monitor/{served['empty']['report_id']}")
        assert "no predictions of clf" in page.inner_text("#empty")
        assert problems == [], problems
