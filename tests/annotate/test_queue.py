"""The labeling queue's contract, on every engine (`store_url`): leases and their expiry (time is
injected), resumable work, skip, priorities, the overlap never exceeded, gold tasks mixed in,
limits, bad input; then many annotators at once, in threads and in processes."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import threading
from collections import Counter
from collections.abc import Iterator

import pytest

from loopline.core.errors import Conflict, InvalidInput, NotFound
from loopline.core.labeling import LabelProject
from loopline.store.metadata import MetadataStore
from loopline.store.metadata.annotations import SqlAnnotationRepository

T0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


def later(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def spec(name: str = "p", **options) -> LabelProject:
    base = {"overlap": 1, "lease_seconds": 60, "task_type": "classification", "labels": ("cat", "dog")}
    return LabelProject(name, "raw", 1, "a" * 64, **(base | options))


def items(n: int) -> list[tuple[str, dict]]:
    return [(f"item{i:04d}", {"text": f"text {i}"}) for i in range(n)]


@pytest.fixture
def store(store_url: str) -> Iterator[MetadataStore]:
    opened = MetadataStore(store_url)
    yield opened
    opened.close()


@pytest.fixture
def repo(store: MetadataStore) -> SqlAnnotationRepository:
    repo = store.annotations
    for name in ("ann", "bob", "cid", "dee"):
        store.users.add_user(name, "annotator", "person", T0)
    return repo


def drain(repo, project: str, who: str, now=T0, label: str = "cat") -> list[str]:
    answered = []
    while (lease := repo.next_task(project, who, now)) is not None:
        repo.submit(project, lease.task.id, who, label, 1.0, now)
        answered.append(lease.task.item_id)
    return answered


def test_create_and_read_back(repo):
    assert repo.create_project(spec(instructions="be kind"), [*items(3), ("item0000", {"text": "dup"})]) == 3
    project = repo.get_project("p")
    assert project.labels == ("cat", "dog") and project.instructions == "be kind"
    assert project.created_at is not None and project.created_at.tzinfo is not None
    assert [t.item_id for t in repo.tasks("p")] == ["item0000", "item0001", "item0002"]
    assert repo.tasks("p")[1].data == {"text": "text 1"}
    assert [p.name for p in repo.list_projects()] == ["p"]
    with pytest.raises(Conflict):
        repo.create_project(spec(), items(1))
    with pytest.raises(NotFound, match="no labeling project"):
        repo.get_project("nope")
    with pytest.raises(InvalidInput):
        repo.create_project(spec("q", overlap=0), items(1))
    with pytest.raises(InvalidInput):
        repo.create_project(spec("q", task_type="poem"), items(1))


def test_lease_is_resumable_and_held_until_it_expires(repo):
    repo.create_project(spec(), items(2))
    first = repo.next_task("p", "ann", T0)
    assert first is not None and first.expires_at == later(60)
    assert first.progress == {"done": 0, "total": 2}
    # asking again hands back the same task: the work resumes
    assert repo.next_task("p", "ann", later(30)).task.id == first.task.id
    # another annotator gets the other task; then nothing while both are leased (overlap 1)
    other = repo.next_task("p", "bob", later(1))
    assert other.task.id != first.task.id
    assert repo.next_task("p", "cid", later(2)) is None
    # ann's lease expires: cid gets that task, and ann's late submit is refused
    taken = repo.next_task("p", "cid", later(61))
    assert taken.task.id == first.task.id
    with pytest.raises(Conflict, match="expired"):
        repo.submit("p", first.task.id, "ann", "cat", 3.0, later(62))
    repo.submit("p", taken.task.id, "cid", "dog", 3.0, later(62))
    assert [(a.annotator, a.label) for a in repo.annotations("p")] == [("cid", "dog")]


def test_submit_rules(repo):
    repo.create_project(spec(overlap=2), items(1))
    lease = repo.next_task("p", "ann", T0)
    with pytest.raises(InvalidInput, match="not in the label set"):
        repo.submit("p", lease.task.id, "ann", "cow", 1.0, T0)
    with pytest.raises(NotFound):
        repo.submit("p", 999_999, "ann", "cat", 1.0, T0)
    with pytest.raises(NotFound):
        repo.submit("nope", lease.task.id, "ann", "cat", 1.0, T0)
    with pytest.raises(Conflict, match="no lease"):
        repo.submit("p", lease.task.id, "bob", "cat", 1.0, T0)
    saved = repo.submit("p", lease.task.id, "ann", "cat", 2.5, T0)
    assert (saved.label, saved.seconds, saved.item_id, saved.source) == ("cat", 2.5, "item0000", "human")
    with pytest.raises(Conflict, match="already answered"):
        repo.submit("p", lease.task.id, "ann", "dog", 1.0, T0)
    # a rule's answer needs no lease
    repo.submit("p", lease.task.id, "rule:keywords", "dog", 0.0, T0, source="rule")
    with pytest.raises(Conflict, match="all 2 answers"):
        repo.submit("p", lease.task.id, "model:v1", "dog", 0.0, T0, source="model")
    assert [a.annotator for a in repo.annotations("p")] == ["ann", "rule:keywords"]
    assert repo.tasks("p")[0].done == 2
    with pytest.raises(NotFound, match="annotator"):
        repo.next_task("p", "stranger", T0)


def test_skip_and_priorities(repo):
    repo.create_project(spec(), items(4))
    assert repo.set_priorities("p", {"item0002": 5.0, "item0003": 1.0}) == 2
    lease = repo.next_task("p", "ann", T0)
    assert lease.task.item_id == "item0002"
    repo.skip("p", lease.task.id, "ann", T0)
    # skipped: not handed to ann again, but free for others at once
    assert repo.next_task("p", "ann", T0).task.item_id == "item0003"
    assert repo.next_task("p", "bob", T0).task.item_id == "item0002"
    with pytest.raises(NotFound):
        repo.set_priorities("p", {"nope": 1.0})


def test_overlap_is_never_exceeded_and_each_annotator_answers_once(repo):
    repo.create_project(spec(overlap=3), items(5))
    for who in ("ann", "bob", "cid", "dee"):
        drain(repo, "p", who)
    per_task = Counter(a.task_id for a in repo.annotations("p"))
    assert set(per_task.values()) == {3}
    assert len({(a.task_id, a.annotator) for a in repo.annotations("p")}) == 15
    progress = repo.progress("p")
    assert progress["complete"] == progress["tasks"] == 5
    assert progress["annotations"] == 15 and sum(progress["per_annotator"].values()) == 15
    assert "dee" not in progress["per_annotator"]  # three others did all the work first


def test_gold_mixed_in_answered_once_and_not_shown(repo):
    repo.create_project(spec(gold_share=0.2), items(20))
    gold = {f"item{i:04d}": "dog" for i in range(15, 20)}
    assert repo.set_gold("p", gold) == 5
    with pytest.raises(InvalidInput):
        repo.set_gold("p", {"item0000": "cow"})
    first = repo.next_task("p", "ann", T0)
    assert first.task.item_id in gold and first.task.gold is None  # the answer is not handed out
    repo.submit("p", first.task.id, "ann", "dog", 1.0, T0)
    answered = [first.task.item_id, *drain(repo, "p", "ann")]
    gold_seen = [i for i in answered if i in gold]
    # every real task, and gold at about gold_share of the answers, each gold task at most once;
    # once the real tasks are done nobody is kept busy with gold alone
    assert len(set(answered)) == len(answered) == 19
    assert len(gold_seen) == 4 and 2 <= sum(i in gold for i in answered[:10]) <= 3
    assert repo.progress("p")["gold"] == 5 and repo.progress("p")["tasks"] == 15
    # gold tasks are open to every annotator, whatever the overlap (the real ones are done)
    assert set(drain(repo, "p", "bob")) <= set(gold)
    assert {t.item_id: t.gold for t in repo.tasks("p") if t.gold} == gold


def test_annotator_limit(repo):
    repo.create_project(spec(annotator_limit=3, overlap=2), items(10))
    assert len(drain(repo, "p", "ann")) == 3
    assert repo.next_task("p", "ann", T0) is None
    assert len(drain(repo, "p", "bob")) == 3


def test_import_answers(repo):
    repo.create_project(spec(overlap=1), items(3))
    rows = [("item0000", "w1", "cat", 1.0, "human"), ("item0000", "w2", "dog", 2.0, "human")]
    assert repo.import_annotations("p", rows, T0) == {"added": 2, "unchanged": 0}
    assert repo.import_annotations("p", rows[:1], T0) == {"added": 0, "unchanged": 1}
    with pytest.raises(Conflict, match="answered item0000 already"):
        repo.import_annotations("p", [("item0000", "w1", "dog", 1.0, "human")], T0)
    with pytest.raises(InvalidInput, match="row 2"):
        repo.import_annotations(
            "p", [("item0001", "w1", "cat", 1, "human"), ("item0001", "w3", "cow", 1, "human")], T0
        )
    with pytest.raises(NotFound, match="not tasks"):
        repo.import_annotations("p", [("zzz", "w1", "cat", 1.0, "human")], T0)
    assert len(repo.annotations("p")) == 2  # rejected files store nothing
    assert repo.tasks("p")[0].done == 2


# -- many annotators at once --------------------------------------------------------------------
def _annotate(url: str, project: str, who: str, out=None) -> list[tuple[int, str]]:
    store = MetadataStore(url)
    repo = store.annotations
    done = []
    try:
        while (lease := repo.next_task(project, who, T0)) is not None:
            repo.submit(project, lease.task.id, who, "cat", 0.1, T0)
            done.append((lease.task.id, who))
    finally:
        store.close()
    if out is not None:
        out.put(done)
    return done


def _check_concurrent(
    repo, project: str, results: list[list[tuple[int, str]]], tasks: int, overlap: int
) -> None:
    submitted = [pair for part in results for pair in part]
    stored = [(a.task_id, a.annotator) for a in repo.annotations(project)]
    assert sorted(submitted) == sorted(stored)  # no lost and no phantom submission
    per_task = Counter(task for task, _ in stored)
    assert max(per_task.values()) <= overlap
    assert len(per_task) == tasks and set(per_task.values()) == {overlap}  # and all work got done
    assert len(set(stored)) == len(stored)


def test_concurrent_annotators_threads(store_url, store):
    repo = store.annotations
    workers, tasks, overlap = 16, 120, 3
    for i in range(workers):
        store.users.add_user(f"w{i}", "annotator", "person", T0)
    repo.create_project(spec("load", overlap=overlap), items(tasks))
    results: list[list[tuple[int, str]]] = [[] for _ in range(workers)]
    barrier = threading.Barrier(workers)

    def work(i: int) -> None:
        barrier.wait()
        results[i] = _annotate(store_url, "load", f"w{i}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _check_concurrent(repo, "load", results, tasks, overlap)


def test_concurrent_annotators_processes(store_url, store):
    repo = store.annotations
    workers, tasks, overlap = 6, 60, 2
    for i in range(workers):
        store.users.add_user(f"p{i}", "annotator", "person", T0)
    repo.create_project(spec("procs", overlap=overlap), items(tasks))
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_annotate, args=(store_url, "procs", f"p{i}", queue)) for i in range(workers)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=240) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    _check_concurrent(repo, "procs", results, tasks, overlap)


def test_simultaneous_submits_of_one_task(store_url, store):
    """Two annotators holding leases on one task (overlap 2) submit at the same moment: both
    answers are stored, neither overwrites the other; the same annotator twice: one wins."""
    repo = store.annotations
    store.users.add_user("x", "annotator", "person", T0)
    store.users.add_user("y", "annotator", "person", T0)
    repo.create_project(spec("duo", overlap=2), items(1))
    leases = [repo.next_task("duo", who, T0) for who in ("x", "y")]
    assert leases[0].task.id == leases[1].task.id
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def send(who: str, label: str) -> None:
        other = MetadataStore(store_url)
        barrier.wait()
        try:
            other.annotations.submit("duo", leases[0].task.id, who, label, 1.0, T0)
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")
        finally:
            other.close()

    threads = [
        threading.Thread(target=send, args=a)
        for a in (("x", "cat"), ("y", "dog"), ("x", "dog"), ("y", "cat"))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "conflict", "ok", "ok"]
    stored = {a.annotator: a.label for a in repo.annotations("duo")}
    assert set(stored) == {"x", "y"} and repo.tasks("duo")[0].done == 2
