"""The MLflow side of benchmarks/pg_metadata.py, run by MLflow's own venv (it imports no loopline).

A long-lived worker: one JSON command a line on stdin, one JSON answer a line on stdout, so the
driver can alternate repetitions between loopline and MLflow while both stay warm (connection
pools, compiled statements, imports), and only the calls themselves are timed, here.

Commands: `load` (MLflow's schema made by its own store, then the runs in bulk through its own
SQLAlchemy tables: its store's create_run / log_batch take tens of ms a run), `search` (one
`MlflowClient.search_runs` query, every page when asked, N times), `registry` (models, versions and
aliases in bulk), `alias` (`MlflowClient.get_model_version_by_alias`, each call timed).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import warnings
from typing import Any

CHUNK = 5_000


def _driver_path() -> None:
    """psycopg2 from the benchmark's own small venv when MLflow's venv has no PostgreSQL driver
    (appended, so MLflow's venv keeps precedence for everything else)."""
    extra = os.environ.get("PG_DRIVER_SITE")
    if extra:
        sys.path.append(extra)


def _insert(conn: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        conn.execute(table.insert(), rows[start : start + CHUNK])


def _analyze(engine: Any) -> None:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.exec_driver_sql("ANALYZE")
        conn.commit()


class Peer:
    def __init__(self, uri: str) -> None:
        from mlflow.tracking import MlflowClient

        self.uri = uri
        self.client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        self.experiments: list[str] = []

    def load(self, data: str, experiments: list[str]) -> dict[str, Any]:
        from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlMetric, SqlParam, SqlRun, SqlTag
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        started = time.perf_counter()
        store = SqlAlchemyStore(self.uri, "/tmp/pg-metadata-mlflow-artifacts")
        ids = [int(store.create_experiment(name)) for name in experiments]
        self.experiments = [str(i) for i in ids]
        with open(data) as handle:
            rows = json.load(handle)
        runs = [
            {
                "run_uuid": r["id"],
                "name": r["name"],
                "source_type": "LOCAL",
                "source_name": "",
                "entry_point_name": "",
                "user_id": "bench",
                "status": "FINISHED",
                "start_time": r["start_ms"],
                "end_time": r["start_ms"] + 1000,
                "source_version": "",
                "lifecycle_stage": "active",
                "artifact_uri": "",
                "experiment_id": ids[r["experiment"]],
            }
            for r in rows
        ]
        params = [{"key": k, "value": v, "run_uuid": r["id"]} for r in rows for k, v in r["params"].items()]
        tags = [{"key": k, "value": v, "run_uuid": r["id"]} for r in rows for k, v in r["tags"].items()]
        tags += [{"key": "mlflow.runName", "value": r["name"], "run_uuid": r["id"]} for r in rows]
        tags += [
            {"key": "mlflow.parentRunId", "value": r["parent"], "run_uuid": r["id"]}
            for r in rows
            if r["parent"]
        ]
        metrics = [
            {
                "key": k,
                "value": v,
                "timestamp": r["start_ms"],
                "run_uuid": r["id"],
                "step": 0,
                "is_nan": False,
            }
            for r in rows
            for k, v in r["metrics"].items()
        ]
        with store.engine.begin() as conn:
            _insert(conn, SqlRun.__table__, runs)
            _insert(conn, SqlParam.__table__, params)
            _insert(conn, SqlTag.__table__, tags)
            _insert(conn, SqlMetric.__table__, metrics)
            _insert(conn, SqlLatestMetric.__table__, metrics)
        _analyze(store.engine)
        store.engine.dispose()
        return {"experiment_ids": self.experiments, "seconds": time.perf_counter() - started}

    def search(
        self, query: str, order_by: list[str], max_results: int, pages: bool, reps: int
    ) -> dict[str, Any]:
        times: list[float] = []
        ids: list[str] = []
        for _ in range(reps):
            started = time.perf_counter()
            ids, token = [], None
            while True:
                page = self.client.search_runs(
                    self.experiments, query, max_results=max_results, order_by=order_by, page_token=token
                )
                ids += [r.info.run_id for r in page]
                token = page.token
                if not pages or not token:
                    break
            times.append(time.perf_counter() - started)
        return {"times": times, "ids": ids}

    def registry(self, models: int, versions: int) -> dict[str, Any]:
        from mlflow.store.model_registry.dbmodels.models import (
            SqlModelVersion,
            SqlRegisteredModel,
            SqlRegisteredModelAlias,
        )
        from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore

        started = time.perf_counter()
        store = SqlAlchemyStore(self.uri)
        now = int(time.time() * 1000)
        names = [f"model-{i:04d}" for i in range(models)]
        with store.engine.begin() as conn:
            _insert(
                conn,
                SqlRegisteredModel.__table__,
                [
                    {"name": n, "creation_time": now, "last_updated_time": now, "description": ""}
                    for n in names
                ],
            )
            _insert(
                conn,
                SqlModelVersion.__table__,
                [
                    {
                        "name": n,
                        "version": v,
                        "creation_time": now,
                        "last_updated_time": now,
                        "description": "",
                        "user_id": "bench",
                        "current_stage": "None",
                        "source": f"models:/m-{i:04d}{v:02d}",
                        "run_id": None,
                        "status": "READY",
                    }
                    for i, n in enumerate(names)
                    for v in range(1, versions + 1)
                ],
            )
            _insert(
                conn,
                SqlRegisteredModelAlias.__table__,
                [{"name": n, "alias": "production", "version": versions - 1} for n in names]
                + [{"name": n, "alias": "staging", "version": versions} for n in names],
            )
        _analyze(store.engine)
        store.engine.dispose()
        return {"seconds": time.perf_counter() - started}

    def alias(self, names: list[str], alias: str, want: int) -> dict[str, Any]:
        times = []
        for name in names:
            started = time.perf_counter()
            found = self.client.get_model_version_by_alias(name, alias)
            times.append(time.perf_counter() - started)
            if int(found.version) != want:
                raise SystemExit(f"{name}@{alias} is version {found.version}, not {want}")
        return {"times": times}


def main() -> None:
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    _driver_path()
    import mlflow

    peer = Peer(sys.argv[1])
    print(json.dumps({"ready": mlflow.__version__}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        what = command.pop("do")
        if what == "exit":
            break
        print(json.dumps(getattr(peer, what)(**command)), flush=True)


if __name__ == "__main__":
    main()
