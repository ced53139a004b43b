"""/api/v1 for data: datasets, versions, one version with its quarantine, items paged at the
store, diffs, and lineage with a prediction traced back to its raw file and line; the CLI's
--json of the same objects is the same JSON; the Python client reads the same shapes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import chdir, redirect_stdout
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from loopline import Client
from loopline.core.errors import NotFound
from loopline.project import Project
from loopline.server import create_app
from tests.server.conftest import make_user

STEPS = """
import polars as pl
from sklearn.linear_model import LogisticRegression


def adults(people):
    return people.filter(pl.col("age") >= 18).select("_item_id", "_origin", "name", "age")


def train(adults):
    return LogisticRegression().fit(adults.select("age"), adults["age"] > 40)
"""

YAML = """
sources:
  people: {type: files, root: inbox, glob: "*.csv", schema: {name: String, age: Int64}}
steps:
  adults:
    uses: steps:adults
    inputs: [people]
    outputs: [adults]
  train:
    uses: steps:train
    inputs: [adults]
    outputs: [model]
"""


@dataclass
class DataSetup:
    project: Project
    root: Path
    token: str  # a viewer's
    scores: str  # the scores artifact's id

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def make_data_project(root: Path) -> DataSetup:
    """Collected `people` (two versions; a bad age in each goes to people_quarantine), the
    `adults` step, a model trained on them, registered, and `ages_scores`: its predictions, keyed
    by item id."""
    (root / "inbox").mkdir(parents=True)
    (root / "inbox" / "people.csv").write_text("name,age\nann,31\nbob,abc\ncid,17\ndee,45\n")
    (root / "steps.py").write_text(STEPS)
    (root / "loopline.yaml").write_text(YAML)
    project = Project.init(root)
    assert project.run().status == "succeeded"
    (root / "inbox" / "more.csv").write_text("name,age\neve,52\nfay,x9\n")
    assert project.run().status == "succeeded"
    project.register("ages", "model")
    scored = project.score("ages", "adults", keys=("_item_id",))
    project.score("ages", "adults", output="ages_by_row")  # no key column: scores by row number
    return DataSetup(project, root, make_user(project, "vera", "viewer"), scored["artifact_id"])


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DataSetup]:
    made = make_data_project(tmp_path_factory.mktemp("data") / "proj")
    yield made
    made.project.close()


@pytest.fixture(scope="module")
def http(data: DataSetup) -> Iterator[TestClient]:
    with TestClient(create_app(data.project)) as client:
        client.headers.update(data.auth)
        yield client


def cli_json(root: Path, *args: str) -> Any:
    """`loopline ARGS --json` in this process (the same code as the command), parsed."""
    from loopline.cli.commands import run

    out = StringIO()
    with chdir(root), redirect_stdout(out):
        try:
            run([*args, "--json"])
        except SystemExit as exc:
            assert not exc.code, out.getvalue()
    return json.loads(out.getvalue())


def test_datasets_and_versions_are_the_cli_json(http: TestClient, data: DataSetup) -> None:
    page = http.get("/api/v1/datasets").json()
    assert page["next_page_token"] is None
    assert page["items"] == cli_json(data.root, "datasets")
    people = next(d for d in page["items"] if d["name"] == "people")
    assert (people["version"], people["versions"], people["rows"]) == (2, 2, 4)
    assert people["schema"]["age"] == "Int64"
    first = http.get("/api/v1/datasets", params={"limit": 2}).json()
    second = http.get("/api/v1/datasets", params={"limit": 2, "page_token": first["next_page_token"]}).json()
    assert first["items"] + second["items"] == page["items"][:4]
    versions = http.get("/api/v1/datasets/people/versions").json()["items"]
    assert versions == cli_json(data.root, "versions", "people")
    assert [v["version"] for v in versions] == [1, 2]
    assert http.get("/api/v1/datasets/nobody/versions").status_code == 404


def test_a_version_names_its_parent_producer_and_quarantine(http: TestClient) -> None:
    got = http.get("/api/v1/datasets/people/versions/2").json()
    assert got["artifact"]["version"] == 2 and got["parent"]["version"] == 1
    assert got["producer"]["step"] == "collect.people"
    assert [(q["name"], q["version"]) for q in got["quarantine"]] == [("people_quarantine", 2)]
    first = http.get("/api/v1/datasets/people/versions/1").json()
    assert first["parent"] is None
    assert [(q["name"], q["version"]) for q in first["quarantine"]] == [("people_quarantine", 1)]
    assert http.get("/api/v1/datasets/people/versions/9").status_code == 404
    # a step's output has no quarantine of its own
    assert http.get("/api/v1/datasets/adults/versions/2").json()["quarantine"] == []


def test_quarantined_rows_come_with_their_reason_and_raw_line(http: TestClient) -> None:
    rows = http.get("/api/v1/datasets/people/versions/2/quarantine").json()["items"]
    assert [(r["origin"], r["line"], r["reason"]) for r in rows] == [
        ("inbox/people.csv", 3, "column age: abc is not Int64"),
        ("inbox/more.csv", 3, "column age: x9 is not Int64"),
    ]
    assert rows[0]["row"]["_raw"] == "bob,abc"
    paged = http.get("/api/v1/datasets/people/versions/2/quarantine", params={"limit": 1}).json()
    assert len(paged["items"]) == 1 and paged["next_page_token"]
    assert len(http.get("/api/v1/datasets/people/versions/1/quarantine").json()["items"]) == 1
    assert http.get("/api/v1/datasets/adults/versions/1/quarantine").json()["items"] == []


def test_items_page_through_the_version(http: TestClient, data: DataSetup) -> None:
    whole = http.get("/api/v1/datasets/people/versions/2/items").json()
    assert [r["name"] for r in whole["items"]] == ["ann", "cid", "dee", "eve"]
    assert whole["next_page_token"] is None
    assert whole["items"] == cli_json(data.root, "head", "people@2", "-n", "10")["rows"]
    seen, token = [], None
    while True:
        page = http.get(
            "/api/v1/datasets/people/versions/2/items", params={"limit": 3, "page_token": token}
        ).json()
        seen += page["items"]
        token = page["next_page_token"]
        if not token:
            break
    assert seen == whole["items"]
    assert http.get("/api/v1/datasets/people/versions/2/items", params={"page_token": "x"}).status_code == 422
    assert http.get("/api/v1/datasets/people/versions/2/items", params={"limit": 0}).status_code == 422


def test_diff_is_the_cli_json(http: TestClient, data: DataSetup) -> None:
    got = http.get("/api/v1/datasets/people/diff", params={"a": 1, "b": 2}).json()
    assert got == cli_json(data.root, "diff", "people@1", "people@2")
    assert (got["added"], got["removed"], got["rows"]) == (1, 0, {"old": 3, "new": 4})
    assert got["columns_retyped"] == {} and got["sample"]["added"][0]["name"] == "eve"
    keyed = http.get("/api/v1/datasets/people/diff", params={"a": 1, "b": 2, "key": "name"}).json()
    assert keyed["key"] == ["name"]
    assert http.get("/api/v1/datasets/people/diff", params={"a": 1, "b": 0}).status_code == 422
    assert http.get("/api/v1/datasets/people/diff", params={"a": 1, "b": 2, "key": "nope"}).status_code == 422


def test_a_prediction_traces_back_to_its_raw_file_and_line(http: TestClient, data: DataSetup) -> None:
    scores = http.get("/api/v1/datasets/ages_scores/versions/1/items").json()["items"]
    ann = next(
        r for r in http.get("/api/v1/datasets/adults/versions/2/items").json()["items"] if r["name"] == "ann"
    )
    prediction = next(r for r in scores if r["_item_id"] == ann["_item_id"])
    got = http.get("/api/v1/lineage", params={"ref": data.scores, "item": prediction["_item_id"]}).json()
    assert got == cli_json(data.root, "lineage", data.scores, "--item", prediction["_item_id"])
    assert {a["name"] for a in got["ancestors"]} >= {"adults", "people", "model"}
    assert [(t["name"], t["file"], t["line"]) for t in got["trace"]] == [
        ("ages_scores", None, None),
        ("adults", "inbox/people.csv", 2),
        ("people", "inbox/people.csv", 2),
    ]
    assert got["trace"][0]["row"] == prediction
    down = http.get("/api/v1/lineage", params={"ref": "people@1"}).json()
    assert "adults" in {d["name"] for d in down["descendants"]}
    assert down["trace"] == [] and down["artifact"]["version"] == 1
    plain = http.get("/api/v1/lineage", params={"ref": "people@1"}).json()
    assert {k: v for k, v in plain.items() if k != "trace"} == {
        k: v for k, v in cli_json(data.root, "lineage", "people@1").items() if k != "trace"
    }
    by_row = http.get("/api/v1/lineage", params={"ref": "ages_by_row", "row": 2}).json()["trace"]
    assert [(t["name"], t["row"].get("name"), t["file"], t["line"]) for t in by_row] == [
        ("ages_by_row", None, None, None),
        ("adults", "eve", "inbox/more.csv", 2),
        ("people", "eve", "inbox/more.csv", 2),
    ]
    both = {"ref": "ages_by_row", "row": 1, "item": "x"}
    assert http.get("/api/v1/lineage", params=both).status_code == 422
    assert http.get("/api/v1/lineage", params={"ref": "ages_by_row", "row": 99}).json()["trace"] == []
    assert http.get("/api/v1/lineage", params={"ref": "nope@1"}).status_code == 404
    assert http.get("/api/v1/lineage", params={"ref": "x" * 301}).status_code == 422


def test_the_client_reads_the_same_shapes(data: DataSetup) -> None:
    app = create_app(data.project)
    with TestClient(app) as test:
        client = Client("http://testserver", data.token, transport=_Through(test))
        assert [d.name for d in client.datasets()] == sorted(d.name or "" for d, _ in data.project.datasets())
        assert [v.version for v in client.versions("people")] == [1, 2]
        assert client.version("people", 2).quarantine[0].name == "people_quarantine"
        assert [q.line for q in client.quarantine("people", 2)] == [3, 3]
        page = client.items("people", 2, limit=2)
        assert len(page.items) == 2 and page.next_page_token
        assert client.diff("people", 1, 2).added == 1
        assert client.lineage("people@2").artifact.name == "people"
        with pytest.raises(NotFound):
            client.version("people", 7)


class _Through(httpx.BaseTransport):
    """An httpx transport that hands each request to a Starlette TestClient."""

    def __init__(self, test: TestClient) -> None:
        self.test = test

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        got = self.test.request(
            request.method, str(request.url), headers=dict(request.headers), content=request.content
        )
        return httpx.Response(got.status_code, headers=got.headers, content=got.content, request=request)


def test_an_annotator_with_no_grant_is_refused(data: DataSetup) -> None:
    token = make_user(data.project, "ann_annotator", "annotator")
    with TestClient(create_app(data.project)) as client:
        got = client.get("/api/v1/datasets/people/versions", headers={"Authorization": f"Bearer {token}"})
    assert got.status_code == 403
