"""Contract suite for the metadata store, run on every engine through the `store_url` fixture
(SQLite always; PostgreSQL when LOOPLINE_TEST_DATABASE_URL is set, each test in its own schema)."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from loopline.cli.commands import exit_code
from loopline.core.errors import Conflict, NotFound, StorageError
from loopline.core.hashing import hash_text
from loopline.core.types import Artifact, Environment, Run, StepRun, StepStatus
from loopline.store.metadata import MetadataStore
from loopline.store.metadata import engine as engines
from loopline.store.metadata import mlflow as _mlflow_tables  # noqa: F401  (registers its tables)
from loopline.store.metadata import monitor as _monitoring_tables  # noqa: F401  (registers its tables)
from loopline.store.metadata import predictions as _prediction_tables  # noqa: F401  (registers its tables)
from loopline.store.metadata.tables import metadata as schema_metadata
from loopline.testing.samples import step_run

UTC = dt.UTC
TABLES = {
    "artifacts",
    "audit_events",
    "audit_head",
    "artifact_versions",
    "environments",
    "runs",
    "step_runs",
    "step_run_artifacts",
    "metrics",
    "source_state",
    "label_projects",
    "label_tasks",
    "label_leases",
    "annotations",
    "label_skips",
    "experiments",
    "run_params",
    "run_tags",
    "metrics_latest",
    "registered_models",
    "model_versions",
    "model_aliases",
    "model_events",
    "test_reads",
    "monitor_profiles",
    "monitor_reports",
    "monitor_alerts",
    "prediction_batches",
    "prediction_truths",
    "mlflow_logged_models",
    "mlflow_artifacts",
    "mlflow_model_versions",
    "mlflow_model_metrics",
    "mlflow_run_outputs",
    "users",
    "tokens",
    "sessions",
    "grants",
}


def art(seed: str, *, kind: str = "table", size: int = 100, rows: int | None = 3) -> Artifact:
    return Artifact(
        id=hash_text(f"artifact {seed}"),
        kind=kind,  # type: ignore[arg-type]
        blob=hash_text(f"blob {seed}"),
        size=size,
        rows=rows,
        schema={"a": "Int64", "b": "String"} if kind == "table" else None,
    )


def run(run_id: str, *, started: dt.datetime | None = None, **extra) -> Run:
    return Run(
        id=run_id,
        status="running",
        started_at=started or dt.datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        finished_at=None,
        executor="local",
        environment_id=None,
        **extra,
    )


def step(
    run_id: str, name: str, *, status: StepStatus = "ran", inputs=None, outputs=None, fp: str = ""
) -> StepRun:
    return step_run(run_id, name, status=status, inputs=inputs, outputs=outputs, fingerprint=fp)


@pytest.fixture
def store(store_url: str) -> Iterator[MetadataStore]:
    opened = MetadataStore(store_url)
    yield opened
    opened.close()


# -- schema and migrations ------------------------------------------------------------------------
def test_open_creates_the_schema_with_alembic_at_head(store_url: str):
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(engines._MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head == engines.HEAD_REVISION

    engine = engines.create_engine(store_url)
    assert engines.current_revision(engine) is None
    store = MetadataStore(store_url)
    try:
        assert engines.current_revision(engine) == head
        with engine.connect() as conn:
            assert TABLES | {"alembic_version"} == set(sa.inspect(conn).get_table_names())
            assert conn.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar() == 1
    finally:
        store.close()
        engine.dispose()


def test_reopening_does_not_migrate_again_and_keeps_data(store_url: str, monkeypatch):
    first = MetadataStore(store_url)
    first.add_version("raw", art("a"), source="data.csv")
    first.close()

    def refuse(_engine):
        raise AssertionError("a store at head must not be migrated again")

    monkeypatch.setattr(engines, "upgrade", refuse)
    again = MetadataStore(store_url, create=False)
    try:
        assert again.get_version("raw").id == art("a").id
    finally:
        again.close()


def test_a_store_at_a_revision_this_loopline_does_not_know_is_a_clear_error(store_url: str):
    first = MetadataStore(store_url)
    first.add_version("raw", art("a"), source="data.csv")
    first.close()
    engine = engines.create_engine(store_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0099'")
    engine.dispose()
    with pytest.raises(StorageError, match="revision '0099', which this loopline does not know") as info:
        MetadataStore(store_url)
    assert "upgrade loopline" in (info.value.hint or "")


def test_create_false_on_an_empty_database_is_not_found(store_url: str):
    with pytest.raises(NotFound, match="no loopline metadata database") as info:
        MetadataStore(store_url, create=False)
    assert "loopline init" in (info.value.hint or "")


def test_migration_schema_matches_tables_py(store: MetadataStore):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with store.database.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        diff = compare_metadata(context, schema_metadata)
    assert diff == []
    assert set(schema_metadata.tables) == TABLES


def test_migration_downgrades_and_upgrades_cleanly(store: MetadataStore):
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(engines._MIGRATIONS))
    with store.database.engine.connect().execution_options(loopline_write=True) as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
        conn.commit()
        assert sa.inspect(conn).get_table_names() == ["alembic_version"]
    engines.upgrade(store.database.engine)
    assert engines.current_revision(store.database.engine) == engines.HEAD_REVISION
    assert store.add_version("raw", art("a"), source="x") == 1


def test_unsupported_url_is_a_storage_error():
    with pytest.raises(StorageError, match="unsupported metadata store URL"):
        MetadataStore("mysql://nobody@localhost/db")


# -- artifacts and versions -----------------------------------------------------------------------
def test_add_version_numbers_versions_and_skips_a_repeat_of_the_latest(store: MetadataStore):
    a, b = art("a"), art("b")
    assert store.add_version("raw", a, source="data.csv") == 1
    assert store.add_version("raw", a, source="data.csv") is None
    assert store.add_version("raw", b, source="data.csv") == 2
    assert store.add_version("raw", b, source="other.csv") is None
    assert store.add_version("raw", a, source="data.csv") == 3  # going back is a new version
    assert store.add_version("clean", a, source="step:clean") == 1  # versions count per name
    assert [v.version for v in store.versions("raw")] == [1, 2, 3]
    assert [v.id for v in store.versions("raw")] == [a.id, b.id, a.id]
    assert len(store.all_artifacts()) == 2  # an artifact is stored once


def test_get_version_latest_and_by_number(store: MetadataStore):
    a = art("a", size=5_000_000_000, rows=3_000_000_000)  # BIGINT columns
    b = art("b", kind="json", rows=None)
    store.add_version("raw", a, source="data.csv", original_blob=hash_text("orig"), original_name="data.csv")
    store.add_version("raw", b, source="step:x")

    first = store.get_version("raw", 1)
    assert (first.id, first.kind, first.blob, first.size, first.rows) == (
        a.id,
        "table",
        a.blob,
        a.size,
        a.rows,
    )
    assert first.schema == {"a": "Int64", "b": "String"}
    assert (first.name, first.version, first.source) == ("raw", 1, "data.csv")
    assert (first.original_blob, first.original_name) == (hash_text("orig"), "data.csv")
    assert first.created_at is not None and first.created_at.utcoffset() == dt.timedelta(0)
    assert abs(first.created_at - dt.datetime.now(UTC)) < dt.timedelta(minutes=5)

    latest = store.get_version("raw")
    assert (latest.id, latest.version, latest.kind, latest.schema, latest.rows) == (
        b.id,
        2,
        "json",
        None,
        None,
    )
    assert store.latest_version("raw") == latest
    assert latest.created_at >= first.created_at


def test_unknown_name_and_version_are_not_found_with_helpful_messages(store: MetadataStore):
    with pytest.raises(NotFound, match="no artifact named 'nope'") as info:
        store.get_version("nope")
    assert "loopline datasets" in (info.value.hint or "")
    with pytest.raises(NotFound, match="no artifact named 'nope'"):
        store.get_version("nope", 1)
    assert store.latest_version("nope") is None
    assert store.versions("nope") == []

    store.add_version("raw", art("a"), source="x")
    store.add_version("raw", art("b"), source="x")
    with pytest.raises(NotFound, match="raw has no version 7") as info:
        store.get_version("raw", 7)
    assert info.value.hint == "versions are 1 to 2"
    assert exit_code(info.value) == 2


def test_datasets_lists_the_latest_version_of_each_name(store: MetadataStore):
    assert store.datasets() == []
    store.add_version("raw", art("r1"), source="x")
    store.add_version("raw", art("r2"), source="x")
    store.add_version("raw", art("r3"), source="x")
    store.add_version("clean", art("c1"), source="step:clean")
    store.add_version("Zeta", art("r1"), source="x")
    listed = [(a.name, a.version, a.id, n) for a, n in store.datasets()]
    expected = [
        ("clean", 1, art("c1").id, 1),
        ("raw", 3, art("r3").id, 3),
        ("Zeta", 1, art("r1").id, 1),
    ]
    assert sorted(listed, key=lambda row: row[0]) == sorted(expected, key=lambda row: row[0])
    assert {row[0] for row in listed} == {"clean", "raw", "Zeta"}


def test_get_artifact_by_id_prefix(store: MetadataStore):
    a, b = art("a"), art("b")
    store.add_version("raw", a, source="x")
    store.add_version("other", a, source="y")
    store.add_version("raw", b, source="x")
    found = store.get_artifact(a.id[:10])
    assert found.id == a.id and found.name in {"raw", "other"} and found.version == 1
    assert store.get_artifact(b.id).version == 2
    with pytest.raises(NotFound, match="no artifact with id"):
        store.get_artifact("f" * 64 if not a.id.startswith("f") and not b.id.startswith("f") else "0" * 64)
    with pytest.raises(Conflict, match="ambiguous"):
        store.get_artifact("")
    assert set(store.get_artifacts([a.id, b.id, "missing"])) == {a.id, b.id}
    assert {x.id for x in store.all_artifacts()} == {a.id, b.id}


def test_blob_references_cover_artifacts_and_original_files(store: MetadataStore):
    a = art("a")
    store.add_version("raw", a, source="data.csv", original_blob=hash_text("orig"), original_name="data.csv")
    refs = store.blob_references()
    assert sorted(blob for _, blob in refs) == sorted([a.blob, hash_text("orig")])
    assert any(who == "raw@1 (as added)" for who, _ in refs)


# -- runs, step runs, lineage ---------------------------------------------------------------------
def test_run_round_trip_and_finish(store: MetadataStore):
    store.put_environment(
        Environment(
            id="env1", python="3.11", platform="linux", loopline="0.1", packages_hash="h", packages={}
        )
    )
    original = run("20240501-120000-aaaa", git_commit="c0ffee", git_dirty=True, reproduce_of="r0")
    original = Run(**{**original.__dict__, "environment_id": "env1"})
    store.create_run(original)
    got = store.get_run(original.id)
    assert got.id == original.id and got.status == "running" and got.finished_at is None
    assert got.started_at == original.started_at and got.started_at.utcoffset() == dt.timedelta(0)
    assert (got.executor, got.environment_id) == ("local", "env1")
    assert (got.git_commit, got.git_dirty, got.reproduce_of) == ("c0ffee", True, "r0")
    assert got.git_dirty is True
    assert got.steps == []

    store.finish_run(original.id, "succeeded")
    done = store.get_run(original.id)
    assert done.status == "succeeded"
    assert done.finished_at is not None and done.finished_at.tzinfo is not None
    assert abs(done.finished_at - dt.datetime.now(UTC)) < dt.timedelta(minutes=5)


@pytest.mark.parametrize("dirty", [True, False, None])
def test_git_dirty_is_a_real_boolean_or_none(store: MetadataStore, dirty):
    store.create_run(run("r1", git_dirty=dirty))
    assert store.get_run("r1").git_dirty is dirty


def test_a_start_time_in_another_time_zone_keeps_its_instant(store: MetadataStore):
    berlin = dt.timezone(dt.timedelta(hours=2))
    started = dt.datetime(2024, 5, 1, 14, 0, tzinfo=berlin)  # 12:00 UTC
    store.create_run(run("early", started=dt.datetime(2024, 5, 1, 11, 30, tzinfo=UTC)))
    store.create_run(run("local", started=started))
    store.create_run(run("late", started=dt.datetime(2024, 5, 1, 13, 0, tzinfo=UTC)))
    got = store.get_run("local").started_at
    assert got == started
    assert got.astimezone(UTC) == dt.datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert [r.id for r in store.list_runs()] == ["late", "local", "early"]


def test_list_and_count_runs(store: MetadataStore):
    assert store.list_runs() == [] and store.count_runs() == 0
    base = dt.datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(5):
        store.create_run(run(f"run-{i}", started=base + dt.timedelta(hours=i)))
    store.record_step_run(step("run-3", "make", outputs={"numbers": art("n").id}), [art("n")])
    listed = store.list_runs()
    assert [r.id for r in listed] == [f"run-{i}" for i in (4, 3, 2, 1, 0)]
    assert [s.name for s in listed[1].steps] == ["make"] and listed[0].steps == []
    assert [r.id for r in store.list_runs(limit=2)] == ["run-4", "run-3"]
    assert store.count_runs() == 5


def test_get_run_by_prefix_and_ambiguity(store: MetadataStore):
    store.create_run(run("20240501-120000-aaaa1111"))
    store.create_run(run("20240501-120000-bbbb2222"))
    store.create_run(run("20240502-090000-cccc3333"))
    assert store.get_run("20240502").id == "20240502-090000-cccc3333"
    assert store.get_run("20240501-120000-b").id == "20240501-120000-bbbb2222"
    assert store.get_run("20240501-120000-aaaa1111").id == "20240501-120000-aaaa1111"
    with pytest.raises(Conflict, match="ambiguous") as info:
        store.get_run("20240501")
    assert info.value.hint == "give more characters"
    with pytest.raises(NotFound, match="no run '2023'") as info:
        store.get_run("2023")
    assert "loopline runs" in (info.value.hint or "")


def test_step_runs_record_outputs_versions_and_lineage(store: MetadataStore):
    raw, clean, report = art("raw"), art("clean"), art("report", kind="json", rows=None)
    store.add_version("raw", raw, source="data.csv")
    store.create_run(run("r1"))
    sid = store.record_step_run(
        step("r1", "clean", inputs={"raw": raw.id}, outputs={"clean": clean.id, "report": report.id}),
        [clean, report],
    )
    assert isinstance(sid, int)

    got = store.get_run("r1")
    assert len(got.steps) == 1
    recorded = got.steps[0]
    assert recorded.id == sid and recorded.status == "ran" and recorded.seconds == 0.25
    assert recorded.inputs == {"raw": raw.id}
    assert recorded.outputs == {"clean": clean.id, "report": report.id}
    assert recorded.params == {"n": 10, "nested": {"x": [1, 2]}}
    assert recorded.uses == "example.steps:clean" and recorded.error is None

    version = store.get_version("clean")
    assert (version.version, version.id, version.source) == (1, clean.id, "step:clean")
    assert store.get_version("report").kind == "json"

    assert [s.id for s in store.producers(clean.id)] == [sid]
    assert store.producers(raw.id) == []
    assert [s.id for s in store.consumers(raw.id)] == [sid]
    assert store.consumers(clean.id) == []
    assert store.dangling_references() == []


def test_cached_and_unversioned_step_runs(store: MetadataStore):
    out = art("out")
    store.create_run(run("r1"))
    store.create_run(run("r2"))
    first = store.record_step_run(step("r1", "make", outputs={"out": out.id}), [out])
    cached = store.record_step_run(step("r2", "make", status="cached", outputs={"out": out.id}), [])
    assert [v.version for v in store.versions("out")] == [1]  # a cache hit adds no version
    assert [s.id for s in store.producers(out.id)] == [first]  # and did not produce it
    assert store.latest_step_runs()["make"].id == cached

    scratch = art("scratch")
    store.record_step_run(step("r2", "peek", outputs={"scratch": scratch.id}), [scratch], version=False)
    assert store.versions("scratch") == []
    unversioned = store.get_artifact(scratch.id)
    assert unversioned.id == scratch.id and unversioned.name is None and unversioned.version is None


def test_find_cached_returns_outputs_of_the_latest_successful_run(store: MetadataStore):
    fp = hash_text("fingerprint")
    assert store.find_cached(fp) is None
    store.create_run(run("r1"))
    store.record_step_run(step("r1", "s", fp=fp, outputs={"o": art("v1").id}), [art("v1")])
    assert store.find_cached(fp) == {"o": art("v1").id}
    store.record_step_run(step("r1", "s", fp=fp, outputs={"o": art("v2").id}), [art("v2")])
    assert store.find_cached(fp) == {"o": art("v2").id}
    failed = StepRun(**{**step("r1", "s", fp=fp, status="failed").__dict__, "error": "boom"})
    store.record_step_run(failed, [])
    store.record_step_run(step("r1", "s", fp=fp, status="cached", outputs={"o": art("v1").id}), [])
    assert store.find_cached(fp) == {"o": art("v2").id}
    assert store.find_cached(hash_text("other")) is None
    assert store.get_run("r1").steps[2].error == "boom"


def test_latest_step_runs_ignore_failures(store: MetadataStore):
    store.create_run(run("r1"))
    ok = store.record_step_run(step("r1", "a", outputs={"x": art("x").id}), [art("x")])
    store.record_step_run(step("r1", "a", status="failed"), [])
    other = store.record_step_run(step("r1", "b", status="cached"), [])
    latest = store.latest_step_runs()
    assert {name: s.id for name, s in latest.items()} == {"a": ok, "b": other}


def test_a_step_run_for_an_unknown_run_is_refused_quickly(store: MetadataStore):
    import time

    started = time.monotonic()
    with pytest.raises(StorageError) as info:
        store.record_step_run(step("no-such-run", "s"), [])
    assert time.monotonic() - started < 2, "a broken reference is not lock contention: no retries"
    assert "busy" not in info.value.message


def test_a_duplicate_run_id_is_a_conflict(store: MetadataStore, monkeypatch):
    from loopline.store.metadata import database

    monkeypatch.setattr(database, "_RETRIES", 3)
    store.create_run(run("same"))
    with pytest.raises(Conflict):
        store.create_run(run("same"))


# -- environments and metrics ---------------------------------------------------------------------
def test_environments_are_stored_once(store: MetadataStore):
    env = Environment(
        id=hash_text("env"),
        python="3.11.7",
        platform="Linux-x86_64",
        loopline="0.1.0",
        packages_hash=hash_text("pkgs"),
        packages={"polars": "1.0", "pyarrow": "16.0"},
    )
    store.put_environment(env)
    store.put_environment(env)
    assert store.get_environment(env.id) == env
    with pytest.raises(NotFound, match="no environment"):
        store.get_environment("0" * 64)
    store.create_run(Run(**{**run("r1").__dict__, "environment_id": env.id}))
    assert store.get_run("r1").environment_id == env.id


def test_metrics_round_trip_in_order(store: MetadataStore):
    store.create_run(run("r1"))
    store.create_run(run("r2"))
    store.log_metrics("r1", "train", [("loss", 0.5, 0, 1.0), ("loss", 0.25, 1, 2.0)])
    store.log_metrics("r1", "evaluate", [("accuracy", 0.9375, 2**40, 3.0)])
    store.log_metrics("r2", "train", [("loss", 9.0, 0, 1.0)])
    store.log_metrics("r1", "train", [])
    assert store.metrics("r1") == [
        {"step_name": "train", "key": "loss", "value": 0.5, "step": 0},
        {"step_name": "train", "key": "loss", "value": 0.25, "step": 1},
        {"step_name": "evaluate", "key": "accuracy", "value": 0.9375, "step": 2**40},
    ]
    assert [m["value"] for m in store.metrics("r2")] == [9.0]
    assert store.metrics("absent") == []


def test_dangling_references_empty_on_a_clean_store(store: MetadataStore):
    assert store.dangling_references() == []
    store.add_version("raw", art("a"), source="x")
    store.create_run(run("r1"))
    store.record_step_run(
        step("r1", "s", inputs={"raw": art("a").id}, outputs={"o": art("b").id}), [art("b")]
    )
    assert store.dangling_references() == []


# -- concurrency ----------------------------------------------------------------------------------
WRITERS = 8


def test_concurrent_version_allocation_from_threads(store_url: str):
    stores = [MetadataStore(store_url) for _ in range(WRITERS)]
    barrier = threading.Barrier(WRITERS)

    def add(i: int) -> int | None:
        barrier.wait()
        return stores[i].add_version("shared", art(f"thread {i}"), source=f"thread {i}")

    try:
        with ThreadPoolExecutor(WRITERS) as pool:
            got = list(pool.map(add, range(WRITERS)))
        assert sorted(got) == list(range(1, WRITERS + 1))
        versions = stores[0].versions("shared")
        assert [v.version for v in versions] == list(range(1, WRITERS + 1))
        by_version = {v.version: v.source for v in versions}
        assert all(by_version[got[i]] == f"thread {i}" for i in range(WRITERS))
    finally:
        for s in stores:
            s.close()


def test_concurrent_adds_of_the_same_artifact_make_one_version(store_url: str):
    shared = MetadataStore(store_url)
    barrier = threading.Barrier(WRITERS)

    def add(_i: int) -> int | None:
        barrier.wait()
        return shared.add_version("same", art("one"), source="x")

    try:
        with ThreadPoolExecutor(WRITERS) as pool:
            got = list(pool.map(add, range(WRITERS)))
        assert sorted(got, key=lambda v: v is None) == [1] + [None] * (WRITERS - 1)
        assert [v.version for v in shared.versions("same")] == [1]
    finally:
        shared.close()


def test_concurrent_step_runs_version_their_outputs(store_url: str):
    shared = MetadataStore(store_url)
    shared.create_run(run("r1"))
    barrier = threading.Barrier(WRITERS)

    def record(i: int) -> int:
        barrier.wait()
        out = art(f"out {i}")
        return shared.record_step_run(step("r1", f"s{i}", outputs={"result": out.id}), [out])

    try:
        with ThreadPoolExecutor(WRITERS) as pool:
            ids = list(pool.map(record, range(WRITERS)))
        assert len(set(ids)) == WRITERS
        assert [v.version for v in shared.versions("result")] == list(range(1, WRITERS + 1))
        assert len(shared.get_run("r1").steps) == WRITERS
        assert shared.dangling_references() == []
    finally:
        shared.close()


def _add_in_process(url: str, i: int, start: multiprocessing.synchronize.Event) -> int | None:
    store = MetadataStore(url)
    start.wait(60)
    try:
        return store.add_version("shared", art(f"process {i}"), source=f"process {i}")
    finally:
        store.close()


def test_concurrent_version_allocation_from_processes(store_url: str):
    MetadataStore(store_url).close()  # migrate once, so the processes race on versions only
    ctx = multiprocessing.get_context("spawn")
    workers = 4
    with ctx.Manager() as manager:
        start = manager.Event()
        with ctx.Pool(workers) as pool:
            pending = [pool.apply_async(_add_in_process, (store_url, i, start)) for i in range(workers)]
            start.set()
            got = [p.get(timeout=120) for p in pending]
    assert sorted(got) == list(range(1, workers + 1))
    store = MetadataStore(store_url)
    try:
        versions = store.versions("shared")
        assert [v.version for v in versions] == list(range(1, workers + 1))
        assert {v.version: v.source for v in versions} == {got[i]: f"process {i}" for i in range(workers)}
    finally:
        store.close()


def test_source_state_is_saved_with_the_step_run(store_url: str) -> None:
    store = MetadataStore(store_url)
    try:
        assert store.source_state("inbox") == {}
        store.create_run(Run("r1", "running", dt.datetime.now(UTC), None, "local", None))
        step = StepRun(
            None, "r1", "collect.inbox", "ran", "f" * 64, "c" * 64, {}, "loopline.collect:files", {}, {}
        )
        store.record_step_run(step, [], source_state=("inbox", {"watermark": 41}))
        store.record_step_run(step, [], source_state=("inbox", {"watermark": 42}))
        assert store.source_state("inbox") == {"watermark": 42}
    finally:
        store.close()


def test_upgrade_keeps_existing_runs_and_step_runs(tmp_path) -> None:
    """Each migration applies to a store already holding runs (foreign keys on, as in use)."""
    from alembic import command
    from alembic.config import Config

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = engines.create_engine(url)
    config = Config()
    config.set_main_option("script_location", str(engines._MIGRATIONS))
    with engine.connect().execution_options(loopline_write=True) as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.commit()
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO runs (id, status, started_at, executor)"
            " VALUES ('r1', 'succeeded', '2026-01-01', 'local')"
        )
        conn.exec_driver_sql(
            "INSERT INTO step_runs (run_id, name, status, fingerprint, code_hash, params_json, uses, seconds,"
            " finished_at) VALUES ('r1', 's', 'ran', 'f', 'c', '{}', 'u', 0, '2026-01-01')"
        )
    engine.dispose()
    store = MetadataStore(url)
    try:
        assert engines.current_revision(store.database.engine) == engines.HEAD_REVISION
        assert [s.name for s in store.get_run("r1").steps] == ["s"]
    finally:
        store.close()


def test_processes_opening_a_new_store_at_once_migrate_it_once(store_url: str) -> None:
    """Five processes open the same empty store together: one migrates, the others wait for it
    (before the migration lock, one in ~40 lost the race with `table ... already exists`)."""
    import subprocess
    import sys

    code = "import sys; from loopline.store.metadata import MetadataStore; MetadataStore(sys.argv[1]).close()"
    procs = [
        subprocess.Popen([sys.executable, "-c", code, store_url], stderr=subprocess.PIPE, text=True)
        for _ in range(5)
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 5, errors
    store = MetadataStore(store_url)
    try:
        assert engines.current_revision(store.database.engine) == engines.HEAD_REVISION
    finally:
        store.close()
