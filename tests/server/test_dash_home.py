"""The home page: who lands where at `/`, and the cards of the loop (data versions, the production
model with its drift and accuracy trend, pending approvals, open labeling work, failed runs) over
a real project, in headless Chromium too (keyboard, no console error, a screenshot to look at)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient

import loopline
from loopline.server import create_app
from tests.monitor.conftest import NOW, make_setup, sample
from tests.server.conftest import make_user
from tests.server.live import SHOTS, chromium, live_server


@loopline.step(outputs=["feed"])
def broken_feed() -> pl.DataFrame:
    raise ValueError("the upstream feed answered 503")


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("home") / "proj"
    setup = make_setup(root, "registry:\n  require_approval: [staging]\n")
    project = setup.project
    setup.log(sample(600, 1), start=NOW)
    project.predictions.post_truth("clf", {f"r{i}": int(i % 2 == 0) for i in range(0, 600, 3)})
    project.monitor("clf", since=NOW, until=NOW + timedelta(hours=1))
    setup.log(sample(600, 2, shift=1.0), start=NOW + timedelta(hours=2), prefix="s")
    project.monitor("clf", since=NOW + timedelta(hours=2), until=NOW + timedelta(hours=3))
    newer = project.register("clf", "model", reason="retrained")  # waits for a staging approval
    failed = project.run(loopline.Pipeline([broken_feed]))
    assert failed.status == "failed"
    pl.DataFrame({"_item_id": ["a", "b", "c"], "text": ["good", "bad", "meh"]}).write_csv(root / "r.csv")
    project.add(root / "r.csv", "reviews")
    project.annotate_create("reviews", "reviews", ["pos", "neg"], text_field="text")
    tokens = {role: make_user(project, role, role) for role in ("viewer", "annotator", "approver")}
    yield {"project": project, "tokens": tokens, "failed": failed, "newer": newer.version}
    project.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_who_lands_where_at_the_root(loop: dict[str, Any]) -> None:
    with TestClient(create_app(loop["project"])) as client:
        assert client.get("/", follow_redirects=False).headers["location"] == "/signin"
        odd = client.get("/", headers=bearer("not-a-token"), follow_redirects=False)
        assert odd.headers["location"] == "/signin"
        annotator = client.get("/", headers=bearer(loop["tokens"]["annotator"]), follow_redirects=False)
        assert annotator.status_code == 303 and annotator.headers["location"] == "/annotate"
        viewer = client.get("/", headers=bearer(loop["tokens"]["viewer"]))
        assert viewer.status_code == 200 and "The loop at a glance" in viewer.text


def test_the_cards_show_the_loop_and_an_approval_lands_on_them(loop: dict[str, Any]) -> None:
    project, tokens, newer = loop["project"], loop["tokens"], loop["newer"]
    with TestClient(create_app(project)) as client:
        html = client.get("/", headers=bearer(tokens["viewer"])).text
        assert 'href="/data/reviews/versions/1"' in html
        assert 'href="/models/clf/versions/1"' in html  # production
        assert "drift share over the last 2 reports" in html and "accuracy over the last 2 reports" in html
        assert "drifted" in html
        assert f'href="/models/clf/versions/{newer}"' in html and "needs approval" in html
        assert 'href="/annotate/reviews"' in html and "3 of 3 left" in html  # a viewer labels nothing
        assert f'href="/pipelines/{loop["failed"].id}"' in html
        assert "ValueError: the upstream feed answered 503" in html and "broken_feed" in html
        approve = client.post(
            f"/api/v1/models/clf/versions/{newer}/approve",
            headers=bearer(tokens["approver"]),
            json={"alias": "staging", "reason": "looked at it"},
        )
        assert approve.status_code == 200, approve.text
        html = client.get("/", headers=bearer(tokens["viewer"])).text
        assert "approved by approver" in html and "needs approval" not in html
        project.promote("clf", newer, "staging")
        html = client.get("/", headers=bearer(tokens["viewer"])).text
        assert "Nothing waits for an approval of staging" in html


def test_home_in_chromium_by_keyboard(loop: dict[str, Any]) -> None:
    waiting = loop["project"].register("clf", "model", reason="retrained again").version
    with live_server(create_app(loop["project"])) as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(url + "/")
        assert page.url == url + "/signin"
        page.fill("#token", loop["tokens"]["viewer"])
        page.press("#token", "Enter")
        page.wait_for_url(url + "/")
        cards = page.locator(".home-cards > section.card")
        assert cards.count() == 5
        assert page.locator("svg.spark.drift polyline").count() == 1
        pending = page.locator("section", has_text="Pending approvals")
        assert f"clf v{waiting}" in pending.inner_text() and "needs approval" in pending.inner_text()
        page.screenshot(path=str(SHOTS / "home.png"), full_page=True)
        for _ in range(40):  # Tab through the page to the data card's heading link, then Enter
            page.keyboard.press("Tab")
            focused = "document.activeElement.closest('.home-cards') && document.activeElement"
            if page.evaluate(f"({focused} || {{}}).getAttribute?.('href')") == "/data":
                break
        else:
            raise AssertionError("the data card's link is not reachable with Tab")
        assert problems == [], problems
        page.keyboard.press("Enter")
        page.wait_for_url(url + "/data")  # the area page (its own helper's; may 404 before it lands)
