"""Hot swap under load: clients keep posting while the alias moves (promote, then `loopline
rollback` from the command line); no request fails, answers switch version, and every answered
request is in the prediction log exactly once. Canary and shadow by alias."""

from __future__ import annotations

import itertools

import httpx

from loopline.project import Project
from loopline.serve.deployment import in_canary
from tests.conftest import cli
from tests.serve.conftest import Load, row, running, wait_for


def test_alias_moves_under_load_without_a_failed_request(project: Project):
    app = project.serving_app("iris", poll_seconds=0.05, flush_seconds=0.1, auth=False)
    with running(app) as url, Load(url) as load:
        load.wait(lambda a: len(a) >= 40, "load on v1")
        project.promote("iris", 2, "production")
        load.wait(lambda a: sum(v == 2 for _, _, v in a) >= 40, "answers from v2")
        moved = cli("rollback", "iris", cwd=project.root)  # as a user would, from another process
        assert moved.returncode == 0, moved.stderr
        count = len(load.answers)
        load.wait(lambda a: sum(v == 1 for _, _, v in a[count:]) >= 40, "answers from v1 again")
    assert load.failures == []
    assert {status for status, _, _ in load.answers} == {200}
    versions = [v for _, _, v in load.answers]
    switches = sum(1 for a, b in itertools.pairwise(versions) if a != b)
    assert versions[0] == 1 and versions[-1] == 1 and 2 in versions
    assert switches >= 2  # 1 -> 2 -> 1 (two client threads may interleave around a swap)
    logged = project.predictions.read("iris")
    answered = {rid: v for _, rid, v in load.answers}
    assert logged.height == len(answered) == logged["request_id"].n_unique()
    assert dict(zip(logged["request_id"], logged["version"], strict=True)) == answered


def test_canary_takes_its_share_by_request_id_and_shadow_is_logged_not_returned(project: Project):
    project.promote("iris", 2, "candidate")
    project.promote("iris", 2, "staging")
    app = project.serving_app(
        "iris",
        canary="candidate",
        canary_share=0.3,
        shadow="staging",
        poll_seconds=0.05,
        flush_seconds=0.05,
        auth=False,
    )
    ids = [f"user-{i}" for i in range(60)]
    with running(app) as url, httpx.Client(base_url=url) as client:
        answers = {
            rid: client.post("/predict", json=row(i), headers={"X-Request-ID": rid}).json()
            for i, rid in enumerate(ids)
        }
        again = client.post("/predict", json=row(0), headers={"X-Request-ID": ids[0]}).json()
        model = client.get("/model").json()
        wait_for(
            lambda: app.state.recorder.pending() == 0 and not app.state.recorder._queue, what="log flush"
        )
    expected = {rid: ("canary", 2) if in_canary(rid, 0.3) else ("primary", 1) for rid in ids}
    assert {rid: (a["variant"], a["version"]) for rid, a in answers.items()} == expected
    assert 5 < sum(v == "canary" for v, _ in expected.values()) < 35
    assert again["variant"] == answers[ids[0]]["variant"]  # the same id goes the same way
    assert all("shadow" not in str(a) for a in answers.values())
    assert (
        model["canary"]["version"] == 2 and model["shadow"]["version"] == 2 and model["canary_share"] == 0.3
    )
    served = project.predictions.read("iris")
    assert sorted(set(served["variant"])) == ["canary", "primary"]
    shadow = project.predictions.read("iris", variants=("shadow",))
    assert set(shadow["version"]) == {2}
    assert set(shadow["request_id"]) == set(ids)  # every request, also the canary's, shadowed once per post
