"""Two annotators submitting at the same moment, through a real server, on SQLite and PostgreSQL:
neither answer overwrites the other, and an expired lease loses to the live one."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from loopline.server import create_app
from tests.server.conftest import Clock, make_setup
from tests.server.live import live_server


def at_once(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads released together by a barrier; their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_two_annotators_on_one_task_both_land(tmp_path: Path, store_url: str) -> None:
    setup = make_setup(tmp_path / "p", store_url, overlap=2)
    with live_server(create_app(setup.project)) as url:
        alice = httpx.Client(base_url=url, headers=setup.auth("alice"))
        bob = httpx.Client(base_url=url, headers=setup.auth("bob"))
        a = alice.get("/api/annotate/reviews/next").json()["task"]["id"]
        b = bob.get("/api/annotate/reviews/next").json()["task"]["id"]
        assert a == b  # overlap 2: the same top task goes to both
        path = f"/api/annotate/reviews/tasks/{a}"
        ra, rb = at_once(
            lambda: alice.post(path, json={"label": "positive", "seconds": 1}),
            lambda: bob.post(path, json={"label": "negative", "seconds": 2}),
        )
        assert (ra.status_code, rb.status_code) == (201, 201), (ra.text, rb.text)
        # a third annotator cannot add a third answer: the overlap is reached
        carol = setup.project.annotator_add("carol")[1]
        c = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {carol}"})
        assert c.get("/api/annotate/reviews/next").json()["task"]["id"] != a
    answers = {
        (x.task_id, x.annotator): (x.label, x.seconds)
        for x in setup.project.meta.annotations.annotations("reviews")
    }
    assert answers == {(a, "alice"): ("positive", 1.0), (a, "bob"): ("negative", 2.0)}
    setup.project.close()


def test_an_expired_lease_loses_to_the_live_one(tmp_path: Path, store_url: str) -> None:
    clock = Clock()
    setup = make_setup(tmp_path / "p", store_url, overlap=1, lease_seconds=60)
    with live_server(create_app(setup.project, clock=clock)) as url:
        alice = httpx.Client(base_url=url, headers=setup.auth("alice"))
        bob = httpx.Client(base_url=url, headers=setup.auth("bob"))
        task = alice.get("/api/annotate/reviews/next").json()["task"]["id"]
        clock.advance(61)
        assert bob.get("/api/annotate/reviews/next").json()["task"]["id"] == task
        path = f"/api/annotate/reviews/tasks/{task}"
        ra, rb = at_once(
            lambda: alice.post(path, json={"label": "positive"}),
            lambda: bob.post(path, json={"label": "negative"}),
        )
        assert (ra.status_code, rb.status_code) == (409, 201), (ra.text, rb.text)
        assert "expired" in ra.json()["message"]
        # the same annotator submitting twice at once: one answer, one 409
        nxt = bob.get("/api/annotate/reviews/next").json()["task"]["id"]
        path = f"/api/annotate/reviews/tasks/{nxt}"
        r1, r2 = at_once(
            lambda: bob.post(path, json={"label": "neutral"}),
            lambda: bob.post(path, json={"label": "neutral"}),
        )
        assert sorted((r1.status_code, r2.status_code)) == [201, 409]
    answers = [
        (x.task_id, x.annotator, x.label) for x in setup.project.meta.annotations.annotations("reviews")
    ]
    assert answers == [(task, "bob", "negative"), (nxt, "bob", "neutral")]
    setup.project.close()
