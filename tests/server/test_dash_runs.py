"""The runs pages: `/runs` (filter in the CLI's language, columns picked, headers that sort,
pages, checkboxes to compare), `/runs/compare`, `/runs/{id}` (charts, trials, its pipeline run)
and `/experiments`, first as HTML, then clicked through in headless Chromium with the keyboard,
no console errors, and a screenshot of each page in artifacts/screenshots/runs-*.png."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from loopline import Project
from loopline.server import create_app
from tests.conftest import write_project
from tests.server.conftest import make_user
from tests.server.live import SHOTS, chromium, live_server

STEPS = """
def tune(ctx):
    for n in range(3):
        trial = ctx.child_run(f"trial-{n}")
        trial.log_params({"C": n})
        for step in range(4):
            trial.log_metric("score", n / 4 + step / 10, step)
    ctx.log_metric("best", 0.5)
    return {"value": 1}
"""
RUNS = 30


@dataclass
class Served:
    project: Project
    token: str
    annotator: str
    pipeline_run: str

    def runs(self, **filters: Any) -> dict[str, str]:
        return {r.name or r.id: r.id for r in self.project.search_runs(limit=1000, **filters)}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = write_project(
        tmp_path_factory.mktemp("dash") / "p",
        "steps:\n  tune: {uses: dash_runs_steps:tune, outputs: [numbers]}\n",
    )
    (root / "dash_runs_steps.py").write_text(STEPS)
    project = Project.init(root)
    pipeline_run = project.run().id
    for i in range(RUNS):
        with project.start_run("sweep", f"run-{i:02d}", tags={"team": "a" if i % 3 else "b"}) as run:
            run.log_params({"lr": round(0.001 * (i + 1), 4), "layers": i % 4})
            for step in range(6):
                run.log_metric("acc", i / RUNS * (step + 1) / 6, step)
                run.log_metric("loss", 1 / (1 + i + step), step)
    yield Served(
        project, make_user(project, "vic", "viewer"), make_user(project, "ann", "annotator"), pipeline_run
    )
    project.close()


@pytest.fixture(scope="module")
def client(served: Served) -> Iterator[TestClient]:
    with TestClient(create_app(served.project)) as test_client:
        test_client.headers["Authorization"] = f"Bearer {served.token}"
        yield test_client


def cells(html: str, column: int) -> list[str]:
    rows = re.findall(r"<tr>\s*<td><input type=\"checkbox\".*?</tr>", html, flags=re.S)
    return [re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)[column].strip() for row in rows]


def test_the_table_filters_sorts_and_shows_the_chosen_columns(client: TestClient) -> None:
    html = client.get(
        "/runs",
        params={
            "filter": "metrics.acc > 0.5",
            "metric": "acc, loss",
            "param": "lr",
            "order_by": "metrics.acc DESC",
        },
    ).text
    assert cells(html, 2)[0] == "sweep"  # the experiment column, all experiments shown
    accs = [float(v) for v in cells(html, 6)]
    assert len(accs) == 14 and all(a > 0.5 for a in accs) and accs == sorted(accs, reverse=True)
    assert cells(html, 3)[0] == "run-29" and cells(html, 8)[0] == "0.03"  # name, lr
    assert 'aria-sort="descending"' in html
    # the header link sorts the other way, keeping the filter and the columns
    link = re.search(r'<a href="([^"]+)" title="sort by metrics.acc">', html)
    assert link and "ASC" in link[1] and "filter=metrics.acc" in link[1] and "param=lr" in link[1]
    ascending = client.get(link[1].replace("&amp;", "&")).text
    assert [float(v) for v in cells(ascending, 6)] == sorted(accs)
    by_score = client.get("/runs", params={"order_by": "metrics.score DESC", "metric": "acc"}).text
    assert 'aria-sort="descending"><a href="/runs?metric=acc&amp;order_by=metrics.score+ASC"' in by_score
    assert cells(by_score, 3)[:3] == ["trial-2", "trial-1", "trial-0"]  # the sorted column joins the table


def test_pages_of_the_table(client: TestClient) -> None:
    first = client.get("/runs", params={"limit": 20, "experiment": "sweep"}).text
    names = cells(first, 2)
    assert names == [f"run-{i:02d}" for i in range(29, 9, -1)]  # newest first
    following = re.search(r'<a href="([^"]+)" rel="next">', first)
    assert following
    second = client.get(following[1].replace("&amp;", "&")).text
    assert cells(second, 2) == [f"run-{i:02d}" for i in range(9, -1, -1)]
    assert 'rel="next"' not in second and "First page" in second


def test_a_bad_filter_says_why_on_the_page(client: TestClient) -> None:
    response = client.get("/runs", params={"filter": "metrics.acc > high"})
    assert response.status_code == 422
    assert "which is not a number" in response.text and 'value="metrics.acc &gt; high"' in response.text
    unknown = client.get("/runs", params={"experiment": "nope"})
    assert unknown.status_code == 422 and "no experiment named" in unknown.text


def test_compare_marks_differences_and_overlays_histories(served: Served, client: TestClient) -> None:
    runs = served.runs(experiment="sweep")
    pick = [runs["run-04"], runs["run-07"], runs["run-11"]]
    html = client.get("/runs/compare", params={"run": pick}).text
    assert html.count('class="plot" data-figure=') == 2  # acc and loss, each run overlaid
    assert html.count("&#34;name&#34;: &#34;run-") == 6
    assert re.search(r'<tr class="differ">\s*<th scope="row">lr</th>', html)
    assert re.search(r'<tr class="same">\s*<th scope="row">team</th>', html)  # 4, 7, 11 are all team a
    only = client.get("/runs/compare", params={"run": pick, "metric": "loss"}).text
    assert only.count('class="plot"') == 1
    one = client.get("/runs/compare", params={"run": pick[:1]})
    assert one.status_code == 422 and "compare takes 2 to 10 runs" in one.text


def test_a_run_page_shows_charts_trials_and_its_pipeline_run(served: Served, client: TestClient) -> None:
    runs = served.runs()
    html = client.get(f"/runs/{runs['run-05']}").text
    assert html.count('class="plot"') == 2 and "/pipelines/" not in html
    assert '<a href="/runs?experiment=sweep">sweep</a>' in html
    pipeline = client.get(f"/runs/{served.pipeline_run}").text
    assert f'href="/pipelines/{served.pipeline_run}"' in pipeline
    assert pipeline.count('href="/runs/') >= 3 and "trial-2" in pipeline  # its tuning trials
    trial = client.get(f"/runs/{runs['trial-1']}").text
    assert (
        f'href="/pipelines/{served.pipeline_run}"' in trial and f'href="/runs/{served.pipeline_run}"' in trial
    )
    assert client.get("/runs/nope").status_code == 404


def test_a_run_an_mlflow_client_made_opens_by_the_id_it_printed(served: Served, client: TestClient) -> None:
    scientist = {"Authorization": f"Bearer {make_user(served.project, 'sam', 'scientist')}"}
    made = client.post(
        "/api/2.0/mlflow/runs/create",
        json={"experiment_id": "0", "run_name": "from-mlflow"},
        headers=scientist,
    )
    assert made.status_code == 200, made.text
    run_id = made.json()["run"]["info"]["run_id"]
    logged = client.post(
        "/api/2.0/mlflow/runs/log-metric",
        json={"run_id": run_id, "key": "val/acc", "value": 0.7, "timestamp": 1, "step": 3},
        headers=scientist,
    )
    assert logged.status_code == 200, logged.text
    html = client.get(f"/runs/{run_id}").text
    assert "from-mlflow" in html and "val/acc" in html and "/pipelines/" not in html
    nested = client.post(
        "/api/2.0/mlflow/runs/create",
        json={"experiment_id": "0", "tags": [{"key": "mlflow.parentRunId", "value": run_id}]},
        headers=scientist,
    ).json()["run"]["info"]["run_id"]
    assert f'<a href="/runs/{run_id}">from-mlflow</a>' in client.get(f"/runs/{nested}").text


def test_experiments_page_and_who_may_see_it(served: Served, client: TestClient) -> None:
    html = client.get("/experiments").text
    assert '<a href="/runs?experiment=sweep">sweep</a>' in html and f">{RUNS}<" in html
    refused = client.get("/runs", headers={"Authorization": f"Bearer {served.annotator}"})
    assert refused.status_code == 403


def test_clicked_through_in_a_browser(served: Served) -> None:
    with live_server(create_app(served.project)) as url, chromium() as browser:
        page = browser.new_context(viewport={"width": 1360, "height": 900}).new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url + "/runs")
        page.fill("#token", served.token)
        with page.expect_navigation():
            page.press("#token", "Enter")
        page.goto(url + "/runs")
        assert page.locator("table.runs tbody tr").count() == len(served.runs())  # one page of 50 at most
        page.screenshot(path=str(SHOTS / "runs-list.png"), full_page=True)

        page.fill("input[name=filter]", "metrics.acc > 0.5")  # Enter submits the filter form
        page.press("input[name=filter]", "Enter")
        page.wait_for_url(re.compile(r".*filter=metrics.acc"))
        assert page.locator("table.runs tbody tr").count() == 14
        page.click("th a:text('acc')")  # a metric's header sorts it largest first
        page.wait_for_url(re.compile(r".*order_by=metrics.acc\+DESC"))
        names = page.locator("table.runs tbody tr td:nth-child(4)").all_inner_texts()
        assert names[:3] == ["run-29", "run-28", "run-27"]

        button = page.locator("#compare-button")
        assert button.is_disabled()
        page.focus("table.runs tbody tr:nth-child(1) input[type=checkbox]")
        page.keyboard.press("Space")
        assert button.is_disabled() and "pick one more" in page.inner_text("#picked")
        page.focus("table.runs tbody tr:nth-child(3) input[type=checkbox]")
        page.keyboard.press("Space")
        assert not button.is_disabled() and page.inner_text("#picked") == "2 picked"
        page.screenshot(path=str(SHOTS / "runs-filtered.png"), full_page=True)
        button.focus()
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r".*/runs/compare\?run=.*&run=.*"))
        page.wait_for_selector("body[data-plotted='2']")
        assert page.locator(".plot .main-svg").count() >= 2
        assert page.locator("table.compare tr.differ").count() >= 3  # lr, acc, loss at least
        headers = page.locator("table.compare thead th a").all_inner_texts()
        assert headers == ["run-29", "run-27"]
        page.screenshot(path=str(SHOTS / "runs-compare.png"), full_page=True)

        page.click("table.compare thead th a:text('run-29')")
        page.wait_for_selector("body[data-plotted='2']")
        assert "run-29" in page.inner_text("h1")
        page.screenshot(path=str(SHOTS / "runs-run.png"), full_page=True)

        page.goto(f"{url}/runs/{served.pipeline_run}")
        page.wait_for_selector("body[data-plotted]")
        assert page.locator(f"a[href='/pipelines/{served.pipeline_run}']").count() == 1
        page.screenshot(path=str(SHOTS / "runs-pipeline-run.png"), full_page=True)

        page.goto(url + "/experiments")
        page.click("text=sweep")
        page.wait_for_url(re.compile(r".*/runs\?experiment=sweep"))
        assert page.locator("table.runs tbody tr").count() == RUNS
        page.goto(url + "/experiments")
        page.screenshot(path=str(SHOTS / "runs-experiments.png"), full_page=True)

        page.goto(url + "/runs?filter=metrics.acc+%3E+high")
        assert "not a number" in page.inner_text("[role=alert]")
        page.screenshot(path=str(SHOTS / "runs-filter-error.png"), full_page=True)
        assert not [e for e in errors if "422" not in e], errors  # the bad filter's page is a 422
