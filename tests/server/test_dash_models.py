"""The models pages: the list, a model (versions, aliases, gates, approvals, deployments,
history), a version's card; in Chromium an approver approves with the button and, once a
maintainer promotes, the page shows the alias moved; a scientist sees no button and a direct POST
is refused; keyboard use; no console errors; and with 1,000 versions the pages and the list
endpoints' first pages answer (their speed is benchmarks/dashboard.py's).
Screenshots: artifacts/screenshots/models-*.png."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from loopline.server import create_app
from tests.server.conftest import make_user
from tests.server.live import SHOTS, chromium, live_server
from tests.server.test_api_models import NOW, Registry, make_registry


@pytest.fixture
def reg(tmp_path: Path) -> Iterator[Registry]:
    made = make_registry(tmp_path / "proj")
    yield made
    made.project.close()


def test_pages_show_the_registry(reg: Registry) -> None:
    with TestClient(create_app(reg.project, clock=lambda: NOW)) as client:
        listing = client.get("/models", headers=reg.auth("vera"))
        assert listing.status_code == 200
        text = listing.text
        assert 'href="/models/iris"' in text and "production → 1" in text
        assert "accuracy" in text and ">1</span>" in text  # version 3 awaits approval: 1 pending
        model = client.get("/models/iris", headers=reg.auth("bob")).text
        assert 'data-action="approve" data-model="iris" data-version="3"' in model
        assert 'data-version="1" data-alias' not in model  # approved and in production already
        assert "canary" in model and "90.0%" in model and "shadow" in model
        assert "approved version 1 for production" in model and "looked at the card" in model
        for who in ("alice", "vera"):  # a scientist and a viewer: no Approve button
            assert 'data-action="approve"' not in client.get("/models/iris", headers=reg.auth(who)).text
        version = client.get("/models/iris/versions/1", headers=reg.auth("vera")).text
        assert "production by bob" in version and "looked at the card" in version
        assert 'href="/lineage?ref=' in version
        assert client.get("/models/nope", headers=reg.auth("vera")).status_code == 404
        assert client.get("/models/iris/versions/99", headers=reg.auth("vera")).status_code == 404


def _errors(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def _sign_in(browser: Any, url: str, token: str) -> Any:
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(url + "/signin")
    page.fill("#token", token)
    page.press("#token", "Enter")  # the form submits with Enter
    page.wait_for_url(lambda u: "/signin" not in u)
    return page


def test_approve_in_the_browser_and_be_refused_as_a_scientist(reg: Registry) -> None:
    app = create_app(reg.project, clock=lambda: NOW)
    with live_server(app) as url, chromium() as browser:
        page = _sign_in(browser, url, reg.tokens["bob"])
        errors = _errors(page)
        page.goto(url + "/models")
        page.screenshot(path=str(SHOTS / "models-list.png"), full_page=True)
        page.click("text=iris")
        page.wait_for_url(url + "/models/iris")
        button = page.locator('button[data-action="approve"][data-version="3"]')
        button.focus()
        assert page.evaluate("document.activeElement.dataset.version") == "3"  # reachable by keyboard
        page.screenshot(path=str(SHOTS / "models-model-approver.png"), full_page=True)
        page.keyboard.press("Enter")
        page.wait_for_selector("#action-message.good")
        assert "Approved iris version 3 for production" in page.inner_text("#action-message")
        assert page.locator('button[data-action="approve"]').count() == 0  # nothing awaits now
        assert "for production by bob" in page.inner_text("#v3")
        assert errors == [], errors

        # a maintainer promotes what bob approved: the button moves the alias
        maintainer = _sign_in(browser, url, reg.tokens["dave"])
        errors = _errors(maintainer)
        maintainer.goto(url + "/models/iris")
        maintainer.click('button[data-action="promote"][data-version="3"]')
        maintainer.wait_for_selector("#action-message.good")
        assert "production" in maintainer.inner_text("#v3 td:nth-child(2)")
        assert "production" not in maintainer.inner_text("#v1 td:nth-child(2)")
        maintainer.screenshot(path=str(SHOTS / "models-model-promoted.png"), full_page=True)
        assert errors == [], errors

        scientist = _sign_in(browser, url, reg.tokens["alice"])
        errors = _errors(scientist)
        scientist.goto(url + "/models/iris")
        assert scientist.locator('button[data-action="approve"]').count() == 0
        status = scientist.evaluate(
            """() => fetch('/api/v1/models/iris/versions/3/approve', {method: 'POST',
                 credentials: 'same-origin', headers: {'Content-Type': 'application/json',
                 'X-Loopline-UI': '1'}, body: JSON.stringify({alias: 'production'})})
               .then(r => r.status)"""
        )
        assert status == 403
        scientist.goto(url + "/models/iris/versions/3")
        assert "production" in scientist.inner_text("h1")
        scientist.screenshot(path=str(SHOTS / "models-version.png"), full_page=True)
        assert [e for e in errors if "403" not in e] == [], errors
    events = [(e.kind, e.actor) for e in reg.project.model_history("iris")]
    assert events[-2:] == [("approve", "bob"), ("promote", "dave")]


def test_a_refusal_shows_its_message(reg: Registry) -> None:
    """An approver who registered the version is refused by the registry (four eyes): the page
    shows the registry's message."""
    from sklearn.linear_model import LogisticRegression

    from loopline.core.identity import Principal, acting
    from loopline.store.models import save_model
    from tests.server.test_api_models import X, Y

    art = save_model(reg.project.blobs, LogisticRegression(max_iter=300).fit(X, Y))
    reg.project.meta.add_version("model", art, source="test")
    with acting(Principal("bob", "approver")):
        reg.project.registry.register("iris", art)  # version 4, bob's own
    app = create_app(reg.project, clock=lambda: NOW)
    with live_server(app) as url, chromium() as browser:
        page = _sign_in(browser, url, reg.tokens["bob"])
        page.goto(url + "/models/iris")
        page.click('button[data-action="approve"][data-version="4"]')
        page.wait_for_selector("#action-message.bad")
        assert "bob registered iris version 4 and cannot approve it" in page.inner_text("#action-message")


def test_a_thousand_versions_each_page_answers(tmp_path: Path) -> None:
    reg = make_registry(tmp_path / "proj", versions=1)
    project = reg.project
    art_id = project.model("iris", 1).artifact_id
    repo = project.registry.repo
    for n in range(999):  # the record, not a fit: what is measured is the reading
        repo.register("iris", art_id, actor="alice", metrics={"accuracy": n / 1000}, gates_passed=True)
    for n in range(50):
        repo.register(f"other-{n:02d}", art_id, actor="alice", metrics={"f1": 0.5})
    h = reg.auth("vera")
    with TestClient(create_app(project, clock=lambda: NOW)) as client:
        assert client.get("/api/v1/models/iris", headers=h).json()["versions"][-1]["version"] == 1000
        for path in (
            "/models",
            "/models/iris",
            "/models/iris/versions/1000",
            "/api/v1/models",
            "/api/v1/models/iris/history",
            "/api/v1/models/iris/predictions",
        ):  # timings are benchmarks/dashboard.py's, not a test's
            assert client.get(path, headers=h).status_code == 200, path
    project.close()


def test_an_evaluated_version_shows_its_card_lineage_and_run(tmp_path: Path) -> None:
    from tests.evaluate.test_pipeline import make

    project = make(tmp_path / "p")
    run = project.run()
    assert run.status == "succeeded", [s.error for s in run.steps]
    project.register("churn", "model")
    token = make_user(project, "vera", "viewer")
    try:
        with live_server(create_app(project)) as url, chromium() as browser:
            page = _sign_in(browser, url, token)
            errors = _errors(page)
            page.goto(url + "/models/churn/versions/1")
            assert page.get_attribute("a[href^='/pipelines/']", "href") == f"/pipelines/{run.id}"
            refs = [a.get_attribute("href") for a in page.locator("table.lineage a").all()]
            assert "/lineage?ref=train%401" in refs and "/lineage?ref=test%401" in refs, refs
            assert "A test of loopline" in page.inner_text("main")
            assert "accuracy >= 0.7" in page.inner_text("table.gates")
            page.screenshot(path=str(SHOTS / "models-version-card.png"), full_page=True)
            assert errors == [], errors
    finally:
        project.close()
