"""/api/v1/monitoring over a project with real monitoring reports (a promoted classifier, four
hourly windows of its prediction log, the middle two drifted, truth for a third of the rows, a
log alert on drift share) and a second model monitored once on a file-like frame: the overview,
the reports' pages, one report, a model's timeline, their errors, the client, and the CLI's
--json of the same things."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from loopline.api.client import Client
from loopline.core.errors import NotFound
from loopline.server import create_app
from tests.conftest import cli
from tests.monitor.conftest import NOW, make_setup, sample
from tests.server.conftest import make_user
from tests.server.live import live_server

ALERT = """
monitor:
  alerts:
    - rule: drift_share > 0.1
      log: true
"""
SHIFTS = (0.0, 0.8, 1.2, 0.0)


def make_monitored(root: Path) -> dict[str, Any]:
    """The project, its reports (oldest first) and a token per role."""
    setup = make_setup(root, ALERT)
    project = setup.project
    reports = []
    for k, shift in enumerate(SHIFTS):
        start = NOW + timedelta(hours=k)
        setup.log(sample(300, 40 + k, shift=shift), start=start, prefix=f"w{k}-")
        project.predictions.post_truth("clf", {f"w{k}-{i}": int(i % 2 == 0) for i in range(0, 300, 3)})
        reports.append(project.monitor("clf", since=start, until=start + timedelta(hours=1)))
    other = project.register("clf2", "model")
    project.promote("clf2", other.version, "production")
    reports.append(project.monitor("clf2", data=sample(200, 7)))
    tokens = {role: make_user(project, f"u-{role}", role) for role in ("viewer", "approver", "annotator")}
    return {"setup": setup, "project": project, "reports": reports, "tokens": tokens}


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    made = make_monitored(tmp_path_factory.mktemp("api-monitoring") / "proj")
    yield made
    made["project"].close()


def _auth(made: dict[str, Any], role: str = "viewer") -> dict[str, str]:
    return {"Authorization": f"Bearer {made['tokens'][role]}"}


def test_the_overview_pages_models_with_their_latest_report(monitored: dict[str, Any]) -> None:
    clf, clf2 = monitored["reports"][3], monitored["reports"][4]
    with TestClient(create_app(monitored["project"])) as client:
        first = client.get("/api/v1/monitoring/models?limit=1", headers=_auth(monitored)).json()
        assert [m["model"] for m in first["items"]] == ["clf"] and first["next_page_token"]
        model = first["items"][0]
        assert model["reports"] == 4 and model["latest"]["report"]["report_id"] == clf["report_id"]
        assert model["trend"] == [r["drift"]["share"] for r in monitored["reports"][:4]]
        assert model["latest"]["performance"]["accuracy"] == clf["performance"]["accuracy"]
        assert model["latest"]["estimated_accuracy"] == clf["estimated_performance"]["accuracy"]
        second = client.get(
            "/api/v1/monitoring/models",
            params={"page_token": first["next_page_token"]},
            headers=_auth(monitored),
        ).json()
        assert [m["model"] for m in second["items"]] == ["clf2"] and second["next_page_token"] is None
        latest = second["items"][0]["latest"]
        assert latest["report"]["report_id"] == clf2["report_id"] and latest["performance"] is None
        refused = client.get("/api/v1/monitoring/models", headers=_auth(monitored, "annotator"))
        assert refused.status_code == 403


def test_reports_are_paged_newest_first_and_one_is_whole(monitored: dict[str, Any]) -> None:
    made = monitored["reports"]
    with TestClient(create_app(monitored["project"])) as client:
        seen, token = [], None
        while True:
            page = client.get(
                "/api/v1/monitoring/reports",
                params={"model": "clf", "limit": 3, "page_token": token},
                headers=_auth(monitored, "approver"),
            ).json()
            seen += page["items"]
            token = page["next_page_token"]
            if token is None:
                break
        assert [r["report_id"] for r in seen] == [r["report_id"] for r in made[3::-1]]
        assert seen[1]["drifted"] is True and seen[1]["alerts"] == 0 and seen[2]["alerts"] == 1
        assert seen[0] == monitored["project"].monitor_reports("clf", limit=1)[0]
        whole = client.get(
            f"/api/v1/monitoring/reports/{made[2]['report_id'][:10]}", headers=_auth(monitored)
        )
        assert whole.status_code == 200
        body = whole.json()
        assert body["drift"] == made[2]["drift"] and "figures" not in body
        assert [a["rule"] for a in made[1]["alerts"]] == ["drift_share > 0.1"]
        for bad in ("/api/v1/monitoring/reports/ffffffffffff", "/api/v1/monitoring/models/nobody/timeline"):
            answer = client.get(bad, headers=_auth(monitored))
            assert answer.status_code == 404 and answer.json()["error"] == "not_found"
        for bad in ("?limit=0", "?limit=1001", "?page_token=nonsense", "?model=" + "m" * 201):
            assert client.get("/api/v1/monitoring/reports" + bad, headers=_auth(monitored)).status_code in (
                400,
                422,
            )
        old = client.get(
            "/api/monitor/reports", headers=_auth(monitored)
        ).json()  # the first API still answers
        assert [r for r in old if r["model"] == "clf"] == seen and len(old) == 5


def test_a_timeline_holds_drift_per_feature_performance_and_alerts(monitored: dict[str, Any]) -> None:
    made = monitored["reports"][:4]
    with TestClient(create_app(monitored["project"])) as client:
        line = client.get("/api/v1/monitoring/models/clf/timeline", headers=_auth(monitored)).json()
        assert line["model"] == "clf" and line["features"] == ["segment", "x1", "x2", "x3", "x4"]
        points = line["points"]
        assert [p["report"]["report_id"] for p in points] == [r["report_id"] for r in made]
        assert [p["at"] for p in points] == [r["window"]["until"] for r in made]
        x1 = [next(f for f in p["features"] if f["name"] == "x1") for p in points]
        assert [f["drifted"] for f in x1] == [
            c["drifted"] for r in made for c in r["drift"]["columns"] if c["name"] == "x1"
        ]
        assert [f["drifted"] for f in x1] == [False, True, True, False]
        assert (
            x1[2]["statistic"]
            == next(c for c in made[2]["drift"]["columns"] if c["name"] == "x1")["statistic"]
        )
        assert [p["performance"]["accuracy"] for p in points] == [r["performance"]["accuracy"] for r in made]
        assert all(p["labelled"] == 100 for p in points)
        assert [len(p["fired"]) for p in points] == [0, 1, 0, 0]
        assert (
            points[1]["fired"][0]["rule"] == "drift_share > 0.1"
            and points[1]["fired"][0]["state"] == "firing"
        )
        window = client.get(
            "/api/v1/monitoring/models/clf/timeline",
            params={
                "since": (NOW + timedelta(hours=1, minutes=30)).isoformat(),
                "until": "2030-01-01T15:30:00",
            },
            headers=_auth(monitored),
        ).json()  # by window end: hours 2 and 3 end at 14:00 and 15:00 (naive is UTC)
        assert [p["report"]["report_id"] for p in window["points"]] == [
            made[1]["report_id"],
            made[2]["report_id"],
        ]
        last = client.get("/api/v1/monitoring/models/clf/timeline?limit=2", headers=_auth(monitored)).json()
        assert [p["report"]["report_id"] for p in last["points"]] == [r["report_id"] for r in made[2:]]
        none = client.get("/api/v1/monitoring/models/clf/timeline?since=2031-01-01", headers=_auth(monitored))
        assert none.status_code == 200 and none.json()["points"] == []
        assert (
            client.get(
                "/api/v1/monitoring/models/clf/timeline?since=soon", headers=_auth(monitored)
            ).status_code
            == 422
        )


def test_the_client_and_the_cli_say_what_the_api_says(monitored: dict[str, Any]) -> None:
    project, root = monitored["project"], monitored["setup"].root
    app = create_app(project)
    with TestClient(app) as http:
        api_reports = http.get("/api/v1/monitoring/reports?limit=1000", headers=_auth(monitored)).json()[
            "items"
        ]
        api_line = http.get("/api/v1/monitoring/models/clf/timeline", headers=_auth(monitored)).json()
        report_id = monitored["reports"][1]["report_id"]
        api_report = http.get(f"/api/v1/monitoring/reports/{report_id}", headers=_auth(monitored)).json()
    with live_server(app) as url, Client(url, monitored["tokens"]["viewer"]) as client:
        assert [r.model_dump(mode="json") for r in client.monitoring_reports()] == api_reports
        assert client.monitoring_timeline("clf").model_dump(mode="json") == api_line
        assert client.monitoring_report(report_id).model_dump(mode="json") == api_report
        assert client.monitoring_models(limit=5).items[0].model == "clf"
        with pytest.raises(NotFound):
            client.monitoring_report("0123456789ab")
    listed = cli("monitor", "--reports", "-n", "1000", "--json", cwd=root)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert json.loads(listed.stdout) == api_reports
    line = cli("monitor", "clf", "--timeline", "--json", cwd=root)
    assert line.returncode == 0, line.stderr
    assert json.loads(line.stdout) == api_line
    shown = cli("monitor", "clf", "--timeline", cwd=root)
    assert shown.returncode == 0 and "x1" in shown.stdout and "est. acc." in shown.stdout
    fresh = cli("monitor", "clf2", "--data", str(_frame_file(root)), "--json", cwd=root)
    made = json.loads(fresh.stdout)
    with TestClient(app) as http:
        assert (
            http.get(f"/api/v1/monitoring/reports/{made['report_id']}", headers=_auth(monitored)).json()
            == made
        )


def _frame_file(root: Path) -> Path:
    path = root / "window.parquet"
    sample(120, 99).write_parquet(path)
    return path


def test_the_store_queries_on_each_engine(tmp_path: Path, store_url: str) -> None:
    """The overview's and the timeline's SQL (a group-by page, a window function, window ends)
    on SQLite and PostgreSQL, without a model: rows written as monitoring runs write them."""
    from loopline.core.hashing import hash_text
    from loopline.core.types import Artifact
    from loopline.project import Project

    project = Project.init(tmp_path / "proj", store=store_url)
    store = project.monitoring.store
    for n in range(9):
        model = f"m{n % 3}"
        start = NOW + timedelta(hours=n)
        until = None if n == 8 else (start + timedelta(hours=1)).isoformat()
        report = {
            "model": model,
            "version": 1,
            "window": {"rows": n, "since": start.isoformat(), "until": until},
            "drift": {"share": n / 10, "drifted": n % 2 == 1},
            "alerts": [],
        }
        store.add_report(
            Artifact(id=hash_text(f"r{n}"), kind="json", blob=hash_text(f"b{n}"), size=1), report
        )
    latest = store.latest_per_model(1, 2)
    assert [(row.model, row.rows, count) for row, count in latest] == [("m1", 7, 3), ("m2", 8, 3)]
    assert store.recent_shares(["m0", "m2"], per_model=2) == {"m0": [0.3, 0.6], "m2": [0.5, 0.8]}
    assert [r.rows for r in store.reports("m0", limit=2, offset=1)] == [3, 0]
    ends = store.timeline("m0", since=NOW + timedelta(hours=2), until=NOW + timedelta(hours=7, minutes=1))
    assert [r.rows for r in ends] == [3, 6]  # windows ending at 16:00 and 19:00
    open_ended = store.timeline("m2", since=NOW + timedelta(days=365 * 100))  # made now, before 2130
    assert open_ended == []
    # an open window's end is its making (today), before the 2030 windows
    assert [r.rows for r in store.timeline("m2")] == [8, 2, 5]
    assert [r.rows for r in store.timeline("m2", limit=2)] == [2, 5]
    project.close()
