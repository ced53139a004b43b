"""Every route of `loopline server` x every role x no credentials answers as server/access.py's
table says (allowed: anything but 401/403; refused: 401/403 or the sign-in page), a refused
write changes nothing, and a route the table lacks is refused."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from loopline.core.identity import ROLES, Principal, current
from loopline.serve.access import SERVE_RULES, SIGNED_IN, markdown
from loopline.server import access, create_app
from loopline.server.access import SERVER_RULES
from loopline.server.deps import COOKIE
from loopline.server.mlflow.protocol import API
from tests.conftest import cli
from tests.server.access_matrix import cells_of, run_matrix, snapshot, unlisted
from tests.server.conftest import Setup, make_setup, make_user

_FILES = "/api/2.0/mlflow-artifacts/artifacts/{artifact_path:path}"
# Bodies that would change something, were the caller allowed: a refusal must change nothing.
BODIES = {
    ("POST", "/api/annotate/{project}/tasks/{task_id}"): {"label": "positive"},
    ("POST", f"{API}/experiments/create"): {"name": "refused-experiment"},
    ("POST", f"{API}/runs/create"): {"experiment_id": "0"},
    ("POST", f"{API}/registered-models/create"): {"name": "refused-model"},
    ("POST", f"{API}/registered-models/set-tag"): {"name": "m", "key": "k", "value": "v"},
    ("DELETE", f"{API}/registered-models/alias"): {"name": "m", "alias": "production"},
    ("PUT", _FILES): b"not a model",
    ("POST", "/api/v1/models/{name}/versions/{version}/promote"): {"alias": "staging"},
    ("POST", "/api/v1/models/{name}/versions/{version}/approve"): {"alias": "production"},
    ("POST", "/api/v1/models/{name}/rollback"): {"alias": "production"},
    ("POST", "/api/v1/labeling"): {"name": "refused-labeling", "dataset": "reviews", "labels": ["a", "b"]},
    ("POST", "/api/v1/datasets/{dataset}/versions"): b"id\n1\n",
    ("POST", "/api/v1/labeling/{project}/import"): {"rows": [{"item_id": "item0000", "label": "positive"}]},
}


@pytest.fixture
def users(tmp_path: Path) -> Iterator[tuple[Setup, dict[str, str]]]:
    made = make_setup(tmp_path / "proj")
    tokens = {role: make_user(made.project, f"user-{role}", role) for role in ROLES}
    yield made, tokens
    made.project.close()


def test_every_route_every_role_as_the_table_says(users: tuple[Setup, dict[str, str]]) -> None:
    made, tokens = users
    app = create_app(made.project)
    assert not unlisted(app, SERVER_RULES), "every route needs a rule in server/access.py"
    no, yes = cells_of(app, SERVER_RULES)
    assert len(no) + len(yes) == 1316, "the matrix changed size: update the report and docs/server.md"
    with TestClient(app, follow_redirects=False) as client:
        for token in tokens.values():  # a token's first use records it (token.use), admitted or not
            client.get("/api/annotate/me", headers={"Authorization": f"Bearer {token}"})
        before = snapshot(made.project.meta.database.engine, made.project.root)
        wrong = run_matrix(client, SERVER_RULES, tokens, BODIES, no)
        assert snapshot(made.project.meta.database.engine, made.project.root) == before
        wrong += run_matrix(client, SERVER_RULES, tokens, BODIES, yes)
    assert not wrong, "\n".join(map(str, wrong))


def test_a_route_without_a_rule_is_refused(users: tuple[Setup, dict[str, str]]) -> None:
    made, tokens = users
    app = create_app(made.project)

    @app.get("/api/new-and-unlisted")
    def secret() -> dict[str, str]:
        return {"secret": "data"}

    with TestClient(app) as client:
        answer = client.get("/api/new-and-unlisted", headers={"Authorization": f"Bearer {tokens['admin']}"})
    assert answer.status_code == 403 and "no access rule" in answer.json()["message"]
    assert unlisted(app, SERVER_RULES) == [("GET", "/api/new-and-unlisted")]


def test_basic_auth_cookie_and_the_acting_principal(
    users: tuple[Setup, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    made, tokens = users
    app = create_app(made.project)
    seen = []
    monkeypatch.setitem(SERVER_RULES, ("GET", "/api/who"), SIGNED_IN)

    @app.get("/api/who")  # a sync handler: it runs in the thread pool
    def who() -> dict[str, str]:
        principal = current()
        assert principal is not None
        seen.append(principal)
        return {"name": principal.name}

    with TestClient(app) as client:
        basic = base64.b64encode(f"user-scientist:{tokens['scientist']}".encode()).decode()
        answer = client.get("/api/who", headers={"Authorization": f"Basic {basic}"})
        assert answer.json() == {"name": "user-scientist"}
        liar = base64.b64encode(f"user-admin:{tokens['scientist']}".encode()).decode()
        assert client.get("/api/who", headers={"Authorization": f"Basic {liar}"}).status_code == 401
        client.cookies.set(COOKIE, tokens["viewer"])  # the cookie holds a session, never a token
        assert client.get("/api/who").status_code == 401
        session, _ = made.project.sign_in(tokens["viewer"], client="test")
        client.cookies.set(COOKIE, session)
        assert client.get("/api/who").json() == {"name": "user-viewer"}
    assert [(p.name, p.role, p.auth) for p in seen] == [
        ("user-scientist", "scientist", "basic"),
        ("user-viewer", "viewer", "session"),
    ]
    assert all(p.request_id for p in seen) and current() is None


def test_without_auth_everyone_is_the_local_admin(users: tuple[Setup, dict[str, str]]) -> None:
    made, _ = users
    with TestClient(create_app(made.project, auth=False)) as client:
        made_model = client.post(f"{API}/registered-models/create", json={"name": "m"})
        assert made_model.status_code == 200
        assert client.get("/api/annotate/me").json() == {"name": made.project.settings.user, "role": "admin"}


@pytest.mark.parametrize("command", ["server", "serve"])
def test_no_auth_is_refused_off_loopback(tmp_path: Path, command: str) -> None:
    done = cli(command, "--no-auth", "--host", "0.0.0.0", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--no-auth on 0.0.0.0: anyone who can reach it would act as an admin" in done.stdout + done.stderr


def test_docs_show_the_tables_as_the_code_has_them() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "server.md").read_text(encoding="utf-8")
    for app, rules in (("loopline server", SERVER_RULES), ("loopline serve", SERVE_RULES)):
        shown = page.split(f"<!-- routes: {app} -->\n", 1)[1].split("<!-- /routes -->", 1)[0]
        stale = f"docs/server.md's {app} table is stale: run python -m tests.server.route_docs"
        assert shown == markdown(rules), stale


def test_a_grant_on_one_model_covers_that_model_only(
    users: tuple[Setup, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A viewer granted edit on the registered model `m` may write to `m`, and to no other (the
    MLflow route names its model in the body: checked once the body is parsed)."""
    made, _ = users
    granted = Principal(name="gina", role="viewer", grants={("model", "m"): "edit"})
    monkeypatch.setattr(access, "authenticate", lambda request: granted)
    with TestClient(create_app(made.project)) as client:
        assert client.post(f"{API}/registered-models/create", json={"name": "m"}).status_code == 200
        other = client.post(f"{API}/registered-models/create", json={"name": "n"})
        assert other.status_code == 403 and "edit on model 'n'" in other.json()["message"]
        assert client.post(f"{API}/experiments/create", json={"name": "e"}).status_code == 403
    assert [m.name for m in made.project.models()] == ["m"]


def test_a_grant_on_one_experiment_covers_the_runs_of_that_experiment_only(
    users: tuple[Setup, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run's writes name the run, not its experiment: for a principal with grants on
    experiments, the run's own experiment is the one checked."""
    made, _ = users
    acting_as = {"who": Principal(name="ada", role="admin")}
    monkeypatch.setattr(access, "authenticate", lambda request: acting_as["who"])
    with TestClient(create_app(made.project)) as client:
        runs = {}
        for name in ("granted", "other"):
            exp = client.post(f"{API}/experiments/create", json={"name": name}).json()["experiment_id"]
            made_run = client.post(f"{API}/runs/create", json={"experiment_id": exp, "start_time": 1})
            runs[name] = (exp, made_run.json()["run"]["info"]["run_id"])
        grants = {("experiment", runs["granted"][0]): "edit"}
        acting_as["who"] = Principal(name="gina", role="viewer", grants=grants)  # type: ignore[arg-type]
        metric = {"key": "loss", "value": 0.5, "timestamp": 1, "step": 0}
        ok = client.post(f"{API}/runs/log-metric", json={"run_id": runs["granted"][1], **metric})
        assert ok.status_code == 200, ok.text
        refused = client.post(f"{API}/runs/log-metric", json={"run_id": runs["other"][1], **metric})
        assert refused.status_code == 403, refused.text
        assert f"edit on experiment '{runs['other'][0]}'" in refused.json()["message"]
    assert made.project.mlflow.run(runs["other"][1]).metrics == {}
