"""Every route of `loopline serve` x every role x no credentials answers as serve/access.py's
SERVE_RULES say, and a refused prediction or feedback writes nothing."""

from __future__ import annotations

from fastapi.testclient import TestClient

from loopline.core.identity import ROLES
from loopline.project import Project
from loopline.serve.access import SERVE_RULES
from tests.serve.conftest import row
from tests.server.access_matrix import cells_of, run_matrix, snapshot, unlisted
from tests.server.conftest import make_user

BODIES = {
    ("POST", "/predict"): row(1),
    ("POST", "/feedback"): {"request_id": "r-1", "truth": 1},
}


def test_every_serving_route_every_role_as_the_table_says(project: Project) -> None:
    tokens = {role: make_user(project, f"user-{role}", role) for role in ROLES}
    app = project.serving_app("iris", flush_seconds=0.05)
    assert not unlisted(app, SERVE_RULES), "every route needs a rule in serve/access.py"
    no, yes = cells_of(app, SERVE_RULES)
    assert len(no) + len(yes) == 70, "the matrix changed size: update the report and docs/server.md"
    with TestClient(app, follow_redirects=False) as client:
        for token in tokens.values():  # a token's first use records it (token.use), admitted or not
            client.get("/model", headers={"Authorization": f"Bearer {token}"})
        before = snapshot(project.meta.database.engine, project.root)
        wrong = run_matrix(client, SERVE_RULES, tokens, BODIES, no)
        assert snapshot(project.meta.database.engine, project.root) == before
        wrong += run_matrix(client, SERVE_RULES, tokens, BODIES, yes)
    assert not wrong, "\n".join(map(str, wrong))


def test_a_service_user_predicts_and_posts_feedback(project: Project) -> None:
    token = make_user(project, "ci", "scientist")
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(project.serving_app("iris", flush_seconds=0.05)) as client:
        assert client.post("/predict", json=row(1)).status_code == 401
        answer = client.post("/predict", json=row(1), headers={**headers, "X-Request-ID": "r-9"})
        assert answer.status_code == 200, answer.text
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers=headers).status_code == 200
        bad = {"Authorization": "Bearer nope"}
        assert (
            client.post("/feedback", json={"request_id": "r-9", "truth": 1}, headers=bad).status_code == 401
        )
