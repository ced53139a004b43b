"""/api/v1 experiments and tracked runs on a project whose runs were logged with real calls
(`start_run`, `log_metric` with steps, a pipeline step's tuning trials): search with the CLI's
filter language and paging, one run, a metric's history, 2 to 10 runs compared; the CLI's
`runs --filter --json`, `compare --json` and `experiments --json` print what the API returns,
and `loopline.Client` reads the same."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import loopline
from loopline import Project
from loopline.core.errors import InvalidInput
from loopline.server import create_app
from tests.conftest import cli, write_project
from tests.server.conftest import make_user
from tests.server.live import live_server

STEPS = """
def tune(ctx):
    for n in range(3):
        trial = ctx.child_run(f"trial-{n}")
        trial.log_params({"C": n})
        trial.log_metric("score", n / 4)
    ctx.log_metric("best", 0.5)
    return {"value": 1}
"""


@dataclass
class Served:
    root: Path
    project: Project
    client: TestClient
    headers: dict[str, str]
    annotator: dict[str, str]
    pipeline_run: str

    def get(self, path: str, **params: Any) -> Any:
        response = self.client.get(path, params=params, headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()


def log_sweep(project: Project, runs: int) -> None:
    """`runs` tracked runs in experiment `sweep` (lr, team, acc and train/loss over 5 steps) and
    one in `other`."""
    for i in range(runs):
        with project.start_run("sweep", f"r{i:02d}", tags={"team": "a" if i % 2 else "b"}):
            loopline.log_params({"lr": i / 100, "depth": i % 3})
            for step in range(5):
                loopline.log_metric("acc", i / runs + step / 100, step)
                loopline.log_metric("train/loss", 1 / (1 + i + step), step)
    with project.start_run("other", "lonely"):
        loopline.log_metric("acc", 0.99)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = write_project(
        tmp_path_factory.mktemp("exp") / "p",
        "steps:\n  tune: {uses: exp_api_steps:tune, outputs: [numbers]}\n",
    )
    (root / "exp_api_steps.py").write_text(STEPS)
    project = Project.init(root)
    pipeline_run = project.run().id
    log_sweep(project, 12)
    viewer = make_user(project, "vic", "viewer")
    annotator = make_user(project, "ann", "annotator")
    with TestClient(create_app(project)) as client:
        yield Served(
            root,
            project,
            client,
            {"Authorization": f"Bearer {viewer}"},
            {"Authorization": f"Bearer {annotator}"},
            pipeline_run,
        )
    project.close()


def cli_json(served: Served, *args: str) -> Any:
    return json.loads(cli(*args, "--json", cwd=served.root, check=True).stdout)


def test_search_filters_and_sorts_as_the_cli_does(served: Served) -> None:
    query = {"filter": ["metrics.acc > 0.5", "tags.team = a"], "order_by": "metrics.acc DESC"}
    page = served.get("/api/v1/runs", experiment="sweep", **query)
    names = [r["name"] for r in page["items"]]
    assert names == ["r11", "r09", "r07"] and page["next_page_token"] is None
    assert page["items"][0]["params"] == {"depth": "2", "lr": "0.11"}
    assert page["items"][0]["metrics"]["acc"] == pytest.approx(11 / 12 + 0.04)
    printed = cli_json(
        served,
        "runs",
        "-e",
        "sweep",
        "--filter",
        "metrics.acc > 0.5",
        "--filter",
        "tags.team = a",
        "--order-by",
        "metrics.acc DESC",
    )
    assert printed == page["items"]
    both = served.get("/api/v1/runs", filter="metrics.acc > 0.5 and tags.team = a", order_by="name")
    assert [r["name"] for r in both["items"]] == ["r07", "r09", "r11"]  # `lonely` has no team


def test_pages_follow_one_another_without_gaps(served: Served) -> None:
    seen: list[str] = []
    token = None
    while True:
        page = served.get(
            "/api/v1/runs", limit=4, order_by="name", **({"page_token": token} if token else {})
        )
        assert len(page["items"]) <= 4
        seen += [r["name"] for r in page["items"]]
        token = page["next_page_token"]
        if token is None:
            break
    everything = [r["name"] for r in served.get("/api/v1/runs", limit=1000, order_by="name")["items"]]
    assert seen == everything and len(everything) == 12 + 1 + 3 + 1  # sweep, other, trials, pipeline


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"filter": "metrics.acc > high"}, "is not a number"),
        ({"filter": "params.lr > 1"}, "> is not supported for params.lr"),
        ({"filter": "colour = red"}, "unknown run attribute"),
        ({"filter": "metrics.acc"}, "has no comparison"),
        ({"order_by": "colour"}, "unknown run attribute"),
        ({"filter": "start_time > 1e30"}, "is not a time"),
        ({"filter": "experiment_id = 99999999999999999999999"}, "is not a number"),
        ({"page_token": "nonsense"}, "not one this server gave"),
        ({"limit": 0}, ""),
        ({"filter": "x" * 2000}, ""),
    ],
)
def test_bad_search_input_is_422_with_the_parser_message(
    served: Served, params: dict[str, Any], needle: str
) -> None:
    response = served.client.get("/api/v1/runs", params=params, headers=served.headers)
    assert response.status_code == 422, response.text
    assert needle in response.json()["message"]


def test_unknown_experiment_is_404(served: Served) -> None:
    response = served.client.get("/api/v1/runs", params={"experiment": "nope"}, headers=served.headers)
    assert response.status_code == 404 and "no experiment named 'nope'" in response.json()["message"]


def test_one_run_and_metric_histories(served: Served) -> None:
    first = served.get("/api/v1/runs", filter="name = r03")["items"][0]
    assert served.get(f"/api/v1/runs/{first['run_id']}") == first
    assert served.get(f"/api/v1/runs/{first['run_id'][:-3]}")["run_id"] == first["run_id"]  # a prefix
    history = served.get(f"/api/v1/runs/{first['run_id']}/metrics/train/loss")
    assert [p["step"] for p in history["items"]] == [0, 1, 2, 3, 4]
    assert [p["value"] for p in history["items"]] == pytest.approx([1 / (4 + s) for s in range(5)])
    paged = served.get(f"/api/v1/runs/{first['run_id']}/metrics/acc", limit=2)
    assert [p["step"] for p in paged["items"]] == [0, 1] and paged["next_page_token"]
    missing = served.client.get("/api/v1/runs/nope", headers=served.headers)
    assert missing.status_code == 404
    assert served.get(f"/api/v1/runs/{first['run_id']}/metrics/none")["items"] == []


def test_compare_two_to_ten_runs(served: Served) -> None:
    runs = {r["name"]: r["run_id"] for r in served.get("/api/v1/runs", experiment="sweep")["items"]}
    three = [runs["r00"], runs["r01"], runs["r02"]]
    result = served.get("/api/v1/runs/compare", run=three)
    assert [r["name"] for r in result["runs"]] == ["r00", "r01", "r02"]
    lr = next(p for p in result["params"] if p["key"] == "lr")
    assert lr == {"key": "lr", "values": ["0.0", "0.01", "0.02"], "same": False}
    acc = next(m for m in result["metrics"] if m["key"] == "acc")
    assert acc["deltas"] == pytest.approx([0, 1 / 12, 2 / 12]) and not acc["same"]
    pair = served.get("/api/v1/runs/compare", run=three[:2])
    assert cli_json(served, "compare", *three[:2]) == pair
    assert cli_json(served, "compare", *three) == result
    table = cli("compare", *three, cwd=served.root, check=True).stdout
    assert "c - a" in table and "r02" in table
    for wrong in ([three[0]], [three[0], three[0]], ["nope", three[0]]):
        response = served.client.get("/api/v1/runs/compare", params={"run": wrong}, headers=served.headers)
        assert response.status_code in (404, 422), response.text
    eleven = list(runs.values())[:11]
    response = served.client.get("/api/v1/runs/compare", params={"run": eleven}, headers=served.headers)
    assert response.status_code == 422


def test_experiments_as_the_cli_lists_them(served: Served) -> None:
    page = served.get("/api/v1/experiments")
    counts = {e["name"]: e["runs"] for e in page["items"]}
    assert counts["sweep"] == 12 and counts["other"] == 1 and counts["tune"] == 3
    assert cli_json(served, "experiments") == page["items"]


def test_an_annotator_may_not_read_runs(served: Served) -> None:
    for path in ("/api/v1/runs", "/api/v1/experiments"):
        assert served.client.get(path, headers=served.annotator).status_code == 403


def test_the_python_client_reads_the_same(served: Served) -> None:
    token = served.headers["Authorization"].split()[1]
    with live_server(create_app(served.project)) as url, loopline.Client(url, token) as client:
        page = client.runs("metrics.acc > 0.5", order_by="metrics.acc DESC", experiment="sweep")
        assert [r.name for r in page.items][:2] == ["r11", "r10"]
        assert [r.model_dump(mode="json") for r in page.items] == served.get(
            "/api/v1/runs", filter="metrics.acc > 0.5", order_by="metrics.acc DESC", experiment="sweep"
        )["items"]
        assert len(client.all_runs(experiment="sweep")) == 12
        run_id = page.items[0].run_id
        assert client.tracked_run(run_id[:-2]) == page.items[0]
        assert [p.step for p in client.metric_history(run_id, "train/loss")] == [0, 1, 2, 3, 4]
        compared = client.compare(run_id, page.items[1].run_id)
        assert [r.name for r in compared.runs] == ["r11", "r10"]
        assert {e.name for e in client.experiments()} >= {"sweep", "other"}
        with pytest.raises(InvalidInput, match="not a number"):
            client.runs("metrics.acc > x")
