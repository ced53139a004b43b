"""Fleet monitoring: drift for 1,000 deployed models' prediction windows of 10,000 rows each,
`loopline monitor --fleet` on the local executor and on a Dask LocalCluster (2 workers, one
thread each: this machine has 2 cores). Target from the issue: under 10 minutes.

Setup (not timed): one project (SQLite, local blobs); a pipeline trains a 10-feature classifier;
it is registered under 1,000 names (each registration profiles the training table: that is the
reference) and promoted to production; each model gets 10,000 logged predictions written
through the PredictionLog (Parquet batches indexed in the metadata store), 1 model in 10 with
two features shifted. Timed: the whole `loopline monitor --fleet --json` process (read each
window from the log, load the profile, drift, quality, estimate, write the report artifact),
medians of --repeat runs. No peer has a fleet mode, so the JSON line's peer is the target
(600 s) and its ratio says how far under it loopline is; drift verdicts are checked against the
known shifts.

--team: the same fleet in a team's project, metadata on PostgreSQL (a schema of its own in
LOOPLINE_BENCH_DATABASE_URL, else LOOPLINE_TEST_DATABASE_URL, else the local test database) and
blobs on S3 (moto's server, a process of its own), timed on the local executor and on Dask
LocalClusters of 1 and of 2 process workers; those workers open the stores by URL, as workers
of a cluster with no access to the project would. The 1-minute load average before each run is
reported beside the times: the machine may be shared.

    python benchmarks/fleet_drift.py [--models 1000] [--rows 10000] [--repeat 2] [--team]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._bench import DATA_DIR, LOOPLINE, emit, fmt, fresh_dir, median, quiet_env

FEATURES = [f"x{i}" for i in range(10)]
STEPS = """
import numpy as np
import polars as pl
from sklearn.linear_model import LogisticRegression

def data(n: int = 10000):
    rng = np.random.default_rng(0)
    frame = pl.DataFrame({f"x{i}": rng.normal(i, 1 + i / 10, n) for i in range(10)})
    score = sum((frame[f"x{i}"] - i) * (1 if i % 2 else -1) for i in range(10))
    return frame.with_columns(label=(score > 0).cast(pl.Int64))

def train(table, target: str = "label"):
    return LogisticRegression(max_iter=300).fit(table.drop(target).to_pandas(), table[target].to_numpy())
"""
YAML = """
steps:
  data: {uses: "steps:data", outputs: [table]}
  train: {uses: "steps:train", inputs: [table], params: {target: label}, outputs: [model]}
"""
START = datetime(2030, 1, 1, tzinfo=UTC)


def is_shifted(index: int) -> bool:
    return index % 10 == 3


def build(root: Path, models: int, rows: int, stores: str = "") -> None:
    import numpy as np

    from loopline.project import Project

    fresh_dir(root)
    (root / "loopline.yaml").write_text(stores + YAML)
    (root / "steps.py").write_text(STEPS)
    project = Project.init(root)
    project.run()
    t0 = time.perf_counter()
    for m in range(models):
        version = project.register(f"model-{m:04d}", "model")
        project.promote(version.name, version.version, "production")
    print(f"registered and profiled {models} models in {time.perf_counter() - t0:.1f}s", flush=True)
    t0 = time.perf_counter()
    rng = np.random.default_rng(1)
    for m in range(models):
        values = {f"x{i}": rng.normal(i, 1 + i / 10, rows) for i in range(10)}
        if is_shifted(m):
            values["x2"] = values["x2"] + 0.3 * 1.2  # 0.3 standard deviations
            values["x7"] = values["x7"] * 1.15  # scale and mean 15 % up
        predictions = rng.integers(0, 2, rows)
        confidence = rng.uniform(0.5, 1.0, rows)
        columns = [values[f] for f in FEATURES]
        records = [
            {
                "request_id": f"m{m}-{j}",
                "model": f"model-{m:04d}",
                "version": 1,
                "at": START + timedelta(seconds=j),
                "latency_ms": 1.0,
                "prediction": int(predictions[j]),
                "confidence": float(confidence[j]),
                "features": {f: float(col[j]) for f, col in zip(FEATURES, columns, strict=True)},
            }
            for j in range(rows)
        ]
        project.predictions.write(records)
    print(f"wrote {models * rows:,} predictions through the PredictionLog in {time.perf_counter() - t0:.1f}s")
    project.close()


@contextmanager
def team_stores() -> Iterator[str]:
    """The `project:` section of a project on PostgreSQL (a fresh schema, dropped afterwards)
    and moto's S3 (a fresh bucket; the server stops afterwards), the AWS settings of this process
    (inherited by the timed commands) pointed at it."""
    import sqlalchemy as sa

    from loopline.testing.s3 import aws_pointed_at, make_bucket, moto_server

    base = (
        os.environ.get("LOOPLINE_BENCH_DATABASE_URL")
        or os.environ.get("LOOPLINE_TEST_DATABASE_URL")
        or "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(base)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    store = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    try:
        with moto_server() as endpoint, aws_pointed_at(endpoint):
            blobs = f"s3://{make_bucket(endpoint)}/blobs"
            yield f"project:\n  store: {store}\n  blobs: {blobs}\n"
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        engine.dispose()


def timed_fleet(
    root: Path, args: argparse.Namespace, modes: dict[str, list[str]]
) -> tuple[dict[str, list[float]], dict[str, dict[str, int]], dict[str, list[float]]]:
    """Each mode's wall times, drift verdicts and the 1-minute load before each run."""
    window = ["--since", START.isoformat(), "--until", (START + timedelta(days=1)).isoformat()]
    env = quiet_env({"OMP_NUM_THREADS": "1"})
    results: dict[str, list[float]] = {}
    loads: dict[str, list[float]] = {}
    verdicts: dict[str, dict[str, int]] = {}
    for mode, options in modes.items():
        times = []
        loads[mode] = []
        for _ in range(args.repeat):
            cmd = [LOOPLINE, "monitor", "--fleet", *options, "--json", *window]
            loads[mode].append(round(os.getloadavg()[0], 2))
            start = time.perf_counter()
            proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, check=False)
            times.append(time.perf_counter() - start)
            if proc.returncode not in (0, 1):
                raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stderr[-3000:]}")
            rows = json.loads(proc.stdout)
        results[mode] = times
        errors = [r for r in rows if "error" in r]
        drifted = {r["model"] for r in rows if r.get("drifted")}
        shifted = {f"model-{m:04d}" for m in range(args.models) if is_shifted(m)}
        verdicts[mode] = {
            "models": len(rows),
            "errors": len(errors),
            "rows_per_model": min((r["rows"] for r in rows if "rows" in r), default=0),
            "true_positives": len(drifted & shifted),
            "shifted": len(shifted),
            "false_positives": len(drifted - shifted),
        }
        print(f"fleet on {mode}: {fmt(times)}  load {loads[mode]}  {verdicts[mode]}", flush=True)
    return results, verdicts, loads


def team(args: argparse.Namespace) -> None:
    root = DATA_DIR / "fleet_drift" / "team"
    modes = {
        "local": ["--executor", "local"],
        "dask-1": ["--executor", "dask", "--workers", "1"],
        "dask-2": ["--executor", "dask", "--workers", "2"],
    }
    with team_stores() as stores:
        t0 = time.perf_counter()
        build(root, args.models, args.rows, stores)
        print(f"built the team project in {time.perf_counter() - t0:.1f}s", flush=True)
        results, verdicts, loads = timed_fleet(root, args, modes)
    emit(
        "fleet_drift_team",
        median(results["local"]),
        "target (10 minutes)",
        600.0,
        stores="postgresql + moto s3",
        models=args.models,
        rows_per_model=args.rows,
        medians_s={mode: round(median(times), 2) for mode, times in results.items()},
        runs_s={mode: [round(t, 2) for t in times] for mode, times in results.items()},
        load_1min_before={mode: values for mode, values in loads.items()},
        cores=os.cpu_count(),
        verdicts=verdicts,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--reuse", action="store_true", help="keep the project built by an earlier run")
    parser.add_argument("--team", action="store_true", help="on PostgreSQL and moto's S3, Dask of 1 and 2")
    args = parser.parse_args()
    if args.team:
        team(args)
        return
    root = DATA_DIR / "fleet_drift" / "proj"
    marker = root / ".built"
    if not (args.reuse and marker.exists() and marker.read_text() == f"{args.models} {args.rows}"):
        build(root, args.models, args.rows)
        marker.write_text(f"{args.models} {args.rows}")

    results, verdicts, _ = timed_fleet(
        root, args, {"local": ["--executor", "local"], "dask": ["--executor", "dask"]}
    )
    emit(
        "fleet_drift",
        median(results["local"]),
        "target (10 minutes)",
        600.0,
        models=args.models,
        rows_per_model=args.rows,
        dask_s=round(median(results["dask"]), 2),
        local_runs=[round(t, 2) for t in results["local"]],
        dask_runs=[round(t, 2) for t in results["dask"]],
        verdicts=verdicts,
    )


if __name__ == "__main__":
    main()
