"""/audit in headless Chromium over a real log: the chain's verify status at the top, a filter by
actor (typed, Enter submits) then by object (a link in the table), paging, and an edit made in SQL
shown as the first broken link in red; no console error. A log of tens of thousands of events
pages in SQL. Screenshots go to artifacts/screenshots/audit-*.png."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from loopline.core.hashing import hash_text
from loopline.core.types import Artifact
from loopline.project import Project
from loopline.server import create_app
from tests.server.conftest import Setup, make_setup, make_user
from tests.server.live import SHOTS, chromium, live_server


@pytest.fixture
def logged(tmp_path: Path) -> Iterator[Setup]:
    made = make_setup(tmp_path / "proj")
    made.tokens["viewer"] = make_user(made.project, "u-viewer", "viewer")
    with TestClient(create_app(made.project)) as client:
        for who in ("alice", "bob"):
            task = client.get("/api/annotate/reviews/next", headers=made.auth(who)).json()["task"]
            done = client.post(
                f"/api/annotate/reviews/tasks/{task['id']}", json={"label": "neutral"}, headers=made.auth(who)
            )
            assert done.status_code == 201, done.text
    yield made
    made.project.close()


def _rows(page: Any, column: str) -> list[str]:
    return [t.strip() for t in page.locator(f"#events tbody td a.{column}").all_inner_texts()]


def test_the_log_filtered_by_actor_then_object_with_the_chain_status(logged: Setup) -> None:
    project = logged.project
    with live_server(create_app(project)) as url, chromium() as browser:
        page = browser.new_context(viewport={"width": 1360, "height": 900}).new_page()
        problems: list[str] = []
        page.on(
            "console", lambda m: problems.append(f"{page.url} {m.text[:200]}") if m.type == "error" else None
        )
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(url + "/audit")
        assert page.url == url + "/signin"
        page.fill("#token", logged.tokens["viewer"])
        page.click("button[type=submit]")
        page.wait_for_load_state()
        page.goto(url + "/audit")
        page.wait_for_selector("body[data-verified]")
        head = project.audit_head()
        assert head is not None
        events = project.audit_log()
        status = page.locator("#chain")
        assert status.inner_text() == f"chain verified: {len(events)} events, head {head.seq}:{head.hash}"
        assert status.get_attribute("class") == "good"
        assert page.locator("#events tbody tr").count() == len(events)
        page.screenshot(path=str(SHOTS / "audit-log.png"), full_page=True)

        page.fill("input[name=actor]", "alice")
        page.press("input[name=actor]", "Enter")  # the form submits with Enter
        page.wait_for_url("**/audit?*actor=alice*")
        assert set(_rows(page, "actor")) == {"alice"}
        by_alice = [e for e in events if e.actor == "alice"]
        assert page.locator("#events tbody tr").count() == len(by_alice) >= 3
        submitted = next(e for e in by_alice if e.action == "labeling.submit")
        page.locator("#events a.object", has_text=submitted.object).first.click()
        page.wait_for_url("**object=*")
        assert page.input_value("input[name=actor]") == "alice"
        assert page.input_value("input[name=object]") == submitted.object
        assert _rows(page, "object") == [submitted.object] and _rows(page, "actor") == ["alice"]
        page.screenshot(path=str(SHOTS / "audit-filtered.png"), full_page=True)

        page.goto(url + "/audit?limit=3")
        assert page.locator("#events tbody tr").count() == 3
        page.click("text=Older")
        page.wait_for_load_state()
        assert [int(s) for s in page.locator("#events tbody td.num").all_inner_texts()] == [
            e.seq for e in events[3:6]
        ]
        page.click("text=Newer")
        page.wait_for_load_state()
        assert [int(s) for s in page.locator("#events tbody td.num").all_inner_texts()] == [
            e.seq for e in events[:3]
        ]
        for _ in range(30):  # keyboard: Tab reaches the filter's button
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.matches('form.toolbar button')"):
                break
        else:
            pytest.fail("no Tab reaches the filter button")

        with project.meta.database.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE audit_events SET actor = 'mallory' WHERE seq = 3")
        page.goto(url + "/audit")
        page.wait_for_selector("body[data-verified]")
        assert status.get_attribute("class") == "bad"
        assert status.inner_text().startswith("chain BROKEN at event 3: ")
        assert page.locator("#events tr.bad").get_attribute("data-seq") == "3"
        page.screenshot(path=str(SHOTS / "audit-broken.png"))
        assert problems == [], "\n".join(problems)


def test_a_long_log_pages_in_sql(tmp_path: Path) -> None:
    project = Project.init(tmp_path / "proj")
    token = make_user(project, "u-viewer", "viewer")
    for n in range(3000):
        blob = hash_text(f"b{n}")
        project.meta.add_version(
            "iris", Artifact(id=hash_text(f"a{n}"), kind="table", blob=blob, size=1), source="x"
        )
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(project)) as client:
        assert client.get("/audit", headers=headers).status_code == 200
        for path in (
            "/audit",
            "/audit?object=iris&page_token=bzIwMDA",
            "/api/v1/audit",
            "/api/v1/audit?actor=x",
        ):
            answer = client.get(path, headers=headers)
            assert answer.status_code == 200
        page = client.get("/api/v1/audit?object=iris&limit=2&page_token=bzIwMDA", headers=headers).json()
        assert [e["object"] for e in page["items"]] == ["iris@1000", "iris@999"]
    project.close()
