"""/api/v1/labeling through `loopline.Client` against a live server: progress, the managers'
report (per-annotator answers, gold scores, agreement), the label-error queue that `annotate
errors` filled, a project created and answers imported; the CLI's --json of the same objects is
the API's JSON; bad input is a 422 (or 404/409) with a message and changes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from loopline.api.client import Client
from loopline.api.labeling import LabelImport, LabelingCreate, LabelRow
from loopline.core.errors import Conflict, InvalidInput, NotFound
from loopline.server import create_app
from tests.conftest import cli
from tests.server.conftest import LABELS, Setup, make_setup
from tests.server.live import live_server

TEXTS = [f"review number {i}" for i in range(30)]
WRONG = {"item0003": "neutral", "item0027": "positive"}  # both annotators give these wrong labels
BOB_SLIPS = {"item0005", "item0025"}  # bob alone answers neutral
GOLD = {"item0000": "positive", "item0005": "positive"}


def truth(item_id: str) -> str:
    return LABELS[int(item_id[4:]) // 10]


def answer(who: str, item_id: str) -> str:
    if item_id in WRONG:
        return WRONG[item_id]
    return "neutral" if who == "bob" and item_id in BOB_SLIPS else truth(item_id)


def label_everything(setup: Setup, client: TestClient) -> int:
    """alice and bob answer every task through the annotators' API (overlap 2); then two items
    become gold and `annotate errors` queues the items whose consensus label looks wrong."""
    submitted = 0
    for who in ("alice", "bob"):
        while True:
            lease = client.get(f"/api/annotate/{setup.name}/next", headers=setup.auth(who)).json()
            if lease["task"] is None:
                break
            task = lease["task"]
            body = {"label": answer(who, task["item_id"]), "seconds": 2.5}
            done = client.post(
                f"/api/annotate/{setup.name}/tasks/{task['id']}", headers=setup.auth(who), json=body
            )
            assert done.status_code == 201, done.text
            submitted += 1
    setup.project.meta.annotations.set_gold(setup.name, GOLD)
    setup.project.annotate_review(setup.name, columns=["n"], cv=3)
    return submitted


def labeled(root: Path) -> Setup:
    setup = make_setup(root, texts=TEXTS, overlap=2)
    with TestClient(create_app(setup.project)) as client:
        assert label_everything(setup, client) == 60
    return setup


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Setup, Client]]:
    setup = labeled(tmp_path / "proj")
    with live_server(create_app(setup.project)) as url, Client(url, setup.tokens["mia"]) as client:
        yield setup, client
    setup.project.close()


def cli_json(setup: Setup, *args: str) -> Any:
    return json.loads(cli("annotate", *args, "--json", cwd=setup.project.root, check=True).stdout)


def test_report_gold_scores_agreement_and_the_queue_are_the_clis(served: tuple[Setup, Client]) -> None:
    setup, client = served
    report = client.labeling_report("reviews")
    status = report.status
    errors = client.label_errors("reviews")
    reopened = sum(e.reopened for e in errors)  # a flagged task asks one more answer
    assert (status.tasks, status.gold, status.complete, status.remaining) == (28, 2, 28 - reopened, reopened)
    assert status.per_annotator == {"alice": 30, "bob": 30} and status.annotations == 60
    rows = {a.name: a for a in report.annotators}
    assert (rows["alice"].gold_answers, rows["alice"].gold_accuracy, rows["alice"].flagged) == (2, 1.0, False)
    assert (rows["bob"].gold_accuracy, rows["bob"].flagged) == (0.5, True)  # item0005 wrong
    agreement = report.agreement
    assert agreement is not None and agreement.pairable_tasks == 30 and agreement.pairs[0].n == 30
    assert agreement.krippendorff_alpha is not None and 0.8 < agreement.krippendorff_alpha < 1

    assert report.label_errors == len(errors) >= 2
    found = {e.item_id: e for e in errors}
    for item, wrong in WRONG.items():
        assert found[item].given == wrong and found[item].votes == {wrong: 2}
        assert found[item].suggested != wrong and found[item].text == f"review number {int(item[4:])}"
        assert found[item].reopened and 0 <= found[item].quality < 0.5
    assert [e.quality for e in errors] == sorted(e.quality for e in errors)

    # the CLI's --json is the API's JSON, field for field
    assert cli_json(setup, "status", "reviews") == status.model_dump(mode="json")
    assert cli_json(setup, "agreement", "reviews") == agreement.model_dump(mode="json")
    assert cli_json(setup, "label-errors", "reviews") == [e.model_dump(mode="json") for e in errors]
    assert cli_json(setup, "status") == [s.model_dump(mode="json") for s in client.labeling_projects()]


def test_create_import_and_paging(served: tuple[Setup, Client]) -> None:
    setup, client = served
    body = LabelingCreate(name="second", dataset="reviews@1", labels=[" yes", "no "], text_field="text")
    created = client.create_labeling(body)
    assert (created.name, created.tasks, created.dataset, created.version) == ("second", 30, "reviews", 1)
    spec = setup.project.meta.annotations.get_project("second")
    assert spec.labels == ("yes", "no") and spec.text_field == "text"
    with pytest.raises(Conflict, match="exists already"):
        client.create_labeling(body)

    rows = [
        LabelRow(item_id="item0001", label="yes"),
        LabelRow(item_id="item0002", label="no", annotator="ext"),
    ]
    imported = client.import_labels("second", LabelImport(rows=rows))
    assert (imported.added, imported.unchanged) == (2, 0)
    assert client.import_labels("second", LabelImport(rows=rows)).unchanged == 2  # the same rows again
    measured = client.labeling_report("second").agreement
    assert measured is not None and measured.annotations == 2
    studio = [{"data": {"_item_id": "item0003"}, "annotations": [{"completed_by": "ls", "result": [
        {"from_name": "label", "to_name": "item", "type": "choices", "value": {"choices": ["no"]}}
    ]}]}]  # fmt: skip
    assert client.import_labels("second", LabelImport(labelstudio=studio)).added == 1
    measured = client.labeling_report("second").agreement  # remembered per answer count: measured anew
    assert measured is not None and measured.annotations == 3
    who = {a.annotator: a.label for a in setup.project.meta.annotations.annotations("second")}
    assert who == {"mia": "yes", "ext": "no", "ls": "no"}  # a row without annotator is the importer's
    cli_created = cli_json(setup, "create", "third", "-d", "reviews", "-l", "a,b")
    assert set(cli_created) == set(created.model_dump()) and cli_created["tasks"] == 30

    first = client.labeling_page(limit=2)
    assert [s.project.name for s in first.items] == ["reviews", "second"] and first.next_page_token
    rest = client.labeling_page(limit=2, page_token=first.next_page_token)
    assert [s.project.name for s in rest.items] == ["third"] and rest.next_page_token is None
    assert [s.project.name for s in client.labeling_projects()] == ["reviews", "second", "third"]
    with pytest.raises(NotFound, match="no labeling project named 'nope'"):
        client.labeling_report("nope")
    with pytest.raises(InvalidInput, match="not in the label set"):
        client.import_labels("reviews", LabelImport(rows=[LabelRow(item_id="item0001", label="cow")]))


BAD_CREATE: list[tuple[dict[str, Any], int, str]] = [
    ({}, 422, "name: Field required"),
    ({"name": "x", "dataset": "reviews", "labels": []}, 422, "labels"),
    ({"name": "x", "dataset": "reviews", "labels": ["a", "a"]}, 422, "distinct"),
    ({"name": "x", "dataset": "reviews", "labels": ["a", " "]}, 422, "non-empty"),
    ({"name": "x y", "dataset": "reviews", "labels": ["a"]}, 422, "not valid"),
    ({"name": "x", "dataset": "nope", "labels": ["a"]}, 404, "no artifact named 'nope'"),
    ({"name": "x", "dataset": "reviews", "labels": ["a"], "overlap": 0}, 422, "overlap"),
    ({"name": "x", "dataset": "reviews", "labels": ["a"], "gold_share": 1.5}, 422, "gold_share"),
    ({"name": "x", "dataset": "reviews", "labels": ["a"], "task_type": "poem"}, 422, "task_type"),
    ({"name": "x", "dataset": "reviews", "labels": ["a"], "text_field": "nope"}, 422, "no column 'nope'"),
    ({"name": "x", "dataset": "reviews", "labels": ["a"], "color": "red"}, 422, "color"),
    ({"name": "x" * 101, "dataset": "reviews", "labels": ["a"]}, 422, "name"),
    ({"name": "reviews", "dataset": "reviews", "labels": ["a"]}, 409, "exists already"),
]
BAD_IMPORT: list[tuple[dict[str, Any] | list[Any], int, str]] = [
    ({}, 422, "exactly one of rows, labelstudio or text"),
    ({"rows": [], "labelstudio": []}, 422, "exactly one"),
    ({"text": "item_id,label\na,pos\n"}, 422, "text needs its format"),
    ({"text": "x", "format": "xml"}, 422, "format"),
    ({"rows": [{"item_id": "item0001", "label": "cow"}]}, 422, "not in the label set"),
    ({"rows": [{"item_id": "zzz", "label": "positive"}]}, 404, "not tasks of 'reviews'"),
    ({"rows": [{"item_id": "item0001", "label": "positive", "seconds": -1}]}, 422, "seconds"),
    ({"rows": [{"item_id": "item0001", "label": "positive", "source": "oracle"}]}, 422, "source"),
    ({"rows": [{"item_id": "item0001", "label": "positive"}], "duplicates": "maybe"}, 422, "duplicates"),
    ({"labelstudio": [{"x": 1}]}, 422, "cannot tell which item"),
    ([{"item_id": "item0001", "label": "positive"}], 422, "object"),
    ({"rows": [{"item_id": "item0001", "label": "positive"}] * 10_001}, 422, "rows"),
]


def test_bad_input_is_a_clear_4xx_and_changes_nothing(tmp_path: Path) -> None:
    setup = make_setup(tmp_path / "proj")
    mia = setup.auth("mia")
    with TestClient(create_app(setup.project)) as client:
        before = client.get("/api/v1/labeling", headers=mia).json()
        for body, status, message in BAD_CREATE:
            got = client.post("/api/v1/labeling", headers=mia, json=body)
            assert (got.status_code, message in got.json()["message"]) == (status, True), (body, got.text)
        for body, status, message in BAD_IMPORT:
            got = client.post("/api/v1/labeling/reviews/import", headers=mia, json=body)
            shown = body if isinstance(body, list) else {k: str(v)[:80] for k, v in body.items()}
            assert (got.status_code, message in got.json()["message"]) == (status, True), (
                shown,
                got.text[:300],
            )
        for path in (
            "/api/v1/labeling?limit=0",
            "/api/v1/labeling?limit=1001",
            "/api/v1/labeling?page_token=bm9wZQ",
            "/api/v1/labeling?page_token=" + "x" * 201,
            "/api/v1/labeling/reviews/label-errors?limit=-3",
            "/api/v1/labeling/reviews/label-errors?page_token=%00",
        ):
            got = client.get(path, headers=mia)
            assert got.status_code == 422 and got.json()["message"], (path, got.text)
        for path in ("/api/v1/labeling/nope", "/api/v1/labeling/nope/label-errors"):
            got = client.get(path, headers=mia)
            assert got.status_code == 404 and "no labeling project named 'nope'" in got.json()["message"]
        assert client.get("/api/v1/labeling", headers=mia).json() == before
        assert setup.project.meta.annotations.annotations("reviews") == []
        # an annotator reads the list but neither creates nor sees a project's report
        alice = setup.auth("alice")
        assert client.get("/api/v1/labeling", headers=alice).status_code == 200
        body = {"name": "x", "dataset": "reviews", "labels": ["a"]}
        assert client.post("/api/v1/labeling", headers=alice, json=body).status_code == 403
        assert client.get("/api/v1/labeling/reviews", headers=alice).status_code == 403
    setup.project.close()
