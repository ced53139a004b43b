"""Checks of labeling: projects, the task queue and its leases (to active users), answers."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from loopline.core.errors import Conflict, InvalidInput, NotFound

# The labeling record: its one import here (it moves to core/ with the store refactor).
from loopline.core.labeling import LabelProject
from loopline.testing.expect import raises
from loopline.testing.samples import T0

if TYPE_CHECKING:
    from loopline.store.contracts import AnnotationRepository
    from loopline.testing.stores import MetadataStores

NOUN = "labeling"
_ITEMS = [(f"item-{n}", {"text": f"row {n}"}) for n in range(3)]


def _project(repo: AnnotationRepository, name: str = "sentiment", *, overlap: int = 1) -> None:
    project = LabelProject(
        name=name,
        dataset="reviews",
        dataset_version=1,
        artifact_id="0" * 64,
        task_type="classification",
        labels=("pos", "neg"),
        overlap=overlap,
    )
    repo.create_project(project, [*_ITEMS, _ITEMS[0]])  # a repeated item gets one task


def _annotators(s: MetadataStores, *names: str) -> None:
    for name in names:
        s.meta.users.add_user(name, "annotator", "person", T0)


def check_label_projects_round_trip(s: MetadataStores) -> None:
    """create_project makes one task per distinct item; a second project of that name is a Conflict."""
    repo = s.meta.annotations
    _project(repo)
    got = repo.get_project("sentiment")
    assert (got.dataset, got.labels, got.overlap, got.task_type) == (
        "reviews",
        ("pos", "neg"),
        1,
        "classification",
    )
    assert [p.name for p in repo.list_projects()] == ["sentiment"]
    assert sorted(t.item_id for t in repo.tasks("sentiment")) == [i for i, _ in _ITEMS]
    raises(Conflict, _project, repo)
    raises(NotFound, repo.get_project, "nope")
    raises(NotFound, repo.tasks, "nope")


def check_add_tasks_queues_only_new_items(s: MetadataStores) -> None:
    """add_tasks adds tasks for items without one and moves the project to that dataset version."""
    repo = s.meta.annotations
    _project(repo)
    added = repo.add_tasks(
        "sentiment", [*_ITEMS, ("item-9", {"text": "new"})], artifact_id="1" * 64, dataset_version=2
    )
    assert added == 1, f"{added} tasks added for one new item"
    assert repo.get_project("sentiment").dataset_version == 2
    assert len(repo.tasks("sentiment")) == 4


def check_only_an_active_user_takes_and_answers_tasks(s: MetadataStores) -> None:
    """next_task and a human answer need an active user: an unknown or disabled one is NotFound,
    and nothing is leased or stored for them."""
    repo = s.meta.annotations
    _project(repo)
    raises(NotFound, repo.next_task, "sentiment", "nobody", T0)
    _annotators(s, "ann")
    lease = repo.next_task("sentiment", "ann", T0)
    assert lease is not None, "an active annotator got no task"
    s.meta.users.set_active("ann", False)
    raises(NotFound, repo.next_task, "sentiment", "ann", T0)
    raises(NotFound, repo.submit, "sentiment", lease.task.id, "ann", "pos", 1.0, T0)
    assert repo.annotations("sentiment") == [], "a disabled user's answer was stored"


def check_a_lease_is_resumable_and_an_answer_is_stored_once(s: MetadataStores) -> None:
    """next_task gives an annotator its own live lease again; submit stores one answer, and a
    second answer of that annotator to the task is a Conflict."""
    repo = s.meta.annotations
    _project(repo)
    _annotators(s, "ann")
    lease = repo.next_task("sentiment", "ann", T0)
    assert lease is not None, "a fresh queue handed out no task"
    again = repo.next_task("sentiment", "ann", T0 + timedelta(seconds=5))
    assert again is not None and again.task.id == lease.task.id, "a live lease was not resumed"
    answer = repo.submit("sentiment", lease.task.id, "ann", "pos", 2.5, T0 + timedelta(seconds=10))
    assert (answer.label, answer.annotator, answer.item_id) == ("pos", "ann", lease.task.item_id)
    raises(Conflict, repo.submit, "sentiment", lease.task.id, "ann", "neg", 1.0, T0 + timedelta(seconds=11))
    assert [(a.task_id, a.label) for a in repo.annotations("sentiment")] == [(lease.task.id, "pos")]


def check_the_queue_never_exceeds_the_overlap(s: MetadataStores) -> None:
    """With overlap 1, every task is handed out once: three annotators drain three tasks, then None."""
    repo = s.meta.annotations
    _project(repo)
    _annotators(s, "a", "b", "c", "d")
    handed: list[Any] = []
    for name in ("a", "b", "c"):
        lease = repo.next_task("sentiment", name, T0)
        assert lease is not None, f"{name} got no task while tasks were left"
        handed.append(lease.task.id)
    assert len(set(handed)) == 3, f"one task was leased twice: {handed}"
    assert repo.next_task("sentiment", "d", T0) is None, "a task was handed out beyond its overlap"
    progress = repo.progress("sentiment")
    assert (progress["tasks"], progress["complete"], progress["annotations"]) == (3, 0, 0), progress


def check_submit_refuses_bad_labels_and_missing_leases(s: MetadataStores) -> None:
    """A label outside the set is InvalidInput; a human answer without a live lease is a Conflict;
    and neither stores anything."""
    repo = s.meta.annotations
    _project(repo)
    _annotators(s, "ann")
    lease = repo.next_task("sentiment", "ann", T0)
    assert lease is not None
    raises(InvalidInput, repo.submit, "sentiment", lease.task.id, "ann", "maybe", 1.0, T0)
    expired = T0 + timedelta(days=1)
    raises(Conflict, repo.submit, "sentiment", lease.task.id, "ann", "pos", 1.0, expired)
    other = next(t.id for t in repo.tasks("sentiment") if t.id != lease.task.id)
    raises(Conflict, repo.submit, "sentiment", other, "ann", "pos", 1.0, T0)
    assert repo.annotations("sentiment") == [], "a refused answer was stored"


def check_import_annotations_is_all_or_none_and_idempotent(s: MetadataStores) -> None:
    """import_annotations stores every row or none; importing the same rows again adds nothing."""
    repo = s.meta.annotations
    _project(repo)
    rows: list[Any] = [("item-0", "ext", "pos", 1.0, "human"), ("item-1", "ext", "neg", 1.0, "human")]
    raises(
        InvalidInput,
        repo.import_annotations,
        "sentiment",
        [*rows, ("item-2", "ext", "maybe", 1.0, "human")],
        T0,
    )
    assert repo.annotations("sentiment") == [], "a refused import stored some of its rows"
    assert repo.import_annotations("sentiment", rows, T0) == {"added": 2, "unchanged": 0}
    assert repo.import_annotations("sentiment", rows, T0) == {"added": 0, "unchanged": 2}
    raises(Conflict, repo.import_annotations, "sentiment", [("item-0", "ext", "neg", 1.0, "human")], T0)
    assert len(repo.annotations("sentiment")) == 2


CHECKS = (
    check_label_projects_round_trip,
    check_add_tasks_queues_only_new_items,
    check_only_an_active_user_takes_and_answers_tasks,
    check_a_lease_is_resumable_and_an_answer_is_stored_once,
    check_the_queue_never_exceeds_the_overlap,
    check_submit_refuses_bad_labels_and_missing_leases,
    check_import_annotations_is_all_or_none_and_idempotent,
)
