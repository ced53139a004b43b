"""MLflow client checks: search (see checks.py). Point 2: registered-model search (the 3.17
client always adds ``tag.`mlflow.prompt.is_prompt` != 'true'``); point 3: LIKE / ILIKE / IN /
NOT IN / IS NULL filters of every search, mlflow.load_table and run_view_type; point 8:
experiment search pages with next_page_token.

Every name is unique to one run of the checks (Context.name), so they pass on a shared server.
"""

from __future__ import annotations

from typing import Any

import mlflow
import mlflow.sklearn
from checks import Context, check
from mlflow.entities import ViewType


def _all_pages(search: Any, **kwargs: Any) -> list[Any]:
    found: list[Any] = []
    token = None
    while True:
        page = search(page_token=token, **kwargs)
        found += list(page)
        token = page.token
        if not token:
            return found


def _same(got: Any, want: Any, what: str) -> None:
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


# -- point 2: registered-model search ------------------------------------------------------------
@check(2)
def search_registered_models_without_a_filter(ctx: Context) -> None:
    name = ctx.name("search-rm")
    ctx.client.create_registered_model(name, tags={"team": "search"})
    names = [m.name for m in _all_pages(ctx.client.search_registered_models, max_results=100)]
    if name not in names:
        raise AssertionError(f"{name} not in search_registered_models(): {names[:20]}")
    _same(len(names), len(set(names)), "pages hold each model once")


@check(2)
def search_registered_models_by_name_like_and_tags(ctx: Context) -> None:
    prefix = ctx.name("rm-like")
    for suffix, team in (("a", "red"), ("b", "blue"), ("c", "red")):
        ctx.client.create_registered_model(f"{prefix}-{suffix}", tags={"team": team})
    found = ctx.client.search_registered_models(filter_string=f"name LIKE '{prefix}-%'")
    _same([m.name for m in found], [f"{prefix}-a", f"{prefix}-b", f"{prefix}-c"], "name LIKE")
    upper = ctx.client.search_registered_models(filter_string=f"name ILIKE '{prefix.upper()}-%'")
    _same(len(upper), 3, "name ILIKE")
    _same(
        len(ctx.client.search_registered_models(filter_string=f"name LIKE '{prefix.upper()}-%'")),
        0,
        "LIKE case",
    )
    red = ctx.client.search_registered_models(filter_string=f"name LIKE '{prefix}-%' and tags.team = 'red'")
    _same([m.name for m in red], [f"{prefix}-a", f"{prefix}-c"], "tags.team = 'red'")
    newest = ctx.client.search_registered_models(
        filter_string=f"name LIKE '{prefix}-%'", order_by=["name DESC"], max_results=2
    )
    _same([m.name for m in newest], [f"{prefix}-c", f"{prefix}-b"], "order_by name DESC, max_results 2")
    if not newest.token:
        raise AssertionError("no next_page_token after 2 of 3 models")


# -- point 3: run search filters -----------------------------------------------------------------
def _runs(ctx: Context) -> tuple[str, dict[str, str]]:
    exp = ctx.client.create_experiment(ctx.name("search-runs"))
    made: dict[str, str] = {}
    for name, model, team in (("alpha", "tree", "a"), ("Beta", "Tree", "b"), ("gamma", "linear", "a")):
        run = ctx.client.create_run(exp, run_name=f"{name}-{ctx.tag}", tags={"team": team})
        ctx.client.log_param(run.info.run_id, "model", model)
        ctx.client.log_metric(run.info.run_id, "acc", {"alpha": 0.9, "Beta": 0.7, "gamma": 0.5}[name])
        if name != "gamma":
            ctx.client.set_tag(run.info.run_id, "extra", "yes")
            ctx.client.set_terminated(run.info.run_id)
        made[name] = run.info.run_id
    return exp, made


@check(3)
def search_runs_like_ilike_in_not_in(ctx: Context) -> None:
    exp, made = _runs(ctx)

    def names(text: str, **kw: Any) -> list[str]:
        found = ctx.client.search_runs([exp], filter_string=text, **kw)
        return sorted(r.info.run_name.split("-")[0] for r in found)

    _same(names("params.model LIKE 'tree'"), ["alpha"], "params LIKE is case-sensitive")
    _same(names("params.model ILIKE 'TREE'"), ["Beta", "alpha"], "params ILIKE")
    _same(names("params.model LIKE '%ee'"), ["Beta", "alpha"], "params LIKE %")
    _same(names("params.model LIKE 't%'"), ["alpha"], "params LIKE % is case-sensitive")
    _same(names("params.model LIKE 'T_ee'"), ["Beta"], "params LIKE _")
    _same(names("tags.team LIKE 'a'"), ["alpha", "gamma"], "tags LIKE")
    _same(names("tags.team != 'a'"), ["Beta"], "tags !=")
    _same(names("tags.extra IS NULL"), ["gamma"], "tags IS NULL")
    _same(names("attributes.run_name LIKE 'alpha%'"), ["alpha"], "run_name LIKE")
    _same(names("run_name ILIKE 'BETA-%'"), ["Beta"], "run_name ILIKE")
    _same(names("attributes.run_name LIKE 'beta%'"), [], "run_name LIKE is case-sensitive")
    _same(
        names(f"attributes.run_id IN ('{made['alpha']}', '{made['gamma']}')"), ["alpha", "gamma"], "run_id IN"
    )
    _same(names(f"attributes.run_id NOT IN ('{made['alpha']}')"), ["Beta", "gamma"], "run_id NOT IN")
    _same(names("attributes.status = 'FINISHED'"), ["Beta", "alpha"], "status =")
    _same(names("attributes.status LIKE 'RUN%'"), ["gamma"], "status LIKE")
    _same(names("metrics.acc > 0.6 and params.model ILIKE 'tree'"), ["Beta", "alpha"], "metric and ILIKE")
    ordered = ctx.client.search_runs(
        [exp], filter_string="params.model != 'x'", order_by=["attributes.run_name ASC"]
    )
    _same([r.info.run_name.split("-")[0] for r in ordered], ["Beta", "alpha", "gamma"], "order_by run_name")


@check(3)
def load_table_finds_the_runs_that_logged_it(ctx: Context) -> None:
    import pandas as pd

    exp = ctx.client.create_experiment(ctx.name("load-table"))
    ids = []
    for n in range(2):
        run = ctx.client.create_run(exp)
        ctx.client.log_table(
            run.info.run_id, data=pd.DataFrame({"x": [n, n + 10]}), artifact_file="eval.json"
        )
        ids.append(run.info.run_id)
    ctx.client.create_run(exp)  # logs no table: load_table must leave it out
    table = ctx.client.load_table(exp, "eval.json", extra_columns=["run_id"])
    _same(sorted(table["x"].tolist()), [0, 1, 10, 11], "load_table rows")
    _same(sorted(set(table["run_id"])), sorted(ids), "load_table runs")
    mlflow.set_experiment(experiment_id=exp)
    one = mlflow.load_table("eval.json", run_ids=[ids[1]])
    _same(sorted(one["x"].tolist()), [1, 11], "load_table run_ids (attributes.run_id IN)")


@check(3)
def search_experiments_by_name_and_tags(ctx: Context) -> None:
    prefix = ctx.name("exp-like")
    for suffix, team in (("a", "red"), ("B", "blue"), ("c", "red")):
        ctx.client.create_experiment(f"{prefix}-{suffix}", tags={"team": team})

    def names(text: str, **kw: Any) -> list[str]:
        return [e.name for e in ctx.client.search_experiments(filter_string=text, **kw)]

    _same(
        sorted(names(f"name LIKE '{prefix}-%'")), [f"{prefix}-B", f"{prefix}-a", f"{prefix}-c"], "name LIKE"
    )
    _same(names(f"name LIKE '{prefix}-b'"), [], "name LIKE is case-sensitive")
    _same(names(f"name ILIKE '{prefix}-b'"), [f"{prefix}-B"], "name ILIKE")
    _same(names(f"name = '{prefix}-a'"), [f"{prefix}-a"], "name =")
    red = names(f"name LIKE '{prefix}-%' and tags.team = 'red'", order_by=["name DESC"])
    _same(red, [f"{prefix}-c", f"{prefix}-a"], "tags.team = 'red', order_by name DESC")
    _same(names(f"name LIKE '{prefix}-%' and tags.team LIKE 'bl%'"), [f"{prefix}-B"], "tags LIKE")
    _same(len(names(f"name LIKE '{prefix}-%' and tags.nothing IS NULL")), 3, "tags IS NULL")
    newest = names(f"name LIKE '{prefix}-%'", order_by=["creation_time DESC"])
    _same(newest[0], f"{prefix}-c", "order_by creation_time DESC")


@check(3)
def search_model_versions_by_run_id_in_and_tags(ctx: Context) -> None:
    from sklearn.linear_model import LogisticRegression

    name = ctx.name("mv-search")
    mlflow.set_experiment(ctx.name("mv-search-exp"))
    runs = []
    for n in range(3):
        with mlflow.start_run() as run:
            model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
            info = mlflow.sklearn.log_model(model, name="model", registered_model_name=name)
            ctx.client.set_model_version_tag(
                name, info.registered_model_version, "stage", "ok" if n else "bad"
            )
        runs.append(run.info.run_id)
    search = ctx.client.search_model_versions

    def versions(text: str, **kw: Any) -> list[int]:
        return sorted(int(v.version) for v in search(text, **kw))

    _same(versions(f"name = '{name}'"), [1, 2, 3], "name =")
    _same(versions(f"name = '{name}' and run_id IN ('{runs[0]}', '{runs[2]}')"), [1, 3], "run_id IN")
    _same(versions(f"name = '{name}' and run_id NOT IN ('{runs[0]}')"), [2, 3], "run_id NOT IN")
    _same(versions(f"name = '{name}' and tags.stage = 'ok'"), [2, 3], "tags.stage =")
    _same(versions(f"name LIKE '{name[:-3]}%' and tags.stage LIKE 'b%'"), [1], "name LIKE and tags LIKE")
    _same(versions(f"name = '{name}' and version_number >= 2"), [2, 3], "version_number >=")
    ordered = search(f"name = '{name}'", order_by=["version_number ASC"], max_results=2)
    _same([int(v.version) for v in ordered], [1, 2], "order_by version_number ASC, max_results 2")
    if not ordered.token:
        raise AssertionError("no next_page_token after 2 of 3 versions")


@check(3)
def search_logged_models_by_params_and_tags(ctx: Context) -> None:
    exp = ctx.client.create_experiment(ctx.name("lm-search"))
    made = {}
    for name, lr, team in (("first", "0.1", "red"), ("second", "0.01", "blue"), ("Third", "0.1", "blue")):
        model = ctx.client.create_logged_model(exp, name=name, params={"lr": lr}, tags={"team": team})
        made[model.model_id] = name

    def names(text: str, **kw: Any) -> list[str]:
        return sorted(m.name for m in ctx.client.search_logged_models([exp], filter_string=text, **kw))

    _same(names("params.lr = '0.1'"), ["Third", "first"], "params =")
    _same(names("params.lr LIKE '0.0%'"), ["second"], "params LIKE")
    _same(names("tags.team != 'red'"), ["Third", "second"], "tags !=")
    _same(names("tags.team ILIKE 'BLUE' and params.lr = '0.1'"), ["Third"], "tags ILIKE and params")
    _same(names("name LIKE 't%'"), [], "name LIKE is case-sensitive")
    _same(names("name ILIKE 't%'"), ["Third"], "name ILIKE")
    ordered = ctx.client.search_logged_models([exp], order_by=[{"field_name": "name", "ascending": True}])
    _same([m.name for m in ordered], ["Third", "first", "second"], "order_by name")


@check(3)
def search_runs_run_view_type(ctx: Context) -> None:
    """Needs delete_run (point 4's lifecycle endpoints) to pass on loopline."""
    exp = ctx.client.create_experiment(ctx.name("view-type"))
    kept = ctx.client.create_run(exp).info.run_id
    gone = ctx.client.create_run(exp).info.run_id
    ctx.client.delete_run(gone)

    def ids(view: int) -> list[str]:
        return sorted(r.info.run_id for r in ctx.client.search_runs([exp], run_view_type=view))

    _same(ids(ViewType.ACTIVE_ONLY), [kept], "ACTIVE_ONLY")
    _same(ids(ViewType.DELETED_ONLY), [gone], "DELETED_ONLY")
    _same(ids(ViewType.ALL), sorted([kept, gone]), "ALL")


# -- point 8: experiment search pages ------------------------------------------------------------
@check(8)
def search_experiments_pages_join_up(ctx: Context) -> None:
    prefix = ctx.name("exp-page")
    made = [ctx.client.create_experiment(f"{prefix}-{n}") for n in range(5)]
    text = f"name LIKE '{prefix}-%'"
    first = ctx.client.search_experiments(filter_string=text, max_results=2)
    _same(len(first), 2, "first page size")
    if not first.token:
        raise AssertionError("search_experiments(max_results=2) gave no next_page_token")
    pages = _all_pages(
        ctx.client.search_experiments, filter_string=text, max_results=2, order_by=["name ASC"]
    )
    _same([e.name for e in pages], [f"{prefix}-{n}" for n in range(5)], "all pages, by name")
    _same(sorted(e.experiment_id for e in pages), sorted(made), "each experiment once")
    last = ctx.client.search_experiments(filter_string=text, max_results=5)
    _same((len(last), last.token), (5, None), "one full page has no next_page_token")
