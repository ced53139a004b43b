"""The one write path: every repository's writes reach the journal once, named (actor, action,
object), on the write's own connection and inside its transaction, so a journal that fails
takes the change down with it (what the audit log will rely on)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa

from loopline.core.errors import InvalidInput
from loopline.core.hashing import hash_text
from loopline.core.labeling import LabelProject
from loopline.core.types import Artifact, Run, StepRun
from loopline.store.metadata import MetadataStore
from loopline.store.metadata.database import Change
from loopline.store.metadata.monitor import MonitoringStore
from loopline.store.metadata.predictions import BatchRow, SqlPredictionIndex
from loopline.store.metadata.registry import SqlRegistryRepository
from loopline.store.metadata.tables import artifact_versions

T0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


@dataclass
class Recorder:
    """A journal that keeps each Change with what its connection saw at that moment."""

    changes: list[Change] = field(default_factory=list)
    in_transaction: list[bool] = field(default_factory=list)
    versions_seen: list[int] = field(default_factory=list)
    fail_on: str | None = None

    def __call__(self, conn: sa.Connection, change: Change) -> None:
        self.changes.append(change)
        self.in_transaction.append(conn.in_transaction())
        self.versions_seen.append(
            int(conn.execute(sa.select(sa.func.count()).select_from(artifact_versions)).scalar_one())
        )
        if self.fail_on == change.action:
            raise InvalidInput(f"journal refuses {change.action}")

    def one(self, write: Callable[[], Any]) -> Change:
        """Run `write` and return the single Change it reported."""
        before = len(self.changes)
        write()
        made = self.changes[before:]
        assert len(made) == 1, f"expected one change, got {made}"
        assert self.in_transaction[-1]
        return made[0]


@pytest.fixture
def journal() -> Recorder:
    return Recorder()


@pytest.fixture
def store(store_url: str, journal: Recorder) -> Iterator[MetadataStore]:
    opened = MetadataStore(store_url, actor="alice", journal=journal)
    yield opened
    opened.close()


def artifact(n: int, kind: str = "table") -> Artifact:
    return Artifact(id=hash_text(f"art {n}"), kind=kind, blob=hash_text(f"blob {n}"), size=10 + n)  # type: ignore[arg-type]


def test_dataset_and_pipeline_run_writes_are_journalled(store: MetadataStore, journal: Recorder):
    art = artifact(1)
    added = journal.one(lambda: store.add_version("iris", art, source="iris.csv"))
    assert added == Change("alice", "dataset.add_version", "iris@1", after={"artifact": art.id, "version": 1})
    assert journal.versions_seen[-1] == 1, "the journal sees the new version on the write's connection"

    run = Run("r1", "running", T0, None, "local", None)
    assert journal.one(lambda: store.create_run(run)) == Change("alice", "run.create", "r1")
    step = StepRun(None, "r1", "make", "ran", "fp", "code", {}, "m:f", {}, {"out": art.id})
    assert journal.one(lambda: store.record_step_run(step, [art])).action == "step.record"
    assert journal.one(lambda: store.finish_run("r1", "succeeded")) == Change("alice", "run.finish", "r1")
    reverted = journal.one(lambda: store.revert("iris", 1))
    assert reverted == Change(
        "alice", "dataset.revert", "iris@1", after={"artifact": art.id, "version": None}
    )
    assert journal.one(lambda: store.record_test_read(art.id, "r1", "make")).action == "test_set.read"


def test_tracking_writes_are_journalled(store: MetadataStore, journal: Recorder):
    tracking = store.tracking
    experiment = journal.one(lambda: tracking.create_experiment("exp"))
    assert experiment == Change("alice", "experiment.create", "exp")
    started: list[str] = []
    change = journal.one(
        lambda: started.append(tracking.create_run(tracking.get_experiment_by_name("exp").id).id)
    )
    assert change == Change("alice", "run.create", started[0])
    logged = journal.one(lambda: tracking.log_batch(started[0], [("loss", 0.5, 0, 1.0)], {"lr": "0.1"}))
    assert logged == Change("alice", "run.log", started[0])
    finished = journal.one(lambda: tracking.update_run(started[0], status="succeeded"))
    assert finished == Change("alice", "run.update", started[0])


def test_labeling_writes_are_journalled_with_the_annotator_as_actor(store: MetadataStore, journal: Recorder):
    repo = store.annotations
    project = LabelProject("p", "raw", 1, "a" * 64, "classification", ("cat", "dog"))
    created = journal.one(lambda: repo.create_project(project, [("item1", {"text": "a"})]))
    assert created == Change("alice", "labeling.create_project", "p")
    assert journal.one(lambda: store.users.add_user("bob", "annotator", "person", T0)) == Change(
        "alice", "user.add", "bob"
    )
    leases: list[Any] = []
    leased = journal.one(lambda: leases.append(repo.next_task("p", "bob", T0)))
    assert leased == Change("bob", "labeling.lease", "p")
    task_id = leases[0].task.id
    submitted = journal.one(lambda: repo.submit("p", task_id, "bob", "cat", 1.0, T0))
    assert submitted == Change("bob", "labeling.submit", f"p#{task_id}")
    assert journal.one(lambda: repo.set_priorities("p", {"item1": 2.0})).action == "labeling.set_priorities"


def test_registry_monitoring_and_prediction_writes_are_journalled(store: MetadataStore, journal: Recorder):
    model = artifact(2, kind="model")
    store.add_version("model", model, source="test")
    registry = SqlRegistryRepository(store)
    registered = journal.one(lambda: registry.register("iris", model.id, actor="carol"))
    assert registered == Change(
        "carol", "model.register", "iris@1", after={"artifact": model.id, "run": None, "gates_passed": None}
    ), "a write that names its actor keeps it"
    promoted = journal.one(
        lambda: registry.move_alias("iris", "production", 1, kind="promote", actor="carol", reason="good")
    )
    assert promoted == Change(
        "carol", "model.promote", "iris@1", before={"production": None}, after={"production": 1}
    )

    profile = artifact(3)
    monitoring = MonitoringStore(store.database)
    assert journal.one(lambda: monitoring.put_profile("iris", 1, profile, None)) == Change(
        "alice", "monitor.put_profile", "iris@1"
    )
    index = SqlPredictionIndex(store)
    batch = BatchRow("b1", "iris", 1, T0, T0, 3, hash_text("batch"))
    assert journal.one(lambda: index.add_batches([batch])) == Change(
        "alice", "predictions.add_batches", "iris"
    )
    assert journal.one(lambda: index.put_truths("iris", {"r1": "cat"}, T0)).action == "predictions.put_truths"


def test_a_journal_that_fails_rolls_the_write_back(store: MetadataStore, journal: Recorder):
    journal.fail_on = "dataset.add_version"
    with pytest.raises(InvalidInput, match="journal refuses"):
        store.add_version("iris", artifact(1), source="iris.csv")
    assert store.versions("iris") == [] and store.all_artifacts() == []

    journal.fail_on = "labeling.create_project"
    project = LabelProject("p", "raw", 1, "a" * 64, "classification", ("cat",))
    with pytest.raises(InvalidInput):
        store.annotations.create_project(project, [("item1", {"text": "a"})])
    assert store.annotations.list_projects() == []

    journal.fail_on = None
    store.add_version("iris", artifact(1), source="iris.csv")
    assert [a.version for a in store.versions("iris")] == [1]


def test_without_a_journal_writes_name_the_store_actor(store_url: str):
    store = MetadataStore(store_url, actor="dave")
    try:
        assert store.database.change("dataset.add_version", "iris@1") == Change(
            "dave", "dataset.add_version", "iris@1"
        )
        assert store.add_version("iris", artifact(1), source="iris.csv") == 1
    finally:
        store.close()
