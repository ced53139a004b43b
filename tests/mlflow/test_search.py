"""MLflow's searches as SQL on SQLite and PostgreSQL (the `project` fixture runs each test on
both): LIKE is case-sensitive and ILIKE not on either engine, `%` / `_` escape with a backslash,
IN / NOT IN / IS NULL, view types on the lifecycle columns, orders and pages; and over HTTP, every
bad filter, order or page token is a 400, never a 5xx."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from fastapi.testclient import TestClient

from loopline.core.search_filter import Clause, parse
from loopline.core.search_specs import EXPERIMENTS, LOGGED_MODELS, MLFLOW_RUNS, REGISTERED_MODELS
from loopline.project import Project
from loopline.store.metadata.mlflow import LoggedModel
from loopline.store.metadata.mlflow_logged import mlflow_model_metrics
from loopline.store.metadata.tables import experiments, registered_models, runs
from tests.mlflow.test_http import API, _pickled_model_folder, error

VALUES = ["Tree", "tree", "a%c", "a_c", "a\\c", "aXc"]


def _set(project: Project, table: sa.Table, where: sa.ColumnElement[bool], **values: object) -> None:
    with project.mlflow._db.engine.begin() as conn:
        conn.execute(table.update().where(where).values(**values))


def test_run_filters_give_the_same_answer_on_both_engines(project: Project) -> None:
    tracking, store = project.meta.tracking, project.mlflow
    exp = tracking.create_experiment("runs")
    by_value = {}
    for n, value in enumerate(VALUES):
        run = tracking.create_run(exp.id, name=f"run-{value}", executor="mlflow")
        store.log_batch(run.id, [("acc", n / 10, 0, 1.0)], {"model": value}, {"n": str(n)} if n % 2 else {})
        by_value[value] = run.id
    tracking.update_run(by_value["Tree"], status="succeeded")

    def found(text: str, lifecycles: tuple[str, ...] | None = ("active",)) -> list[str]:
        page, _ = store.search_runs(
            [exp.id], parse(text, MLFLOW_RUNS), [], limit=100, offset=0, lifecycles=lifecycles
        )
        return sorted(store.run(r.id).params["model"] for r in page)

    assert found("params.model LIKE 'tree'") == ["tree"]
    assert found("params.model LIKE 'T%'") == ["Tree"]
    assert found("params.model ILIKE 'TREE'") == sorted(["Tree", "tree"])
    assert found("params.model LIKE 'a_c'") == sorted(["a%c", "aXc", "a\\c", "a_c"])
    assert found("params.model LIKE 'a\\_c'") == ["a_c"]
    assert found("params.model LIKE 'a\\%c'") == ["a%c"]
    assert found("params.model ILIKE 'A\\\\C'") == ["a\\c"]
    assert found("params.model IN ('Tree', 'a_c')") == sorted(["Tree", "a_c"])
    assert found("params.model NOT IN ('Tree', 'a_c')") == sorted(["a%c", "aXc", "a\\c", "tree"])
    assert found("tags.n IS NULL") == sorted(["Tree", "a%c", "a\\c"])
    assert found("tags.n IS NOT NULL and metrics.acc >= 0.3") == sorted(["a_c", "aXc"])
    assert found("attributes.run_name LIKE 'run-t%'") == ["tree"]
    assert found("run_name ILIKE 'RUN-T%'") == sorted(["Tree", "tree"])
    assert found("attributes.status = 'FINISHED'") == ["Tree"]
    assert found("attributes.status LIKE 'RUN%'") == sorted(VALUES[1:])
    assert found(f"attributes.run_id IN ('{by_value['tree']}')") == ["tree"]
    trailing = [Clause("params", "model", "LIKE", "a\\")]  # a lone trailing backslash: itself, no SQL error
    assert store.search_runs([exp.id], trailing, [], limit=10, offset=0) == ([], False)

    _set(project, runs, runs.c.id == by_value["tree"], lifecycle="deleted")
    assert "tree" not in found("params.model ILIKE 'tree'")
    assert found("params.model ILIKE 'tree'", ("deleted",)) == ["tree"]
    assert found("params.model ILIKE 'tree'", ("active", "deleted")) == sorted(["Tree", "tree"])


def test_experiment_search_filters_orders_views_and_pages(project: Project) -> None:
    tracking, store = project.meta.tracking, project.mlflow
    made = {}
    for n, name in enumerate(["Alpha", "alpha", "a_b", "aXb", "beta"]):
        made[name] = tracking.create_experiment(name, tags={"team": "red" if n % 2 else "Blue"}).id
        stamp = datetime(2024, 1, n + 1, tzinfo=UTC)
        _set(project, experiments, experiments.c.id == made[name], created_at=stamp)
    _set(project, experiments, experiments.c.id == made["beta"], lifecycle="deleted")

    def names(text: str, lifecycles: tuple[str, ...] = ("active",), **kw: object) -> list[str]:
        found, _ = store.search_experiments(
            parse(text, EXPERIMENTS),
            kw.get("orders", [("attributes", "name", False)]),  # type: ignore[arg-type]
            lifecycles=lifecycles,
            limit=100,
            offset=0,
        )
        return [e.name for e in found]

    assert names("name LIKE 'a%'") == ["aXb", "a_b", "alpha"]
    assert names("name ILIKE 'a%'") == ["Alpha", "aXb", "a_b", "alpha"]
    assert names("name LIKE 'a\\_b'") == ["a_b"]
    assert names("tags.team = 'red'") == ["aXb", "alpha"]
    assert names("tags.team ILIKE 'blue'") == ["Alpha", "a_b"]
    assert names("tags.other IS NULL and name != 'Alpha'") == ["aXb", "a_b", "alpha"]
    assert names(f"experiment_id IN ('{made['Alpha']}', '{made['beta']}')") == ["Alpha"]
    assert names("creation_time >= 1704153600000") == ["aXb", "a_b", "alpha"]  # 2024-01-02
    assert names("name LIKE 'b%'", ("deleted",)) == ["beta"]
    assert len(names("name LIKE '%'", ("active", "deleted"))) == 5
    newest, more = store.search_experiments(
        parse("name ILIKE 'a%'", EXPERIMENTS), [], lifecycles=("active",), limit=3, offset=0
    )
    assert ([e.name for e in newest], more) == (["aXb", "a_b", "alpha"], True)  # creation_time DESC
    rest, more = store.search_experiments(
        parse("name ILIKE 'a%'", EXPERIMENTS), [], lifecycles=("active",), limit=3, offset=3
    )
    assert ([e.name for e in rest], more) == (["Alpha"], False)


def test_registered_models_keep_models_without_the_prompt_tag(project: Project) -> None:
    store = project.mlflow
    store.create_registered_model("plain", "", {"team": "red"})
    store.create_registered_model("Prompt", "", {"mlflow.prompt.is_prompt": "true"})
    store.create_registered_model("said-no", "", {"mlflow.prompt.is_prompt": "false"})
    store.create_registered_model("gone", "", {})
    _set(project, registered_models, registered_models.c.name == "gone", lifecycle="deleted")

    def names(text: str) -> list[str]:
        return store.search_registered_models(parse(text, REGISTERED_MODELS), [], limit=100, offset=0)[0]

    assert names("tag.`mlflow.prompt.is_prompt` != 'true'") == ["plain", "said-no"]
    assert names("tags.`mlflow.prompt.is_prompt` = 'false'") == ["plain", "said-no"]
    assert names("tags.`mlflow.prompt.is_prompt` = 'true'") == ["Prompt"]
    assert names("name LIKE 'p%'") == ["plain"]
    assert names("name ILIKE 'p%'") == ["Prompt", "plain"]
    assert names("name NOT IN ('plain') and tags.team != 'x'") == []
    by_update, more = store.search_registered_models([], [("attributes", "name", True)], limit=2, offset=0)
    assert (by_update, more) == (["said-no", "plain"], True)


def test_logged_models_by_params_tags_metrics_and_metric_order(project: Project) -> None:
    store = project.mlflow
    exp = project.meta.tracking.create_experiment("lm")
    now = datetime.now(UTC)
    for n, (name, lr) in enumerate([("one", "0.1"), ("Two", "0.01"), ("three", "0.1")]):
        tags = {"team": "red" if n % 2 else "blue"}
        store.create_logged_model(
            LoggedModel(
                f"m-{n}", exp.id, name, None, None, "LOGGED_MODEL_READY", None, tags, {"lr": lr}, now, now
            )
        )
    with store._db.engine.begin() as conn:
        rows = [("m-0", 0.5, 1.0), ("m-0", 0.9, 2.0), ("m-1", 0.7, 1.0)]
        conn.execute(
            mlflow_model_metrics.insert(),
            [{"model_id": m, "key": "acc", "value": v, "step": 0, "timestamp": t} for m, v, t in rows],
        )

    def names(text: str, orders: list[tuple[str, str, bool]] | None = None) -> list[str]:
        found, _ = store.search_logged_models(
            [exp.id],
            parse(text, LOGGED_MODELS),
            orders or [("attributes", "name", False)],
            limit=10,
            offset=0,  # type: ignore[arg-type]
        )
        return [m.name for m in found]

    assert names("params.lr = '0.1'") == ["one", "three"]
    assert names("params.lr LIKE '0.0%'") == ["Two"]
    assert names("tags.team ILIKE 'BLUE'") == ["one", "three"]
    assert names("metrics.acc > 0.8") == ["one"]  # any logged value, as MLflow's server
    assert names("name LIKE 't%'") == ["three"]
    assert names("model_id IN ('m-1', 'm-2')") == ["Two", "three"]
    assert names("name != 'x'", [("metrics", "acc", True)]) == [
        "one",
        "Two",
        "three",
    ]  # latest 0.9, 0.7, none


def _version(api: TestClient, name: str, tags: dict[str, str]) -> str:
    """A version of `name` from a new run's (pickled, never loaded) model folder."""
    made = api.post(f"{API}/experiments/create", json={"name": f"e-{name}-{id(tags)}"})
    run = api.post(f"{API}/runs/create", json={"experiment_id": made.json()["experiment_id"]}).json()
    run_id = run["run"]["info"]["run_id"]
    _pickled_model_folder(api, f"{made.json()['experiment_id']}/{run_id}/artifacts/model")
    body = {"name": name, "source": f"runs:/{run_id}/model", "run_id": run_id}
    body["tags"] = [{"key": k, "value": v} for k, v in tags.items()]  # type: ignore[assignment]
    response = api.post(f"{API}/model-versions/create", json=body)
    assert response.status_code == 200, response.text
    return str(run_id)


def test_model_version_search_over_http(api: TestClient) -> None:
    api.post(f"{API}/registered-models/create", json={"name": "mv"})
    made = [_version(api, "mv", {"stage": s}) for s in ("bad", "ok", "ok")]

    def versions(text: str, **params: str) -> list[str]:
        response = api.get(f"{API}/model-versions/search", params={"filter": text, **params})
        assert response.status_code == 200, response.text
        return [v["version"] for v in response.json()["model_versions"]]

    assert versions(f"name = 'mv' and run_id IN ('{made[0]}', '{made[2]}')") == ["3", "1"]
    assert versions(f"run_id NOT IN ('{made[0]}') and name LIKE 'm_'") == ["3", "2"]
    assert versions("tags.stage = 'ok'") == ["3", "2"]
    assert versions("source_path LIKE 'runs:/%' and version_number <= 2") == ["2", "1"]
    assert versions("name = 'mv'", order_by="version_number ASC") == ["1", "2", "3"]
    page = api.get(
        f"{API}/model-versions/search", params={"filter": "name = 'mv'", "max_results": "2"}
    ).json()
    assert ([v["version"] for v in page["model_versions"]], page["next_page_token"]) == (["3", "2"], "2")
    rest = api.get(
        f"{API}/model-versions/search",
        params={"filter": "name = 'mv'", "max_results": "2", "page_token": "2"},
    ).json()
    assert [v["version"] for v in rest["model_versions"]] == ["1"] and "next_page_token" not in rest


BAD = [
    ("POST", "runs/search", {"filter": "params.a = 'x' OR params.b = 'y'"}, "OR is not supported"),
    ("POST", "runs/search", {"filter": "(params.a = 'x')"}, "parentheses"),
    ("POST", "runs/search", {"filter": "artifact_uri = 'x'"}, "unknown run attribute 'artifact_uri'"),
    ("POST", "runs/search", {"filter": "metrics.a LIKE '1'"}, "LIKE is not supported for metrics.a"),
    ("POST", "runs/search", {"filter": "metrics.a > 'x'"}, "is not a number"),
    ("POST", "runs/search", {"filter": "params.a = 'x"}, "unclosed quote"),
    ("POST", "runs/search", {"run_view_type": "SOME"}, "run_view_type 'SOME' is unknown"),
    ("POST", "runs/search", {"order_by": ["colour DESC"]}, "run order_by: unknown run attribute 'colour'"),
    ("POST", "runs/search", {"order_by": [{"name": 1}]}, "order_by must be a non-empty string"),
    ("POST", "runs/search", {"page_token": "abc"}, "page_token"),
    ("POST", "runs/search", {"page_token": "9" * 40}, "page_token"),
    ("POST", "runs/search", {"page_token": "-5"}, "page_token"),
    ("POST", "runs/search", {"max_results": 0}, "max_results"),
    ("POST", "experiments/search", {"filter": "params.a = 'x'"}, "params keys are not searchable"),
    ("POST", "experiments/search", {"filter": "creation_time LIKE '1%'"}, "LIKE is not supported"),
    ("POST", "experiments/search", {"view_type": 7}, "view_type '7' is unknown"),
    ("POST", "experiments/search", {"order_by": ["tags.team"]}, "tags keys are not searchable"),
    ("POST", "experiments/search", {"page_token": {"offset": 1}}, "page_token"),
    ("GET", "registered-models/search", {"filter": "tags.a IS NULL"}, "IS NULL is not supported"),
    ("GET", "registered-models/search", {"filter": "run_id = 'x'"}, "unknown registered model attribute"),
    (
        "GET",
        "registered-models/search",
        {"order_by": "colour"},
        "order_by: unknown registered model attribute",
    ),
    ("GET", "registered-models/search", {"max_results": "5000"}, "max_results"),
    ("GET", "model-versions/search", {"filter": "version_number = 'x'"}, "is not a number"),
    ("GET", "model-versions/search", {"filter": "name IN ('a', 1)"}, "IN list holds quoted strings"),
    ("POST", "logged-models/search", {"filter": "params.lr IN ('1')"}, "IN is not supported for params.lr"),
    (
        "POST",
        "logged-models/search",
        {"order_by": [{"field_name": "colour"}]},
        "order_by: unknown logged model attribute",
    ),
    ("POST", "logged-models/search", {"order_by": [{"field_name": "name", "ascending": "yes"}]}, "ascending"),
    ("POST", "logged-models/search", {"order_by": ["name"]}, "each order_by must be"),
    ("POST", "logged-models/search", {"datasets": [{"dataset_name": "d"}]}, "by dataset is not supported"),
]


def test_bad_searches_are_400_naming_the_construct(api: TestClient) -> None:
    """One app for every case (CI time): each answer a 400 whose message names what was wrong."""
    for method, path, body, needle in BAD:
        if method == "GET":
            response = api.get(f"{API}/{path}", params=body)  # type: ignore[arg-type]
        else:
            response = api.post(f"{API}/{path}", json=body)
        assert needle in error(response, 400, "INVALID_PARAMETER_VALUE"), (path, body)


def test_a_page_token_past_the_end_is_an_empty_page(api: TestClient) -> None:
    for name in ("first", "second"):
        api.post(f"{API}/experiments/create", json={"name": name})
    response = api.post(f"{API}/experiments/search", json={"page_token": str(2**52), "max_results": 1})
    assert response.status_code == 200 and response.json() == {"experiments": []}
    first = api.post(f"{API}/experiments/search", json={"max_results": 1}).json()
    assert first["next_page_token"] == "1"


def test_view_types_over_http(api: TestClient, project: Project) -> None:
    """run_view_type and view_type on the lifecycle columns (set here as delete_run would)."""
    exp = api.post(f"{API}/experiments/create", json={"name": "views"}).json()["experiment_id"]
    made = [api.post(f"{API}/runs/create", json={"experiment_id": exp}).json() for _ in range(2)]
    kept_id, gone_id = (m["run"]["info"]["run_id"] for m in made)
    _set(project, runs, runs.c.id == gone_id, lifecycle="deleted")
    _set(project, experiments, experiments.c.name == "views", lifecycle="deleted")

    def run_ids(view: object) -> list[str]:
        body = {"experiment_ids": [exp]} | ({} if view is None else {"run_view_type": view})
        response = api.post(f"{API}/runs/search", json=body)
        assert response.status_code == 200, response.text
        return sorted(r["info"]["run_id"] for r in response.json().get("runs", []))

    assert run_ids(None) == run_ids("ACTIVE_ONLY") == [kept_id]
    assert run_ids("DELETED_ONLY") == run_ids(2) == [gone_id]
    assert run_ids("ALL") == sorted([kept_id, gone_id])

    def experiment_names(view: str) -> list[str]:
        found = api.post(f"{API}/experiments/search", json={"view_type": view, "filter": "name = 'views'"})
        return [e["name"] for e in found.json().get("experiments", [])]

    assert (experiment_names("ACTIVE_ONLY"), experiment_names("DELETED_ONLY")) == ([], ["views"])
