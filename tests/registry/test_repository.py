"""The registry's contract on SQLite and PostgreSQL: versions, aliases, policy, rollback, history,
refusals that record nothing, tampered blobs, concurrent registration."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from loopline.cli.commands import exit_code
from loopline.core.errors import CheckFailed, Conflict, Integrity, InvalidInput, NotFound
from loopline.core.types import Artifact
from loopline.registry import Policy, Registry
from loopline.store.artifacts import save_json
from loopline.store.blobs import LocalBlobStore
from loopline.store.metadata import MetadataStore
from loopline.store.metadata.tables import artifacts
from loopline.store.models import save_model

X, Y = load_iris(return_X_y=True)
FAILED = {"gates": [{"name": "accuracy>=0.99", "passed": False, "value": 0.93}]}


@pytest.fixture
def meta(store_url: str) -> Iterator[MetadataStore]:
    store = MetadataStore(store_url)
    yield store
    store.close()


@pytest.fixture
def blobs(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(str(tmp_path / "blobs"))


def make_registry(meta, blobs, actor="alice", **policy) -> Registry:
    return Registry(meta, blobs, Policy.from_config(policy), actor)


def model(meta, blobs, c: float = 1.0) -> Artifact:
    art = save_model(blobs, LogisticRegression(C=c, max_iter=500).fit(X, Y))
    meta.add_version("model", art, source="test")
    return art


def test_versions_are_numbered_and_listed(meta, blobs):
    reg = make_registry(meta, blobs)
    first = reg.register("iris", model(meta, blobs, 1.0), metrics={"f1": 0.9}, description="one")
    signature = {"inputs": {"a": "Float64"}, "output": "Int64"}
    second = reg.register("iris", model(meta, blobs, 0.5), signature=signature)
    reg.register("other", model(meta, blobs, 0.1))
    assert (first.version, second.version) == (1, 2)
    assert first.metrics == {"f1": 0.9} and first.status == "ready" and first.description == "one"
    assert first.signature == {"inputs": {f"x{i}": "unknown" for i in range(4)}, "output": "int64"}
    assert second.signature == {"inputs": {"a": "Float64"}, "output": "Int64"}
    listed = {m.name: m for m in reg.models()}
    assert sorted(listed) == ["iris", "other"]
    assert listed["iris"].versions == 2 and listed["iris"].latest.version == 2
    assert reg.resolve("iris").version == 2 and reg.resolve("iris", "1").version == 1
    assert [e.kind for e in reg.history("iris")] == ["register", "register"]
    assert reg.history("iris")[0].actor == "alice"


def test_unknown_things_are_not_found(meta, blobs):
    reg = make_registry(meta, blobs)
    reg.register("iris", model(meta, blobs))
    for call in (
        lambda: reg.resolve("nope"),
        lambda: reg.resolve("iris", 7),
        lambda: reg.resolve("iris", "production"),
        lambda: reg.promote("iris", 9, "staging"),
        lambda: reg.promote("nope", 1, "staging"),
        lambda: reg.history("nope"),
        lambda: reg.register("iris", model(meta, blobs), run_id="no-such-run"),
    ):
        with pytest.raises(NotFound) as info:
            call()
        assert exit_code(info.value) == 2
    with pytest.raises(NotFound, match="versions are 1 to 1"):
        reg.resolve("iris", 7)


def test_bad_input_is_refused(meta, blobs):
    reg = make_registry(meta, blobs)
    report = save_json(blobs, {"a": 1})
    meta.add_version("report", report, source="test")
    with pytest.raises(InvalidInput, match="not a model"):
        reg.register("iris", report)
    art = model(meta, blobs)
    with pytest.raises(InvalidInput, match="metric"):
        reg.register("iris", art, metrics={"f1": "high"})
    with pytest.raises(InvalidInput, match="signature"):
        reg.register("iris", art, signature={"inputs": ["a"]})
    reg.register("iris", art)
    for alias in ("latest", "v2", "1st", "has space"):
        with pytest.raises(InvalidInput, match="alias"):
            reg.promote("iris", 1, alias)
    assert [e.kind for e in reg.history("iris")] == ["register"]


def test_failed_gates_block_promotion_and_record_nothing(meta, blobs):
    reg = make_registry(meta, blobs)
    reg.register("iris", model(meta, blobs), gates_passed=False, gate_report=FAILED)
    with pytest.raises(CheckFailed, match=r"failed its gates(.|\n)*FAILED accuracy>=0.99") as info:
        reg.promote("iris", 1, "staging")
    assert exit_code(info.value) == 1
    assert reg.models()[0].aliases == {}
    assert [e.kind for e in reg.history("iris")] == ["register"]
    lenient = make_registry(meta, blobs, require_gates=False)
    assert lenient.promote("iris", 1, "staging")["version"] == 1


def test_approval_and_gate_results_per_alias(meta, blobs):
    reg = make_registry(meta, blobs, require_approval=["production"], require_gate_results=["production"])
    reg.register("iris", model(meta, blobs))
    reg.register("iris", model(meta, blobs, 0.5), gates_passed=True, gate_report={"gates": []})
    assert reg.promote("iris", 1, "staging")["version"] == 1  # no policy on staging
    with pytest.raises(CheckFailed, match="never gated"):
        reg.promote("iris", 1, "production")
    with pytest.raises(CheckFailed, match="needs an approval"):
        reg.promote("iris", 2, "production")
    bob = make_registry(meta, blobs, actor="bob")
    bob.approve("iris", 2, "staging", reason="wrong alias")
    with pytest.raises(CheckFailed, match="needs an approval"):
        reg.promote("iris", 2, "production")
    bob.approve("iris", 2, "production", reason="reviewed")
    moved = reg.promote("iris", 2, "production", reason="ship it")
    assert moved == {
        "name": "iris",
        "alias": "production",
        "version": 2,
        "from_version": None,
        "actor": "alice",
        "auth": "local",
    }
    assert reg.resolve("iris", "production").version == 2
    events = [(e.kind, e.alias, e.version, e.actor, e.reason) for e in reg.history("iris")]
    assert events[-3:] == [
        ("approve", "staging", 2, "bob", "wrong alias"),
        ("approve", "production", 2, "bob", "reviewed"),
        ("promote", "production", 2, "alice", "ship it"),
    ]


def test_rollback_walks_back_through_promotions(meta, blobs):
    reg = make_registry(meta, blobs)
    for c in (1.0, 0.5, 0.25):
        reg.register("iris", model(meta, blobs, c))
    with pytest.raises(Conflict, match="no promotion"):
        reg.rollback("iris")
    for version in (1, 2, 3):
        reg.promote("iris", version, "production")
    assert reg.rollback("iris", reason="bad latency")["version"] == 2
    assert reg.resolve("iris", "production").version == 2
    assert reg.rollback("iris")["version"] == 1
    with pytest.raises(Conflict, match="nothing to roll back to"):
        reg.rollback("iris")
    assert reg.resolve("iris", "production").version == 1
    moves = [(e.kind, e.from_version, e.version) for e in reg.history("iris") if e.alias == "production"]
    assert moves == [
        ("promote", None, 1),
        ("promote", 1, 2),
        ("promote", 2, 3),
        ("rollback", 3, 2),
        ("rollback", 2, 1),
    ]
    reg.delete_alias("iris", "production")
    with pytest.raises(NotFound, match="no alias"):
        reg.resolve("iris", "production")


def test_load_checks_the_recorded_artifact(meta, blobs):
    reg = make_registry(meta, blobs)
    art = model(meta, blobs)
    other = model(meta, blobs, 0.01)
    reg.register("iris", art)
    reg.promote("iris", 1, "production")
    loaded = reg.load("iris", "production")
    np.testing.assert_array_equal(loaded.predict(X), LogisticRegression(max_iter=500).fit(X, Y).predict(X))
    engine = sa.create_engine(meta.url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:  # someone points the registered artifact at another model's file
        conn.execute(artifacts.update().where(artifacts.c.id == art.id).values(blob=other.blob))
    engine.dispose()
    with pytest.raises(Integrity, match="not the recorded"):
        reg.load("iris", "production")


def test_concurrent_registrations_get_consecutive_versions(meta, blobs):
    arts = [model(meta, blobs, 1.0 / (i + 1)) for i in range(4)]
    threads, per_thread, got, errors = 8, 5, [], []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def work(i: int) -> None:
        reg = make_registry(meta, blobs, actor=f"worker{i}")
        barrier.wait()
        try:
            for j in range(per_thread):
                version = reg.repo.register("race", arts[(i + j) % 4].id, actor=f"worker{i}")
                with lock:
                    got.append(version.version)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert not errors
    assert sorted(got) == list(range(1, threads * per_thread + 1))
    reg = make_registry(meta, blobs)
    assert [v.version for v in reg.repo.versions("race")] == list(range(1, threads * per_thread + 1))
    assert len(reg.history("race")) == threads * per_thread
