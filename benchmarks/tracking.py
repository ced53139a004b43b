"""Experiment tracking against MLflow (its own venv, SQLite backend), on the same machine and data.

1. Metric logging, one call per value: 20 runs x 500 steps of one metric through
   `loopline.log_metric` in `with project.start_run()`; MLflow's `mlflow.log_metric` (at its ~170
   values/s a full 10,000-value pass takes a minute, so MLflow logs 2 runs x 500 steps and the
   figure compared is values per second).
2. Batch logging: the same 20 x 500 values, one batch per run (`run.log_batch` vs
   `MlflowClient.log_batch`).
3. Run search in a store of 30,000 runs x 20 metrics (plus 2 params and a tag each): the runs
   whose metric m0 > 0.5 and param C = '1', best m1 first, the top 100 with their params,
   metrics and tags. loopline on SQLite and (when LOOPLINE_BENCH_DATABASE_URL or
   LOOPLINE_TEST_DATABASE_URL is set) PostgreSQL; MLflow's `search_runs` on SQLite. Both stores
   are filled with the same rows by bulk SQL (only the search is timed).

Timings are in-process (after imports and schema creation), medians of several repetitions.
Run: `python benchmarks/tracking.py [--runs 30000]`; the last line is the JSON summary.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
MLFLOW_VENV = BENCH_DIR / ".venvs" / "mlflow"
MLFLOW_SPEC = "mlflow==3.17.*"
FILTER = "metrics.m0 > 0.5 and params.C = '1'"
ORDER = "metrics.m1 DESC"

MLFLOW_WORKER = r"""
import json, sys, time, os, sqlite3, uuid, random, logging
logging.disable(logging.WARNING)
cfg = json.loads(sys.argv[1])
import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric
mlflow.set_tracking_uri(cfg["uri"])
client = MlflowClient()
mode = cfg["mode"]
if mode == "percall":
    mlflow.set_experiment(cfg["experiment"])
    t = time.perf_counter()
    for r in range(cfg["runs"]):
        with mlflow.start_run(run_name=f"r{r}"):
            for i in range(cfg["steps"]):
                mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
    print(json.dumps({"seconds": time.perf_counter() - t}))
elif mode == "batch":
    exp = mlflow.set_experiment(cfg["experiment"]).experiment_id
    t = time.perf_counter()
    for r in range(cfg["runs"]):
        run = client.create_run(exp, run_name=f"r{r}")
        now = int(time.time() * 1000)
        batch = [Metric("loss", 1.0 / (i + 1), now, i) for i in range(cfg["steps"])]
        client.log_batch(run.info.run_id, metrics=batch)
        client.set_terminated(run.info.run_id)
    print(json.dumps({"seconds": time.perf_counter() - t}))
elif mode == "populate":
    exp = mlflow.set_experiment("search").experiment_id
    rows = json.load(open(cfg["data"]))
    db = sqlite3.connect(cfg["path"])
    with db:
        db.executemany(
            "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status,"
            " start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id)"
            " VALUES (?, ?, 'LOCAL', '', '', 'bench', 'FINISHED', ?, ?, '', 'active', '', ?)",
            [(r["id"], r["name"], r["start_ms"], r["start_ms"] + 1000, int(exp)) for r in rows],
        )
        db.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)",
                       [(k, v, r["id"]) for r in rows for k, v in r["params"].items()])
        db.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)",
                       [(k, v, r["id"]) for r in rows for k, v in r["tags"].items()])
        metric_rows = [(k, v, r["start_ms"], r["id"], 0, 0) for r in rows for k, v in r["metrics"].items()]
        for table in ("metrics", "latest_metrics"):
            db.executemany(
                f"INSERT INTO {table} (key, value, timestamp, run_uuid, step, is_nan)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                metric_rows,
            )
    print(json.dumps({"experiment": exp}))
elif mode == "search":
    times, found = [], None
    for _ in range(cfg["repeat"]):
        t = time.perf_counter()
        found = client.search_runs(
            [cfg["experiment"]], filter_string=cfg["filter"], order_by=[cfg["order"]], max_results=100
        )
        times.append(time.perf_counter() - t)
    print(json.dumps({"times": times, "ids": [r.info.run_id for r in found]}))
"""


def mlflow_python() -> str:
    """The MLflow venv's python, created on first use (reused when another benchmark made it)."""
    exe = MLFLOW_VENV / "bin" / "python"
    if not (MLFLOW_VENV / "bin" / "mlflow").exists():
        print(f"creating {MLFLOW_VENV} with {MLFLOW_SPEC} (one time)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(MLFLOW_VENV)], check=True)
        subprocess.run([str(MLFLOW_VENV / "bin" / "pip"), "install", "-q", MLFLOW_SPEC], check=True)
    return str(exe)


def mlflow(config: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "LOOPLINE_"))}
    env["MLFLOW_ENABLE_ASYNC_LOGGING"] = "false"  # its default; said so the comparison is explicit
    out = subprocess.run(
        [mlflow_python(), "-c", MLFLOW_WORKER, json.dumps(config)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"mlflow worker failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def mlflow_version() -> str:
    out = subprocess.run(
        [mlflow_python(), "-c", "import mlflow; print(mlflow.__version__)"], capture_output=True, text=True
    )
    return out.stdout.strip()


def median(values: list[float]) -> float:
    return statistics.median(values)


# -- logging ---------------------------------------------------------------------------------
def loopline_per_call(project, runs: int, steps: int) -> float:
    import loopline

    experiment = f"percall-{uuid.uuid4().hex[:6]}"
    started = time.perf_counter()
    for r in range(runs):
        with project.start_run(experiment, f"r{r}"):
            for i in range(steps):
                loopline.log_metric("loss", 1.0 / (i + 1), i)
    return time.perf_counter() - started


def loopline_batch(project, runs: int, steps: int) -> float:
    experiment = f"batch-{uuid.uuid4().hex[:6]}"
    started = time.perf_counter()
    for r in range(runs):
        with project.start_run(experiment, f"r{r}") as run:
            now = time.time()
            run.log_batch([("loss", 1.0 / (i + 1), i, now) for i in range(steps)])
    return time.perf_counter() - started


# -- the 30,000-run store ---------------------------------------------------------------------
def make_runs(n: int, metrics: int = 20, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    base = 1_700_000_000_000
    return [
        {
            "id": uuid.UUID(int=rng.getrandbits(128)).hex,
            "name": f"run-{i}",
            "start_ms": base + i * 1000,
            "params": {"C": rng.choice(["0.01", "0.1", "1", "10"]), "solver": rng.choice(["lbfgs", "saga"])},
            "tags": {"team": rng.choice(["a", "b", "c"])},
            "metrics": {f"m{k}": rng.random() for k in range(metrics)},
        }
        for i in range(n)
    ]


def fill_loopline(store, rows: list[dict]) -> int:
    """Bulk rows into loopline's tables (runs, params, tags, history and latest metrics)."""
    from datetime import UTC, datetime

    tracking = store.tracking
    experiment = tracking.create_experiment(f"search-{uuid.uuid4().hex[:6]}").id
    engine = store.database.engine
    postgres = engine.dialect.name == "postgresql"
    mark = "%s" if postgres else "?"
    tables = {
        "runs": (
            'id, status, started_at, finished_at, executor, experiment_id, name, "user"',
            [
                (
                    r["id"],
                    "succeeded",
                    datetime.fromtimestamp(r["start_ms"] / 1000, UTC),
                    datetime.fromtimestamp(r["start_ms"] / 1000 + 1, UTC),
                    "tracking",
                    experiment,
                    r["name"],
                    "bench",
                )
                for r in rows
            ],
        ),
        "run_params": (
            'run_id, "key", value',
            [(r["id"], k, v) for r in rows for k, v in r["params"].items()],
        ),
        "run_tags": ('run_id, "key", value', [(r["id"], k, v) for r in rows for k, v in r["tags"].items()]),
        "metrics": (
            'run_id, step_name, "key", value, step, "timestamp"',
            [(r["id"], "", k, v, 0, r["start_ms"] / 1000) for r in rows for k, v in r["metrics"].items()],
        ),
        "metrics_latest": (
            'run_id, "key", value, step, "timestamp"',
            [(r["id"], k, v, 0, r["start_ms"] / 1000) for r in rows for k, v in r["metrics"].items()],
        ),
    }
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for table, (columns, values) in tables.items():
            if postgres:
                with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for value in values:
                        copy.write_row(value)
            else:
                marks = ", ".join([mark] * len(values[0]))
                cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", values)
        raw.commit()
        if postgres:
            cursor.execute("ANALYZE")
            raw.commit()
        else:
            cursor.execute("ANALYZE")
    finally:
        raw.close()
    return experiment


def search_loopline(store, experiment: int, repeat: int) -> tuple[list[float], list[str]]:
    from loopline.core.experiments import parse_filter, parse_order

    tracking = store.tracking
    filters, order = parse_filter(FILTER), [parse_order(ORDER)]
    times, found = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        found = tracking.search_runs(experiment_ids=[experiment], filters=filters, order_by=order, limit=100)
        times.append(time.perf_counter() - started)
    return times, [r.id for r in found]


def expected_ids(rows: list[dict]) -> list[str]:
    kept = [r for r in rows if r["metrics"]["m0"] > 0.5 and r["params"]["C"] == "1"]
    kept.sort(key=lambda r: -r["metrics"]["m1"])
    return [r["id"] for r in kept[:100]]


def postgres_url() -> str | None:
    return os.environ.get("LOOPLINE_BENCH_DATABASE_URL") or os.environ.get("LOOPLINE_TEST_DATABASE_URL")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30_000, help="runs in the search store")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    import sqlalchemy as sa

    from loopline import Project
    from loopline.store.metadata import MetadataStore

    version = mlflow_version()
    work = Path(tempfile.mkdtemp(prefix="bench-tracking-"))
    project = Project.init(work / "project")
    summary: dict = {}

    # 1. per call
    runs, steps, small = 20, 500, 2
    ours = [loopline_per_call(project, runs, steps) for _ in range(args.repeat)]
    theirs = [
        mlflow(
            {
                "mode": "percall",
                "uri": f"sqlite:///{work / 'mlflow-percall.db'}",
                "experiment": f"p{i}",
                "runs": small,
                "steps": steps,
            }
        )["seconds"]
        for i in range(3)
    ]
    ours_rate, theirs_rate = runs * steps / median(ours), small * steps / median(theirs)
    summary["per_call"] = {
        "values": runs * steps,
        "loopline_s": median(ours),
        "loopline_values_per_s": round(ours_rate),
        "mlflow_values": small * steps,
        "mlflow_s": median(theirs),
        "mlflow_values_per_s": round(theirs_rate),
        "ratio": round(ours_rate / theirs_rate, 1),
    }
    print(f"per call: loopline {ours_rate:,.0f} values/s, mlflow {theirs_rate:,.0f} values/s", flush=True)

    # 2. batches
    ours = [loopline_batch(project, runs, steps) for _ in range(args.repeat)]
    theirs = [
        mlflow(
            {
                "mode": "batch",
                "uri": f"sqlite:///{work / 'mlflow-batch.db'}",
                "experiment": f"b{i}",
                "runs": runs,
                "steps": steps,
            }
        )["seconds"]
        for i in range(3)
    ]
    ours_rate, theirs_rate = runs * steps / median(ours), runs * steps / median(theirs)
    summary["batch"] = {
        "values": runs * steps,
        "loopline_s": median(ours),
        "loopline_values_per_s": round(ours_rate),
        "mlflow_s": median(theirs),
        "mlflow_values_per_s": round(theirs_rate),
        "ratio": round(ours_rate / theirs_rate, 1),
    }
    print(f"batch: loopline {ours_rate:,.0f} values/s, mlflow {theirs_rate:,.0f} values/s", flush=True)

    # 3. search in a store of args.runs runs
    rows = make_runs(args.runs)
    want = expected_ids(rows)
    store = MetadataStore(f"sqlite:///{work / 'search.db'}")
    experiment = fill_loopline(store, rows)
    sqlite_times, got = search_loopline(store, experiment, args.repeat)
    assert got == want, "loopline (SQLite) returned the wrong runs"
    search = {"runs": args.runs, "metrics_per_run": 20, "filter": FILTER, "order_by": ORDER, "limit": 100}
    search["loopline_sqlite_s"] = median(sqlite_times)
    print(f"search {args.runs} runs: loopline SQLite {median(sqlite_times):.3f}s", flush=True)
    url = postgres_url()
    if url:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        try:
            sep = "&" if "?" in url else "?"
            pg = MetadataStore(f"{url}{sep}options=-csearch_path%3D{schema}")
            pg_experiment = fill_loopline(pg, rows)
            pg_times, got = search_loopline(pg, pg_experiment, args.repeat)
            assert got == want, "loopline (PostgreSQL) returned the wrong runs"
            search["loopline_postgresql_s"] = median(pg_times)
            print(f"search: loopline PostgreSQL {median(pg_times):.3f}s", flush=True)
            pg.close()
        finally:
            with engine.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            engine.dispose()
    data = work / "runs.json"
    data.write_text(json.dumps(rows))
    mlflow_db = work / "mlflow-search.db"
    info = mlflow(
        {"mode": "populate", "uri": f"sqlite:///{mlflow_db}", "path": str(mlflow_db), "data": str(data)}
    )
    result = mlflow(
        {
            "mode": "search",
            "uri": f"sqlite:///{mlflow_db}",
            "experiment": info["experiment"],
            "filter": FILTER,
            "order": ORDER,
            "repeat": 3,
        }
    )
    assert result["ids"] == want, "mlflow returned other runs than the oracle"
    search["mlflow_s"] = median(result["times"])
    search["ratio"] = round(search["mlflow_s"] / search["loopline_sqlite_s"], 1)
    print(f"search: mlflow {search['mlflow_s']:.3f}s", flush=True)
    summary["search"] = search
    store.close()
    project.close()
    print(
        json.dumps(
            {
                "benchmark": "tracking",
                "loopline_s": search["loopline_sqlite_s"],
                "peer": f"mlflow {version} (SQLite)",
                "peer_s": search["mlflow_s"],
                "ratio": search["ratio"],
                "per_call": summary["per_call"],
                "batch": summary["batch"],
                "search": search,
            }
        )
    )


if __name__ == "__main__":
    main()
