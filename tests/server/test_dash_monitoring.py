"""/monitoring and /monitoring/{model} in headless Chromium on a project with real reports (see
test_api_monitoring.make_monitored): the overview, a model's charts drawn by the bundled plotly.js
under the strict CSP, a drifted point clicked through to its report, a row followed by keyboard;
no console error. Screenshots go to artifacts/screenshots/monitoring-*.png."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from loopline.server import create_app
from tests.server.live import SHOTS, chromium, live_server
from tests.server.test_api_monitoring import make_monitored


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    made = make_monitored(tmp_path_factory.mktemp("dash-monitoring") / "proj")
    yield made
    made["project"].close()


def _signed_in(browser: Any, url: str, token: str) -> tuple[Any, list[str]]:
    page = browser.new_context(viewport={"width": 1360, "height": 900}).new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda m: problems.append(f"{page.url} {m.text[:60]} {m.location}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(url + "/monitoring")
    assert page.url == url + "/signin"
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page, problems


def test_overview_model_charts_and_their_reports_in_chromium(monitored: dict[str, Any]) -> None:
    reports = monitored["reports"]
    drifted = {r["report_id"] for r in reports[:4] if r["drift"]["drifted"]}
    with live_server(create_app(monitored["project"])) as url, chromium() as browser:
        page, problems = _signed_in(browser, url, monitored["tokens"]["viewer"])
        page.goto(url + "/monitoring")
        rows = page.locator("#models tbody tr")
        assert rows.count() == 2
        first = rows.nth(0)
        assert first.locator("a.model").inner_text() == "clf"
        assert "no drift" in first.inner_text() and first.locator("svg.spark polyline").count() == 1
        accuracy = f"{reports[3]['performance']['accuracy']:.3f}"
        assert accuracy in first.inner_text()
        page.screenshot(path=str(SHOTS / "monitoring-overview.png"), full_page=True)

        for _ in range(40):  # by keyboard: Tab to the model's link, Enter follows it
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.matches('a.model')"):
                break
        else:
            pytest.fail("no Tab reaches a model's link")
        page.keyboard.press("Enter")
        page.wait_for_url(url + "/monitoring/clf")
        page.wait_for_selector("body[data-plotted][data-linked]")
        assert page.evaluate("document.body.dataset.plotted") == "3"
        assert page.locator(".js-plotly-plot").count() == 3
        traces = page.evaluate("[...document.querySelector('.plot').data].map(t => [t.name, t.x.length])")
        assert traces[:5] == [[name, 4] for name in ("segment", "x1", "x2", "x3", "x4")]
        marked = sum(c["drifted"] for r in reports[:4] for c in r["drift"]["columns"])
        assert traces[5] == ["drifted", marked] and marked >= 2
        assert page.locator("#alerts tbody tr").count() == 1
        assert page.locator("#points tbody tr").count() == 4
        page.screenshot(path=str(SHOTS / "monitoring-model.png"), full_page=True)

        point = page.locator(".plot").first.locator(".scatterlayer .trace").last.locator("path.point").first
        point.scroll_into_view_if_needed()
        box = point.bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_url(re.compile(r".*/monitor/[0-9a-f]{64}$"))
        assert page.url.rsplit("/", 1)[1] in drifted
        page.wait_for_selector("body[data-plotted]")
        page.screenshot(path=str(SHOTS / "monitoring-report-from-point.png"))

        page.go_back()
        page.wait_for_selector("body[data-plotted]")
        page.locator("#points tbody tr").first.locator("a").click()
        page.wait_for_url(url + f"/monitor/{reports[3]['report_id']}")

        page.goto(url + "/monitoring/clf?metric=statistic")
        page.wait_for_selector("body[data-plotted]")
        assert "test statistic" in page.locator(".plot").first.inner_text()
        page.goto(url + "/monitoring?limit=1")
        assert page.locator("#models tbody tr").count() == 1
        page.click("text=Next page")
        page.wait_for_load_state()
        assert page.locator("#models a.model").inner_text() == "clf2"
        assert problems == [], "\n".join(problems)


def test_pages_answer_viewers_and_refuse_annotators(monitored: dict[str, Any]) -> None:
    headers = {"Authorization": f"Bearer {monitored['tokens']['viewer']}"}
    with TestClient(create_app(monitored["project"])) as client:
        for path in (
            "/monitoring",
            "/monitoring/clf",
            "/api/v1/monitoring/models",
            "/api/v1/monitoring/reports",
        ):
            assert client.get(path, headers=headers).status_code == 200
        missing = client.get("/monitoring/nobody", headers=headers)
        assert missing.status_code == 404 and "no monitoring reports" in missing.text
        annotator = {"Authorization": f"Bearer {monitored['tokens']['annotator']}"}
        assert client.get("/monitoring", headers=annotator).status_code == 403
