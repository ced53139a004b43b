"""Checks of datasets (artifacts and versions), pipeline runs, lineage and sealed test sets."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import TYPE_CHECKING

from loopline.core.errors import Conflict, LooplineError, NotFound
from loopline.core.hashing import hash_text
from loopline.core.types import Environment
from loopline.testing.expect import raises
from loopline.testing.samples import artifact, run, step_run

if TYPE_CHECKING:
    from loopline.testing.stores import MetadataStores

NOUN = "datasets"


def check_add_version_numbers_each_name_from_one(s: MetadataStores) -> None:
    """add_version numbers the versions of each name 1, 2, 3, independently of other names."""
    a, b = artifact("a"), artifact("b")
    assert s.meta.add_version("raw", a, source="data.csv") == 1
    assert s.meta.add_version("raw", b, source="data.csv") == 2
    assert s.meta.add_version("clean", a, source="step:clean") == 1, "versions count per name"
    assert s.meta.add_version("raw", a, source="data.csv") == 3, (
        "going back to older content is a new version"
    )
    assert [v.version for v in s.meta.versions("raw")] == [1, 2, 3]
    assert [v.id for v in s.meta.versions("raw")] == [a.id, b.id, a.id]


def check_add_version_of_the_latest_content_is_a_no_op(s: MetadataStores) -> None:
    """add_version returns None and writes nothing when the artifact is already the latest version."""
    a = artifact("a")
    assert s.meta.add_version("raw", a, source="data.csv") == 1
    got = s.meta.add_version("raw", a, source="other.csv")
    assert got is None, f"adding the latest content again returned {got!r}, not None"
    assert [v.version for v in s.meta.versions("raw")] == [1]
    assert s.meta.get_version("raw").source == "data.csv", "the no-op overwrote the version's source"


def check_an_artifact_is_stored_once(s: MetadataStores) -> None:
    """An artifact that is a version of two names is one artifact."""
    a = artifact("a")
    s.meta.add_version("raw", a, source="x")
    s.meta.add_version("copy", a, source="y")
    assert [x.id for x in s.meta.all_artifacts()] == [a.id]


def check_get_version_round_trips_every_field(s: MetadataStores) -> None:
    """get_version returns what add_version was given, with name, version, source and a UTC time."""
    a = artifact("a")
    original = hash_text("original bytes")
    s.meta.add_version("raw", a, source="data.csv", original_blob=original, original_name="data.csv")
    s.meta.add_version("raw", artifact("j", kind="json", rows=None), source="step:x")
    got = s.meta.get_version("raw", 1)
    assert (got.id, got.kind, got.blob, got.size, got.rows, got.schema) == (
        a.id,
        a.kind,
        a.blob,
        a.size,
        a.rows,
        a.schema,
    ), f"stored {a}, read back {got}"
    assert (got.name, got.version, got.source) == ("raw", 1, "data.csv")
    assert (got.original_blob, got.original_name) == (original, "data.csv")
    assert got.created_at is not None and got.created_at.utcoffset() == timedelta(0), got.created_at
    latest = s.meta.get_version("raw")
    assert (latest.version, latest.kind, latest.rows, latest.schema) == (2, "json", None, None)
    assert s.meta.latest_version("raw") == latest


def check_unknown_names_and_versions_are_not_found(s: MetadataStores) -> None:
    """get_version raises NotFound for an unknown name or version; latest_version and versions do not."""
    raises(NotFound, s.meta.get_version, "nope")
    raises(NotFound, s.meta.get_version, "nope", 1)
    assert s.meta.latest_version("nope") is None
    assert s.meta.versions("nope") == []
    s.meta.add_version("raw", artifact("a"), source="x")
    raises(NotFound, s.meta.get_version, "raw", 7)


def check_datasets_lists_the_latest_version_of_each_name(s: MetadataStores) -> None:
    """datasets() gives each name once, at its latest version, with its number of versions."""
    assert s.meta.datasets() == []
    for seed in ("r1", "r2", "r3"):
        s.meta.add_version("raw", artifact(seed), source="x")
    s.meta.add_version("clean", artifact("c1"), source="step:clean")
    listed = sorted((a.name or "", a.version, a.id, n) for a, n in s.meta.datasets())
    assert listed == [("clean", 1, artifact("c1").id, 1), ("raw", 3, artifact("r3").id, 3)], listed


def check_get_artifact_by_id_prefix(s: MetadataStores) -> None:
    """get_artifact takes an id or unique prefix: NotFound for none, Conflict when ambiguous."""
    a, b = artifact("a"), artifact("b")
    s.meta.add_version("raw", a, source="x")
    s.meta.add_version("raw", b, source="x")
    assert s.meta.get_artifact(a.id[:10]).id == a.id
    assert s.meta.get_artifact(b.id).version == 2
    raises(NotFound, s.meta.get_artifact, hash_text("never stored"))
    raises(Conflict, s.meta.get_artifact, "")
    assert set(s.meta.get_artifacts([a.id, b.id, hash_text("missing")])) == {a.id, b.id}


def check_revert_makes_old_content_the_next_version(s: MetadataStores) -> None:
    """revert(name, v) adds v's artifact as the next version; None when it is the latest already."""
    a, b = artifact("a"), artifact("b")
    s.meta.add_version("raw", a, source="x")
    s.meta.add_version("raw", b, source="x")
    made, before, _ = s.meta.revert("raw", 1)
    assert (made, before) == (3, 2), (made, before)
    assert s.meta.get_version("raw").id == a.id
    assert s.meta.revert("raw", 3)[0] is None, "reverting to the latest content must add nothing"
    raises(NotFound, s.meta.revert, "raw", 9)


def check_concurrent_writers_lose_no_version(s: MetadataStores) -> None:
    """Eight threads adding versions of one name at once get eight distinct numbers, none lost."""
    arts = [artifact(f"concurrent {n}") for n in range(8)]
    got: list[int | None] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(arts))

    def add(n: int) -> None:
        try:
            start.wait()
            got.append(s.meta.add_version("raw", arts[n], source=f"writer {n}"))
        except BaseException as exc:  # reported below: a thread's exception would vanish
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(n,)) for n in range(len(arts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, f"concurrent add_version raised {errors[0]!r}"
    assert sorted(v or 0 for v in got) == list(range(1, 9)), (
        f"version numbers handed out: {sorted(got, key=str)}"
    )
    assert {v.id for v in s.meta.versions("raw")} == {a.id for a in arts}


def check_blob_references_cover_artifacts_and_original_files(s: MetadataStores) -> None:
    """blob_references names every blob the metadata points at, the bytes as added included."""
    a = artifact("a")
    original = hash_text("original")
    s.meta.add_version("raw", a, source="data.csv", original_blob=original, original_name="data.csv")
    assert sorted(blob for _, blob in s.meta.blob_references()) == sorted([a.blob, original])
    assert s.meta.dangling_references() == []


# -- runs and lineage ------------------------------------------------------------------------------
def check_run_round_trip_and_finish(s: MetadataStores) -> None:
    """create_run, get_run and finish_run keep every field; finishing stamps an aware end time."""
    env = Environment(
        id="env1", python="3.11", platform="linux", loopline="0.1", packages_hash="h", packages={}
    )
    s.meta.put_environment(env)
    s.meta.put_environment(env)  # keyed by content: a second put is a no-op
    assert s.meta.get_environment("env1") == env
    raises(NotFound, s.meta.get_environment, "nope")
    original = run("20240501-120000-aaaa", git_commit="c0ffee", git_dirty=True, environment_id="env1")
    s.meta.create_run(original)
    got = s.meta.get_run(original.id)
    assert (got.status, got.started_at, got.environment_id, got.git_commit, got.git_dirty, got.steps) == (
        "running",
        original.started_at,
        "env1",
        "c0ffee",
        True,
        [],
    ), got
    s.meta.finish_run(original.id, "succeeded")
    done = s.meta.get_run(original.id)
    assert done.status == "succeeded" and done.finished_at is not None and done.finished_at.tzinfo is not None


def check_runs_are_found_by_unique_prefix(s: MetadataStores) -> None:
    """get_run takes a unique id prefix: NotFound for none, Conflict when ambiguous."""
    for run_id in ("20240501-aaaa", "20240501-bbbb", "20240502-cccc"):
        s.meta.create_run(run(run_id))
    assert s.meta.get_run("20240502").id == "20240502-cccc"
    raises(Conflict, s.meta.get_run, "20240501")
    raises(NotFound, s.meta.get_run, "2023")


def check_list_runs_is_newest_first(s: MetadataStores) -> None:
    """list_runs lists newest first up to `limit`; count_runs counts them all."""
    assert s.meta.list_runs() == [] and s.meta.count_runs() == 0
    for n in range(4):
        s.meta.create_run(run(f"run-{n}", hours=n))
    assert [r.id for r in s.meta.list_runs()] == ["run-3", "run-2", "run-1", "run-0"]
    assert [r.id for r in s.meta.list_runs(limit=2)] == ["run-3", "run-2"]
    assert s.meta.count_runs() == 4


def check_step_run_records_versions_and_lineage(s: MetadataStores) -> None:
    """record_step_run stores the step, its outputs as next versions and both lineage directions."""
    raw, clean = artifact("raw"), artifact("clean")
    s.meta.add_version("raw", raw, source="data.csv")
    s.meta.create_run(run("r1"))
    sid = s.meta.record_step_run(
        step_run("r1", "clean", inputs={"raw": raw.id}, outputs={"clean": clean.id}), [clean]
    )
    steps = s.meta.get_run("r1").steps
    assert [(x.id, x.inputs, x.outputs, x.params) for x in steps] == [
        (sid, {"raw": raw.id}, {"clean": clean.id}, {"n": 10, "nested": {"x": [1, 2]}})
    ], steps
    version = s.meta.get_version("clean")
    assert (version.version, version.id, version.source) == (1, clean.id, "step:clean")
    assert [x.id for x in s.meta.producers(clean.id)] == [sid] and s.meta.producers(raw.id) == []
    assert [x.id for x in s.meta.consumers(raw.id)] == [sid] and s.meta.consumers(clean.id) == []


def check_cache_hits_are_not_producers_nor_versions(s: MetadataStores) -> None:
    """find_cached gives the outputs of the latest *ran* step with a fingerprint; a cached step run
    makes no version and is not a producer."""
    out = artifact("out")
    s.meta.create_run(run("r1"))
    assert s.meta.find_cached("fp") is None
    sid = s.meta.record_step_run(step_run("r1", "make", outputs={"out": out.id}, fingerprint="fp"), [out])
    s.meta.record_step_run(
        step_run("r1", "make", status="cached", outputs={"out": out.id}, fingerprint="fp"), []
    )
    assert s.meta.find_cached("fp") == {"out": out.id}
    assert [x.id for x in s.meta.producers(out.id)] == [sid]
    assert [v.version for v in s.meta.versions("out")] == [1]
    assert s.meta.latest_step_runs()["make"].status == "cached"


def check_a_failed_step_run_write_leaves_nothing(s: MetadataStores) -> None:
    """record_step_run is all or nothing: refused (an output the store has not got), it stores
    neither the artifacts it brought nor the step run nor a version."""
    s.meta.create_run(run("r1"))
    brought, missing = artifact("brought"), artifact("never stored")
    step = step_run("r1", "make", outputs={"brought": brought.id, "ghost": missing.id})
    try:
        s.meta.record_step_run(step, [brought], source_state=("make", {"cursor": 1}))
    except LooplineError:
        assert s.meta.get_artifacts([brought.id]) == {}, "a refused step run left its artifact behind"
        assert s.meta.get_run("r1").steps == [], "a refused step run was recorded"
        assert s.meta.versions("brought") == [] and s.meta.source_state("make") == {}
        return
    # a store may accept an output it has not got: then all of it is stored, and fsck finds the hole
    assert s.meta.versions("brought") and s.meta.source_state("make") == {"cursor": 1}
    assert s.meta.dangling_references(), "an output pointing at no artifact must be a dangling reference"


def check_source_state_is_saved_with_its_step_run(s: MetadataStores) -> None:
    """A collection's source state is {} before the first, then the last one saved."""
    assert s.meta.source_state("files") == {}
    s.meta.create_run(run("r1"))
    for cursor in (1, 2):
        out = artifact(f"collected {cursor}")
        s.meta.record_step_run(
            step_run("r1", "files", outputs={"files": out.id}),
            [out],
            source_state=("files", {"cursor": cursor}),
        )
    assert s.meta.source_state("files") == {"cursor": 2}


def check_mark_interrupted_only_touches_dead_runs_of_the_host(s: MetadataStores) -> None:
    """mark_interrupted turns running runs of this host whose process is gone into interrupted."""
    s.meta.create_run(run("dead", host="h1", pid=1))
    s.meta.create_run(run("alive", host="h1", pid=2))
    s.meta.create_run(run("elsewhere", host="h2", pid=1))
    assert s.meta.mark_interrupted("h1", lambda pid: pid == 2) == 1
    statuses = {r.id: r.status for r in s.meta.list_runs()}
    assert statuses == {"dead": "interrupted", "alive": "running", "elsewhere": "running"}, statuses


def check_metrics_round_trip_in_logging_order(s: MetadataStores) -> None:
    """log_metrics values come back from metrics() in the order they were logged."""
    s.meta.create_run(run("r1"))
    s.meta.log_metrics("r1", "train", [("loss", 0.5, 0, 1.0), ("loss", 0.25, 1, 2.0), ("acc", 0.9, 1, 2.0)])
    got = [(m["step_name"], m["key"], m["value"], m["step"]) for m in s.meta.metrics("r1")]
    assert got == [("train", "loss", 0.5, 0), ("train", "loss", 0.25, 1), ("train", "acc", 0.9, 1)], got


def check_sealed_outputs_and_their_reads(s: MetadataStores) -> None:
    """An output declared sealed is sealed; every read of it is counted and logged in order."""
    test, train = artifact("test"), artifact("train")
    s.meta.create_run(run("r1"))
    sealed = {"sealed": {"test": "test"}}
    s.meta.record_step_run(
        step_run("r1", "split", outputs={"test": test.id, "train": train.id}, bindings=sealed), [test, train]
    )
    assert s.meta.sealed_artifacts([test.id, train.id]) == {test.id}
    assert s.meta.sealed_artifacts([]) == set()
    assert s.meta.test_reads(test.id) == 0
    s.meta.record_test_read(test.id, "r1", "evaluate")
    s.meta.record_test_read(test.id, "r1", "report")
    assert s.meta.test_reads(test.id) == 2
    assert [(r["run_id"], r["step"]) for r in s.meta.test_read_log(test.id)] == [
        ("r1", "evaluate"),
        ("r1", "report"),
    ]


CHECKS = (
    check_add_version_numbers_each_name_from_one,
    check_add_version_of_the_latest_content_is_a_no_op,
    check_an_artifact_is_stored_once,
    check_get_version_round_trips_every_field,
    check_unknown_names_and_versions_are_not_found,
    check_datasets_lists_the_latest_version_of_each_name,
    check_get_artifact_by_id_prefix,
    check_revert_makes_old_content_the_next_version,
    check_concurrent_writers_lose_no_version,
    check_blob_references_cover_artifacts_and_original_files,
    check_run_round_trip_and_finish,
    check_runs_are_found_by_unique_prefix,
    check_list_runs_is_newest_first,
    check_step_run_records_versions_and_lineage,
    check_cache_hits_are_not_producers_nor_versions,
    check_a_failed_step_run_write_leaves_nothing,
    check_source_state_is_saved_with_its_step_run,
    check_mark_interrupted_only_touches_dead_runs_of_the_host,
    check_metrics_round_trip_in_logging_order,
    check_sealed_outputs_and_their_reads,
)
