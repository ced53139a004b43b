"""Soft delete, restore, rename and gc on SQLite and PostgreSQL: experiments and their runs,
runs, logged models, registered models and versions (under the promotion policy), and what gc
removes, keeps and leaves in the audit log."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from loopline.core.errors import CheckFailed, Conflict, InvalidInput, NotFound
from loopline.core.identity import Principal, acting
from loopline.core.types import Artifact
from loopline.project import Project
from loopline.store.metadata.audit import AuditLog
from loopline.store.metadata.mlflow import LoggedModel
from loopline.store.metadata.mlflow_models import mlflow_artifacts, mlflow_model_versions
from loopline.store.metadata.tables import (
    grants,
    metrics,
    model_aliases,
    model_events,
    run_params,
    runs,
    step_runs,
)
from loopline.store.metadata.times import utc_now
from loopline.store.models import save_model
from tests.conftest import write_project

X, Y = load_iris(return_X_y=True)
ALICE = Principal("alice", "scientist")
BOB = Principal("bob", "approver")
DAVE = Principal("dave", "maintainer")


@pytest.fixture
def project(tmp_path: Path, store_url: str) -> Iterator[Project]:
    root = write_project(
        tmp_path / "proj", "registry:\n  require_approval: [production]\nsteps: {}\n", store=store_url
    )
    opened = Project.init(root)
    try:
        yield opened
    finally:
        opened.close()


def model(project: Project, c: float = 1.0) -> Artifact:
    art = save_model(project.blobs, LogisticRegression(C=c, max_iter=300).fit(X, Y))
    project.meta.add_version("model", art, source="test")
    return art


def register(project: Project, name: str = "iris", c: float = 1.0) -> int:
    with acting(ALICE):
        return project.registry.register(name, model(project, c)).version


def count(project: Project, query: sa.Select) -> int:  # type: ignore[type-arg]
    with project.meta.database.read() as conn:
        return len(conn.execute(query).all())


def tracked_run(project: Project, experiment: str = "exp") -> tuple[int, str]:
    tracking = project.meta.tracking
    exp = tracking.ensure_experiment(experiment).id
    run = tracking.create_run(exp, name="r", executor="mlflow")
    tracking.log_batch(run.id, [("loss", 0.5, 1, 1.0)], {"lr": "0.1"}, {"t": "v"})
    project.mlflow.put_file(f"{exp}/{run.id}/artifacts/model.pkl", "0" * 64, 3)
    return exp, run.id


def test_experiment_delete_takes_its_runs_and_restore_brings_them_back(project: Project) -> None:
    life, tracking = project.meta.lifecycle, project.meta.tracking
    exp, first = tracked_run(project)
    _, alone = tracked_run(project)
    life.delete_run(alone)  # deleted on its own before: stays deleted on restore
    life.delete_experiment(exp)
    assert tracking.get_experiment(exp).lifecycle == "deleted"
    assert tracking.get_run(first).lifecycle == "deleted"
    life.restore_experiment(exp)
    assert tracking.get_experiment(exp).lifecycle == "active"
    assert tracking.get_run(first).lifecycle == "active"
    assert tracking.get_run(alone).lifecycle == "deleted"
    life.restore_run(alone)
    assert tracking.get_run(alone).lifecycle == "active"
    actions = [e.action for e in AuditLog(project.meta).events(object=str(exp))]
    assert {"experiment.delete", "experiment.restore"} <= set(actions)


def test_experiment_rename_and_tag_delete_and_their_refusals(project: Project) -> None:
    life, tracking = project.meta.lifecycle, project.meta.tracking
    exp = tracking.create_experiment("a", tags={"k": "v", "keep": "1"}).id
    tracking.create_experiment("b")
    with pytest.raises(Conflict, match="exists already"):
        life.rename_experiment(exp, "b")
    with pytest.raises(InvalidInput):
        life.rename_experiment(exp, " ")
    life.rename_experiment(exp, "c")
    assert tracking.get_experiment(exp).name == "c"
    life.delete_experiment_tag(exp, "k")
    assert tracking.get_experiment(exp).tags == {"keep": "1"}
    with pytest.raises(NotFound, match="no tag 'k'"):
        life.delete_experiment_tag(exp, "k")
    default = tracking.ensure_experiment("Default").id
    with pytest.raises(InvalidInput, match="default experiment"):
        life.delete_experiment(default)
    life.delete_experiment(exp)
    with pytest.raises(InvalidInput, match="is deleted"):
        life.rename_experiment(exp, "d")
    with pytest.raises(NotFound):
        life.delete_run("no-such-run")


def test_a_deleted_version_is_gone_to_every_read_and_its_aliases_are_removed(project: Project) -> None:
    register(project)
    register(project, c=0.5)
    reg = project.registry
    with acting(DAVE):
        reg.promote("iris", 2, "staging")
        assert reg.delete_version("iris", 2) == ["staging"]
    with pytest.raises(NotFound):
        reg.resolve("iris", 2)
    with pytest.raises(NotFound):
        reg.resolve("iris", "staging")
    assert reg.resolve("iris").version == 1  # the latest active one
    (listed,) = reg.models()
    assert (listed.versions, listed.latest and listed.latest.version, listed.aliases) == (1, 1, {})
    assert [v.version for v in reg.repo.versions("iris")] == [1]
    assert [m.name for m in project.models()] == ["iris"]  # the stdlib reader agrees
    with pytest.raises(Conflict, match="is not deleted"):
        reg.restore("iris", 1)
    assert reg.restore("iris", 2) == 1
    assert reg.resolve("iris").version == 2 and reg.resolve("iris", 2).aliases == ()
    kinds = [e.kind for e in reg.history("iris")]
    assert kinds[-3:] == ["alias_delete", "delete", "restore"]


def test_a_protected_alias_keeps_its_version_until_the_removal_is_approved(project: Project) -> None:
    register(project)
    reg = project.registry
    with acting(BOB):
        reg.approve("iris", 1, "production")
    with acting(DAVE):
        reg.promote("iris", 1, "production")
        with pytest.raises(CheckFailed):
            reg.delete_version("iris", 1)
        with pytest.raises(CheckFailed):
            reg.delete_model("iris")
    assert reg.resolve("iris", "production").version == 1  # nothing changed
    assert [m.name for m in reg.models()] == ["iris"]
    with acting(BOB):
        reg.approve("iris", 1, "production", removal=True)
    with acting(DAVE):
        assert reg.delete_model("iris") == ["production"]
    assert reg.models() == []
    with pytest.raises(NotFound, match="is deleted"):
        reg.register("iris", model(project))
    assert reg.restore("iris") == 1
    assert reg.resolve("iris").version == 1


def test_rename_moves_every_row_naming_the_model(project: Project) -> None:
    register(project)
    reg = project.registry
    project.users_add("eve", "viewer")
    project.meta.users.set_grant("eve", "model", "iris", "edit")
    project.mlflow.create_registered_model("other", "", {})
    with acting(DAVE):
        reg.promote("iris", 1, "staging")
        with pytest.raises(Conflict, match="exists already"):
            reg.rename("iris", "other")
        reg.rename("iris", "flowers")
    with pytest.raises(NotFound):
        reg.resolve("iris")
    assert reg.resolve("flowers", "staging").version == 1
    assert [e.kind for e in reg.history("flowers")][-1] == "rename"
    assert count(project, sa.select(model_events).where(model_events.c.name == "iris")) == 0
    assert count(project, sa.select(model_aliases).where(model_aliases.c.name == "flowers")) == 1
    assert count(project, sa.select(grants).where(grants.c.resource_name == "flowers")) == 1
    renamed = AuditLog(project.meta).events(action="model.rename")
    assert [e.object for e in renamed] == ["iris"]  # the audit log keeps what was written


def test_create_over_a_deleted_model_starts_afresh(project: Project) -> None:
    register(project)
    reg = project.registry
    with acting(DAVE):
        reg.delete_model("iris")
    project.mlflow.create_registered_model("iris", "again", {})
    (listed,) = reg.models()
    assert (listed.description, listed.versions) == ("again", 0)
    assert count(project, sa.select(model_events).where(model_events.c.name == "iris")) == 0
    with pytest.raises(Conflict):
        project.mlflow.create_registered_model("iris", "", {})


def test_gc_removes_what_was_deleted_and_keeps_what_lineage_needs(project: Project) -> None:
    life = project.meta.lifecycle
    exp, gone = tracked_run(project)
    _, pipeline = tracked_run(project, "pipelines")
    _, backing = tracked_run(project, "backing")
    with project.meta.database.engine.begin() as conn:  # a pipeline run: its steps made lineage
        conn.execute(
            step_runs.insert().values(
                run_id=pipeline,
                name="train",
                status="ran",
                fingerprint="f",
                code_hash="c",
                params_json="{}",
                uses="m:f",
                seconds=0.1,
                finished_at=utc_now(),
            )
        )
    with acting(ALICE):
        project.registry.register("iris", model(project), run_id=backing)
    for run_id in (gone, pipeline, backing):
        life.delete_run(run_id)
    logged = LoggedModel(
        "m-x", exp, "net", gone, None, "LOGGED_MODEL_READY", None, {}, {}, utc_now(), utc_now()
    )
    project.mlflow.create_logged_model(logged)
    life.delete_logged_model("m-x")
    with pytest.raises(NotFound):
        project.mlflow.logged_model("m-x")

    early = project.gc(timedelta(days=1))
    assert (early.runs, early.logged_models, early.kept) == ([], [], [])
    dry = project.gc(dry_run=True)
    assert dry.runs == [gone] and dry.logged_models == ["m-x"]
    assert project.meta.tracking.get_run(gone).lifecycle == "deleted"  # a dry run removes nothing
    done = project.gc()
    assert done.runs == [gone] and done.logged_models == ["m-x"]
    assert {(k["kind"], k["name"]) for k in done.kept} == {("run", pipeline), ("run", backing)}
    for table in (runs, run_params, metrics):
        column = table.c.id if table is runs else table.c.run_id
        assert count(project, sa.select(table).where(column == gone)) == 0
    assert count(project, sa.select(mlflow_artifacts).where(mlflow_artifacts.c.path.contains(gone))) == 0
    assert project.meta.tracking.get_run(pipeline).lifecycle == "deleted"  # kept, still restorable
    audit = AuditLog(project.meta)
    assert [e.action for e in audit.events(object=gone)][:1] == ["gc.run"]
    assert "run.create" in [e.action for e in audit.events(object=gone)]
    assert audit.verify().broken is None


def test_gc_of_a_deleted_model_and_experiment_and_numbers_never_reused(project: Project) -> None:
    register(project)
    register(project, c=0.5)
    reg = project.registry
    with acting(DAVE):
        reg.delete_version("iris", 2)
    exp, run_id = tracked_run(project, "old")
    project.meta.lifecycle.delete_experiment(exp)
    done = project.gc()
    assert (done.versions, done.experiments) == (["iris@2"], [exp])
    assert count(project, sa.select(runs).where(runs.c.id == run_id)) == 0
    with pytest.raises(NotFound):
        reg.restore("iris", 2)
    assert register(project, c=0.2) == 3  # version 2's number (and its events) stay its own
    register(project, "tmp")
    with acting(DAVE):
        reg.delete_model("tmp")
    assert project.gc().models == ["tmp"]
    assert count(project, sa.select(mlflow_model_versions).where(mlflow_model_versions.c.name == "tmp")) == 0
    with pytest.raises(NotFound):
        reg.restore("tmp")
