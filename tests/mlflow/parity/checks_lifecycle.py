"""MLflow client checks: lifecycle (see checks.py). Point 4: delete, restore and rename of
experiments and runs; delete, rename and update of registered models and versions; every
delete_*_tag. Each states what the MLflow client sees, on either server."""

from __future__ import annotations

import mlflow
from checks import Context, check
from mlflow.exceptions import MlflowException


def _version(ctx: Context, name: str) -> str:
    """A registered model `name` with one version made from a run's uploaded files."""
    exp = ctx.client.create_experiment(ctx.name(f"exp-{name}"))
    run = ctx.client.create_run(exp)
    folder = ctx.tmp / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "MLmodel").write_text("flavors: {}\n")
    ctx.client.log_artifacts(run.info.run_id, str(folder), "model")
    ctx.client.create_registered_model(name)
    made = ctx.client.create_model_version(
        name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id, description="first"
    )
    return str(made.version)


_GONE = ("RESOURCE_DOES_NOT_EXIST",)


def _fails(call: object, *args: object, codes: tuple[str, ...] = ("RESOURCE_DOES_NOT_EXIST",)) -> None:
    try:
        call(*args)  # type: ignore[operator]
    except MlflowException as exc:
        assert exc.error_code in codes, (exc.error_code, str(exc))
    else:
        raise AssertionError(f"{call} did not fail")


@check(4)
def experiment_delete_restore_rename(ctx: Context) -> None:
    name = ctx.name("life-exp")
    exp = ctx.client.create_experiment(name)
    ctx.client.delete_experiment(exp)
    got = ctx.client.get_experiment(exp)
    assert got.lifecycle_stage == "deleted", got
    assert ctx.client.get_experiment_by_name(name).lifecycle_stage == "deleted"
    try:
        mlflow.set_experiment(name)
    except MlflowException as exc:
        assert "restore" in str(exc).lower(), str(exc)
    else:
        raise AssertionError("set_experiment of a deleted experiment did not fail")
    ctx.client.restore_experiment(exp)
    assert ctx.client.get_experiment(exp).lifecycle_stage == "active"
    renamed = ctx.name("life-exp-renamed")
    ctx.client.rename_experiment(exp, renamed)
    assert ctx.client.get_experiment(exp).name == renamed
    assert ctx.client.get_experiment_by_name(renamed).experiment_id == exp
    assert ctx.client.get_experiment_by_name(name) is None


@check(4)
def experiment_delete_marks_its_runs(ctx: Context) -> None:
    exp = ctx.client.create_experiment(ctx.name("life-exp-runs"))
    run = ctx.client.create_run(exp)
    ctx.client.delete_experiment(exp)
    assert ctx.client.get_run(run.info.run_id).info.lifecycle_stage == "deleted"
    ctx.client.restore_experiment(exp)
    assert ctx.client.get_run(run.info.run_id).info.lifecycle_stage == "active"


@check(4)
def experiment_tag_delete(ctx: Context) -> None:
    exp = ctx.client.create_experiment(ctx.name("life-exp-tag"))
    ctx.client.set_experiment_tag(exp, "team", "vision")
    ctx.client.set_experiment_tag(exp, "keep", "yes")
    ctx.client.delete_experiment_tag(exp, "team")
    assert ctx.client.get_experiment(exp).tags == {"keep": "yes"}
    _fails(ctx.client.delete_experiment_tag, exp, "team")


@check(4)
def run_delete_restore(ctx: Context) -> None:
    exp = ctx.client.create_experiment(ctx.name("life-run"))
    run = ctx.client.create_run(exp)
    run_id = run.info.run_id
    ctx.client.log_metric(run_id, "loss", 0.25)
    ctx.client.delete_run(run_id)
    assert ctx.client.get_run(run_id).info.lifecycle_stage == "deleted"
    # run_view_type (ACTIVE_ONLY / DELETED_ONLY) in search_runs is point 3's (checks_search.py)
    ctx.client.restore_run(run_id)
    back = ctx.client.get_run(run_id)
    assert back.info.lifecycle_stage == "active"
    assert back.data.metrics == {"loss": 0.25}


@check(4)
def run_tag_delete(ctx: Context) -> None:
    exp = ctx.client.create_experiment(ctx.name("life-run-tag"))
    run_id = ctx.client.create_run(exp).info.run_id
    ctx.client.set_tag(run_id, "drop", "me")
    ctx.client.delete_tag(run_id, "drop")
    assert "drop" not in ctx.client.get_run(run_id).data.tags
    _fails(ctx.client.delete_tag, run_id, "drop")


@check(4)
def registered_model_update_rename_delete(ctx: Context) -> None:
    name = ctx.name("life-model")
    version = _version(ctx, name)
    ctx.client.set_registered_model_alias(name, "champion", version)
    updated = ctx.client.update_registered_model(name, description="the model")
    assert updated.description == "the model"
    assert ctx.client.get_registered_model(name).description == "the model"
    new = ctx.name("life-model-renamed")
    ctx.client.rename_registered_model(name, new)
    _fails(ctx.client.get_registered_model, name)
    got = ctx.client.get_registered_model(new)
    assert got.aliases == {"champion": version}, got.aliases
    assert ctx.client.get_model_version(new, version).name == new
    assert ctx.client.get_model_version_by_alias(new, "champion").version == version
    ctx.client.delete_registered_model(new)
    _fails(ctx.client.get_registered_model, new)
    _fails(ctx.client.get_model_version, new, version)
    # (search_registered_models itself is point 2's: checks_search.py)
    assert ctx.client.search_model_versions(f"name = '{new}'") == []


@check(4)
def registered_model_name_reusable_after_delete(ctx: Context) -> None:
    """Scripts delete a model then create it again under the same name."""
    name = ctx.name("life-model-again")
    _version(ctx, name)
    ctx.client.delete_registered_model(name)
    ctx.client.create_registered_model(name, description="again")
    got = ctx.client.get_registered_model(name)
    assert got.description == "again"
    assert ctx.client.search_model_versions(f"name = '{name}'") == []


@check(4)
def model_version_update_delete(ctx: Context) -> None:
    name = ctx.name("life-version")
    first = _version(ctx, name)
    updated = ctx.client.update_model_version(name, first, description="better words")
    assert updated.description == "better words"
    assert ctx.client.get_model_version(name, first).description == "better words"
    ctx.client.set_registered_model_alias(name, "candidate", first)
    ctx.client.delete_model_version(name, first)
    _fails(ctx.client.get_model_version, name, first)
    # MLflow answers INVALID_PARAMETER_VALUE for an unknown alias, loopline RESOURCE_DOES_NOT_EXIST
    _fails(
        ctx.client.get_model_version_by_alias, name, "candidate", codes=(*_GONE, "INVALID_PARAMETER_VALUE")
    )
    assert ctx.client.get_registered_model(name).aliases == {}
    assert ctx.client.search_model_versions(f"name = '{name}'") == []


@check(4)
def registry_tag_deletes(ctx: Context) -> None:
    name = ctx.name("life-tags")
    version = _version(ctx, name)
    ctx.client.set_registered_model_tag(name, "owner", "ana")
    ctx.client.set_registered_model_tag(name, "keep", "1")
    ctx.client.delete_registered_model_tag(name, "owner")
    assert ctx.client.get_registered_model(name).tags == {"keep": "1"}
    ctx.client.set_model_version_tag(name, version, "checked", "yes")
    ctx.client.set_model_version_tag(name, version, "keep", "1")
    ctx.client.delete_model_version_tag(name, version, "checked")
    assert ctx.client.get_model_version(name, version).tags == {"keep": "1"}


@check(4)
def logged_model_tag_delete_and_delete(ctx: Context) -> None:
    exp = ctx.client.create_experiment(ctx.name("life-logged"))
    model = ctx.client.create_logged_model(exp, name="net", tags={"a": "1", "b": "2"})
    ctx.client.delete_logged_model_tag(model.model_id, "a")
    assert ctx.client.get_logged_model(model.model_id).tags == {"b": "2"}
    ctx.client.delete_logged_model(model.model_id)
    found = ctx.client.search_logged_models(experiment_ids=[exp])
    assert [m.model_id for m in found] == [], found
