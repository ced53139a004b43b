"""`monitor --fleet` and `score` on Dask workers that share no disk with the project: each worker
opens the metadata store and the blob store (moto's S3) by URL, in a directory of its own under
the guard of dask_guard.py, which logs any touch of the project folder. The outcomes are those
of the local executor.

The workers are a guarded LocalCluster named by address, as a remote one would be. With
LOOPLINE_TEST_DATABASE_URL the metadata is on PostgreSQL and the fleet runs there; without it the
metadata is a SQLite file outside the project folder, which a cluster by address is refused for
the fleet (its workers write reports), so the fleet runs on the LocalCluster `loopline` starts,
its workers guarded through Dask's config; score's workers open only the blob store, so it uses
the cluster by address either way."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from loopline.core.errors import InvalidInput
from loopline.project import Project
from loopline.store.artifacts import save_table
from tests.conftest import PG_URL, _postgres_schema_url, cli
from tests.monitor.conftest import FEATURES, NOW, STEPS, YAML, sample
from tests.pipeline.dask_guard import guarded_cluster, read_log
from tests.pipeline.test_dask_no_shared_disk import GUARD

MODELS = ("calm", "moved")
_schema_url = contextmanager(_postgres_schema_url)
WINDOW = {"since": NOW, "until": NOW + timedelta(hours=1)}


@dataclass
class Fleet:
    project: Project
    address: str  # the guarded cluster
    by_address: bool  # whether the fleet may use it (PostgreSQL), else loopline starts a guarded one
    log: Path

    def violations(self) -> list[str]:
        setups, probes, violations = read_log(str(self.log))
        assert setups >= 1 and probes == setups, self.log.read_text()  # the guard was on, and works
        return violations


def _log_window(project: Project, model: str, frame: pl.DataFrame) -> None:
    predictions = project.load_model(model).predict(frame.select(FEATURES).to_pandas())
    project.predictions.write(
        [
            {
                "request_id": f"{model}-{i}",
                "model": model,
                "version": 1,
                "at": NOW + timedelta(seconds=i),
                "latency_ms": 1.0,
                "prediction": int(predictions[i]),
                "confidence": 0.9,
                "features": row,
            }
            for i, row in enumerate(frame.select(FEATURES).iter_rows(named=True))
        ]
    )


def _build(root: Path, store: str, blobs: str) -> Project:
    root.mkdir(parents=True)
    (root / "loopline.yaml").write_text(f"project:\n  store: {store}\n  blobs: {blobs}\n" + YAML)
    (root / "monitor_steps.py").write_text(STEPS)
    project = Project.init(root)
    project.run()
    for model in MODELS:
        version = project.register(model, "model")
        project.promote(model, version.version, "production")
    _log_window(project, "calm", project.load("table").head(300))
    _log_window(project, "moved", sample(300, 3, shift=1.0))
    rows = sample(400, 5).with_columns(item_id=pl.int_range(0, 400).cast(pl.Utf8))
    project.meta.add_version("rows", save_table(project.blobs, rows), source="test")
    return project


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, s3_endpoint: str) -> Iterator[Fleet]:
    from distributed import Client

    from loopline.testing.s3 import make_bucket

    tmp = tmp_path_factory.mktemp("fleet")
    root, log, worker_tmp = tmp / "project", tmp / "guard.log", tmp / "worker-tmp"
    worker_tmp.mkdir()
    with ExitStack() as stack:
        patch = stack.enter_context(pytest.MonkeyPatch.context())
        patch.setenv("LOOPLINE_GUARD_ROOT", str(root))  # inherited by the worker processes
        patch.setenv("LOOPLINE_GUARD_LOG", str(log))
        patch.setenv("TMPDIR", str(worker_tmp))  # the workers' blob read cache: not the project's
        if PG_URL:
            store = stack.enter_context(_schema_url(PG_URL))
        else:
            (tmp / "db").mkdir()
            store = f"sqlite:///{tmp / 'db' / 'meta.db'}"
        project = _build(root, store, f"s3://{make_bucket(s3_endpoint)}/blobs")
        # the run put the project first on sys.path, which spawned workers would inherit
        patch.setattr(sys, "path", [p for p in sys.path if p != str(root)])
        cluster = stack.enter_context(guarded_cluster(str(tmp / "workers")))
        stack.enter_context(Client(cluster))
        yield Fleet(project, cluster.scheduler_address, bool(PG_URL), log)
        project.close()


def _summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "report_id"} for r in rows]  # ids hold the time


def test_fleet_on_dask_opens_the_stores_by_url(fleet: Fleet) -> None:
    project = fleet.project
    local = project.monitor_fleet(**WINDOW)
    assert [(r["model"], r["rows"], r["drifted"]) for r in local] == [
        ("calm", 300, False),
        ("moved", 300, True),
    ]
    window = ["--since", NOW.isoformat(), "--until", WINDOW["until"].isoformat()]
    where = ["--dask-address", fleet.address] if fleet.by_address else []
    # the LocalCluster loopline starts reads its workers' preload from Dask's config
    env = {} if fleet.by_address else {"DASK_DISTRIBUTED__WORKER__PRELOAD": json.dumps([GUARD])}
    args = ["monitor", "--fleet", "--executor", "dask", "--workers", "2", *where, "--json", *window]
    result = cli(*args, cwd=project.root, env=env)
    assert result.returncode == 1, result.stderr  # "moved" drifted
    dask = json.loads(result.stdout)
    assert _summary(dask) == _summary(local)
    assert fleet.violations() == []
    for row in dask:  # written by the workers, read back here
        assert project.monitor_report(row["report_id"])["model"] == row["model"]


def test_score_on_dask_reads_the_blobs_by_url(fleet: Fleet) -> None:
    project = fleet.project
    local = project.score("calm", "rows", partitions=3)
    dask = project.score("calm", "rows", partitions=3, executor="dask", dask_address=fleet.address)
    assert dask["artifact_id"] == local["artifact_id"] and dask["rows"] == 400
    scores = project.load(dask["artifact_id"])
    features = project.load("rows").select(FEATURES).to_pandas()
    assert scores["prediction"].to_list() == project.load_model("calm").predict(features).tolist()
    assert fleet.violations() == []


def test_a_cluster_by_address_is_refused_what_only_this_machine_has(tmp_path: Path, s3_url: str) -> None:
    """Refused before connecting (no cluster listens at the address): a SQLite file for the
    fleet, whose workers write reports; a local blob folder for both."""
    nowhere = "tcp://127.0.0.1:1"
    on_s3 = Project.init(tmp_path / "s3", blobs=s3_url)
    with pytest.raises(InvalidInput) as caught:
        on_s3.monitor_fleet(executor="dask", dask_address=nowhere)
    assert "SQLite" in caught.value.render() and "postgresql" in caught.value.render()
    on_s3.close()

    local = Project.init(tmp_path / "local")
    art = save_table(local.blobs, pl.DataFrame({"x1": np.zeros(3)}))
    local.meta.add_version("rows", art, source="test")
    with pytest.raises(InvalidInput) as caught:
        local.score("clf", "rows", executor="dask", dask_address=nowhere)
    assert str(tmp_path / "local" / ".loopline" / "blobs") in caught.value.render()
    local.close()
    result = cli("monitor", "--fleet", "--executor", "dask", "--dask-address", nowhere, cwd=local.root)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "cannot reach" in result.stderr and "--blobs s3://" in result.stderr
