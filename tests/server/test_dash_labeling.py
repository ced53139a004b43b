"""The labeling pages: /labeling (every project's progress, agreement, open work; a form that
creates a project for managers) and /labeling/{project} (annotators with gold scores, agreement,
the label-error queue), rendered by the server and clicked through in headless Chromium with the
keyboard. Screenshots go to artifacts/screenshots/labeling-*.png."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from loopline.server import create_app
from tests.server.conftest import Setup, make_user
from tests.server.live import SHOTS, chromium, live_server
from tests.server.test_api_labeling import WRONG, labeled


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    made = labeled(tmp_path_factory.mktemp("dash") / "proj")
    made.tokens["vera"] = make_user(made.project, "vera", "viewer")
    yield made
    made.project.close()


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_pages_show_progress_annotators_and_the_queue(setup: Setup) -> None:
    with TestClient(create_app(setup.project), follow_redirects=False) as client:
        listing = client.get("/labeling", headers=setup.auth("mia"))
        assert listing.status_code == 200
        shown = text_of(listing.text)
        report = client.get("/api/v1/labeling/reviews", headers=setup.auth("mia")).json()
        status, alpha = report["status"], report["agreement"]["krippendorff_alpha"]
        assert f"{status['complete']} / 28" in shown and f"{alpha:.3f}" in shown
        assert 'href="/labeling/reviews"' in listing.text and "New labeling project" in listing.text
        assert '<option value="reviews">' in listing.text  # the form offers the datasets

        viewer = client.get("/labeling", headers=setup.auth("vera"))  # reads, manages nothing
        assert viewer.status_code == 200 and "New labeling project" not in viewer.text
        assert 'href="/labeling/reviews"' not in viewer.text and "reviews" in viewer.text

        detail = client.get("/labeling/reviews", headers=setup.auth("mia"))
        assert detail.status_code == 200
        rows = re.findall(r'<tr data-annotator="(\w+)">(.*?)</tr>', detail.text, re.S)
        by_name = {name: text_of(row) for name, row in rows}
        assert "flagged" in by_name["bob"] and "50.0%" in by_name["bob"]
        assert "100.0%" in by_name["alice"] and "flagged" not in by_name["alice"]
        queue = dict(re.findall(r'<tr data-item="(\w+)">(.*?)</tr>', detail.text, re.S))
        for item, wrong in WRONG.items():
            assert wrong in text_of(queue[item]) and f"review number {int(item[4:])}" in queue[item]
        assert 'href="/manage/reviews"' in detail.text and 'href="/annotate/reviews"' in detail.text
        confusion = re.search(r'<table class="grid confusion">(.*?)</table>', detail.text, re.S)
        assert confusion and "heat-4" in confusion[1]  # answers against the consensus

        assert client.get("/labeling/reviews", headers=setup.auth("alice")).status_code == 403
        assert client.get("/labeling/nope", headers=setup.auth("mia")).status_code == 404
        assert client.get("/labeling?limit=0", headers=setup.auth("mia")).status_code == 422
        assert client.get("/labeling").headers["location"] == "/signin"


def test_a_manager_reviews_and_creates_in_the_browser(setup: Setup) -> None:
    with live_server(create_app(setup.project)) as url, chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(url + "/signin")
        page.fill("#token", setup.tokens["mia"])
        page.press("#token", "Enter")
        page.wait_for_url(re.compile(r"^(?!.*signin)"))

        page.goto(url + "/labeling")
        row = page.locator('tr[data-project="reviews"]')
        done, total = (int(x) for x in row.locator(".done-count").inner_text().split(" / "))
        assert total == 28 and done >= 25  # all answered; the label errors reopened a few
        assert float(row.locator("progress").get_attribute("value") or 0) == pytest.approx(
            done / total, abs=1e-3
        )
        page.screenshot(path=str(SHOTS / "labeling-list.png"), full_page=True)

        link = page.locator('a[href="/labeling/reviews"]')
        link.focus()
        page.keyboard.press("Enter")  # keyboard: a focused link opens the project
        page.wait_for_url(url + "/labeling/reviews")
        assert page.locator("tr[data-annotator]").count() == 2
        assert "flagged" in page.locator('tr[data-annotator="bob"]').inner_text()
        for item, wrong in WRONG.items():
            assert wrong in page.locator(f'tr[data-item="{item}"]').inner_text()
        assert page.locator("table.confusion tbody tr").count() == 3
        page.screenshot(path=str(SHOTS / "labeling-project.png"), full_page=True)

        page.goto(url + "/labeling")
        form = page.locator("#labeling-create")
        form.locator("[name=name]").fill("fresh")
        form.locator("[name=dataset]").fill("nope")
        form.locator("[name=labels]").fill("good, bad")
        form.locator("[name=labels]").press("Enter")  # Enter submits
        message = page.locator("#labeling-create-message")
        message.filter(has_text="no artifact named 'nope'").wait_for()
        assert "bad" in (message.get_attribute("class") or "")
        page.screenshot(path=str(SHOTS / "labeling-create-error.png"), full_page=True)

        form.locator("[name=dataset]").fill("reviews")
        form.locator("[name=text_field]").fill("text")
        form.locator("[name=overlap]").fill("2")
        form.locator("button[type=submit]").focus()
        page.keyboard.press("Enter")
        page.wait_for_url(url + "/labeling/fresh")
        assert "0 / 30" in page.locator(".stats").inner_text()
        page.screenshot(path=str(SHOTS / "labeling-created.png"), full_page=True)
        context.close()
    spec = setup.project.meta.annotations.get_project("fresh")
    assert (spec.labels, spec.overlap, spec.text_field) == (("good", "bad"), 2, "text")
    # console errors are failures, but for the browser's own line about the refused POST, whose
    # message the page showed
    refused = "the server responded with a status of 404"
    assert [p for p in problems if refused not in p] == [], problems
