"""The queue under load through the REST API (issue 4, small): 20 annotators at once on a real
server, 300 submissions at overlap 2, on PostgreSQL when LOOPLINE_TEST_DATABASE_URL is set, else
SQLite. It asserts the invariants, never timings: no task answered by more annotators than the
overlap, no annotator answering a task twice, no lost and no phantom submission.
(benchmarks/annotation_queue.py is the full size: 50 annotators, 5,000 submissions, timed.)"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from loopline.server import create_app
from tests.conftest import PG_URL, _postgres_schema_url
from tests.server.conftest import make_setup
from tests.server.live import live_server

CLIENTS = 20
TASKS = 150
OVERLAP = 2
LABELS = ("positive", "negative", "neutral")


@pytest.fixture
def load_store(tmp_path: Path) -> Iterator[str | None]:
    if PG_URL:
        yield from _postgres_schema_url(PG_URL)
    else:
        yield None  # the project's own SQLite file


def test_twenty_annotators_three_hundred_submissions(tmp_path: Path, load_store: str | None) -> None:
    names = tuple(f"a{i:02d}" for i in range(CLIENTS))
    texts = [f"review number {i}" for i in range(TASKS)]
    setup = make_setup(tmp_path / "p", load_store, overlap=OVERLAP, texts=texts, annotators=names)
    accepted: dict[str, list[tuple[int, int, str]]] = {n: [] for n in names}
    failures: list[str] = []

    def annotate(name: str, url: str) -> None:
        with httpx.Client(base_url=url, headers=setup.auth(name), timeout=60) as client:
            n = 0
            while True:
                got = client.get("/api/annotate/reviews/next")
                if got.status_code != 200:
                    failures.append(f"{name} next {got.status_code} {got.text}")
                    return
                task = got.json()["task"]
                if task is None:
                    return
                label = LABELS[(task["id"] + n) % 3]
                n += 1
                sent = client.post(f"/api/annotate/reviews/tasks/{task['id']}", json={"label": label})
                if sent.status_code == 201:
                    accepted[name].append((sent.json()["id"], task["id"], label))
                else:
                    failures.append(f"{name} submit {sent.status_code} {sent.text}")

    with live_server(create_app(setup.project)) as url:
        threads = [threading.Thread(target=annotate, args=(n, url)) for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    assert failures == []  # leases never expire here, so no submit may be refused
    stored = setup.project.meta.annotations.annotations("reviews")
    replies = {(aid, who, task, label) for who, rows in accepted.items() for aid, task, label in rows}
    assert len(stored) == TASKS * OVERLAP == sum(len(r) for r in accepted.values())
    assert {(a.id, a.annotator, a.task_id, a.label) for a in stored} == replies  # none lost, none made up
    per_task = Counter(a.task_id for a in stored)
    assert set(per_task.values()) == {OVERLAP}  # every task answered exactly `overlap` times
    assert len({(a.task_id, a.annotator) for a in stored}) == len(stored)  # never twice by one annotator
    status = setup.project.annotate_status("reviews")
    assert (status["complete"], status["annotations"]) == (TASKS, TASKS * OVERLAP)
    assert sum(len(r) > 0 for r in accepted.values()) > 1  # the work was shared
    setup.project.close()
