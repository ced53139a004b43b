"""Model registry: loopline against MLflow (SQLite backend) on the same machine, in one run.

(a) Save and register 50 versions of a small scikit-learn model (LogisticRegression on digits),
    point `production` at the last one, then load it. loopline: skops model artifact + register
    (which loads the file back to check it); MLflow: `mlflow.sklearn.log_model(...,
    registered_model_name=...)` in a run + `set_registered_model_alias`, then
    `mlflow.sklearn.load_model("models:/NAME@production")`. Each side runs in its own process
    (MLflow in benchmarks/.venvs/mlflow, created here); the models are fitted before the clock
    starts and both get the same explicit signature. Medians of --reps fresh stores.
(b) A registry of 1,000 models x 10 versions (loopline only): the `models --json` listing (the
    Project call plus the JSON text) and an alias lookup, p99 on SQLite and on PostgreSQL
    (--pg URL, default $LOOPLINE_TEST_DATABASE_URL; skipped when neither is set).

Usage: .venv/bin/python benchmarks/registry.py [--versions 50] [--reps 3] [--peer-reps 3]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
MLFLOW_VENV = BENCH_DIR / ".venvs" / "mlflow"
MLFLOW_SPEC = "mlflow>=3,<4"


def _models(n: int) -> tuple[list[object], dict[str, object]]:
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    X, y = load_digits(return_X_y=True)
    X = X / 16.0  # scaled, so lbfgs converges quickly
    base = LogisticRegression(max_iter=1000).fit(X, y)
    fitted = []  # 50 distinct versions of one fitted model (the fit is not what is measured)
    for i in range(n):
        model = copy.deepcopy(base)
        model.coef_ = base.coef_ * (1.0 + 1e-3 * i)
        fitted.append(model)
    signature = {"inputs": {f"pixel_{i}": "float64" for i in range(X.shape[1])}, "output": "int64"}
    return fitted, {"X": X, "signature": signature}


# -- workers (each runs in its own process) ----------------------------------------------------
def worker_loopline(folder: Path, n: int) -> dict[str, float]:
    from loopline.project import Project
    from loopline.store.artifacts import save_value

    fitted, extra = _models(n)
    project = Project.init(folder)
    start = time.perf_counter()
    for model in fitted:
        art = save_value(project.blobs, model, output="model")
        project.meta.add_version("model", art, source="benchmark")
        project.registry.register("digits", art, signature=extra["signature"], metrics={"n": 1.0})
    project.promote("digits", n, "production")
    save_register = time.perf_counter() - start
    start = time.perf_counter()
    loaded = project.load_model("digits", "production")
    load = time.perf_counter() - start
    assert (loaded.predict(extra["X"]) == fitted[-1].predict(extra["X"])).all()
    project.close()
    return {"save_register_s": save_register, "load_s": load}


def worker_mlflow(folder: Path, n: int) -> dict[str, float]:
    import logging
    import warnings

    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature

    warnings.filterwarnings("ignore")
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    fitted, extra = _models(n)
    signature = infer_signature(extra["X"][:5], fitted[0].predict(extra["X"][:5]))
    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    mlflow.set_experiment("bench")
    client = mlflow.MlflowClient()
    start = time.perf_counter()
    for model in fitted:
        with mlflow.start_run():
            mlflow.log_metric("n", 1.0)
            mlflow.sklearn.log_model(model, name="model", registered_model_name="digits", signature=signature)
    client.set_registered_model_alias("digits", "production", str(n))
    save_register = time.perf_counter() - start
    start = time.perf_counter()
    loaded = mlflow.sklearn.load_model("models:/digits@production")
    load = time.perf_counter() - start
    assert (loaded.predict(extra["X"]) == fitted[-1].predict(extra["X"])).all()
    return {"save_register_s": save_register, "load_s": load}


# -- the driver ---------------------------------------------------------------------------------
def mlflow_python() -> str:
    exe = MLFLOW_VENV / "bin" / "python"
    if not exe.exists():
        print(f"creating {MLFLOW_VENV} with {MLFLOW_SPEC} (one time)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(MLFLOW_VENV)], check=True)
        subprocess.run(
            [str(MLFLOW_VENV / "bin" / "pip"), "install", "-q", MLFLOW_SPEC, "scikit-learn"], check=True
        )
    return str(exe)


def run_worker(python: str, which: str, n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix=f"bench-registry-{which}-") as folder:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOPLINE_", "MLFLOW_"))}
        env["PYTHONWARNINGS"] = "ignore"
        proc = subprocess.run(
            [python, __file__, "--worker", which, "--dir", folder, "--versions", str(n)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
    if proc.returncode != 0:
        raise SystemExit(f"{which} worker failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def big_registry(url: str, folder: Path, models: int, versions: int, lookups: int) -> dict[str, float]:
    """Fill a registry (rows written in bulk: this times reads), then time listing and lookups."""
    import random

    import sqlalchemy as sa

    from loopline.cli.registry_commands import listing_json
    from loopline.project import Project
    from loopline.store.artifacts import save_value
    from loopline.store.metadata.engine import normalize_url
    from loopline.store.metadata.tables import model_aliases, model_events, model_versions, registered_models

    fitted, _ = _models(1)
    project = Project.init(folder, store=url)
    art = save_value(project.blobs, fitted[0], output="model")
    project.meta.add_version("model", art, source="benchmark")
    engine = sa.create_engine(normalize_url(url))
    now = time.time()
    from datetime import UTC, datetime

    at = datetime.fromtimestamp(now, UTC)
    names = [f"model-{i:04d}" for i in range(models)]
    metrics = json.dumps({"accuracy": 0.9, "f1": 0.88})
    signature = json.dumps({"inputs": {f"x{i}": "Float64" for i in range(8)}, "output": "Int64"})
    with engine.begin() as conn:
        conn.execute(
            registered_models.insert(),
            [{"name": n, "description": "", "created_at": at, "updated_at": at} for n in names],
        )
        conn.execute(
            model_versions.insert(),
            [
                {
                    "name": n,
                    "version": v,
                    "artifact_id": art.id,
                    "run_id": None,
                    "status": "ready",
                    "gates_passed": True,
                    "metrics_json": metrics,
                    "signature_json": signature,
                    "description": "",
                    "created_at": at,
                }
                for n in names
                for v in range(1, versions + 1)
            ],
        )
        conn.execute(
            model_aliases.insert(),
            [{"name": n, "alias": "production", "version": versions - 1, "updated_at": at} for n in names]
            + [{"name": n, "alias": "staging", "version": versions, "updated_at": at} for n in names],
        )
        conn.execute(
            model_events.insert(),
            [
                {"name": n, "kind": "register", "version": v, "actor": "bench", "reason": "", "at": at}
                for n in names
                for v in range(1, versions + 1)
            ],
        )
    engine.dispose()
    project.close()
    project = Project.open(folder)
    project.models()  # warm: connection pool, imports
    import gc

    gc.collect()  # as `loopline server` does once started: long-lived objects out of full passes
    gc.freeze()
    listing = []
    for _ in range(60):
        start = time.perf_counter()
        text = listing_json([m.to_json() for m in project.models()])  # what `models --json` prints
        listing.append(time.perf_counter() - start)
    assert len(json.loads(text)) == models
    rng = random.Random(0)
    lookup = []
    for _ in range(lookups):
        name = rng.choice(names)
        start = time.perf_counter()
        found = project.model(name, "production")
        lookup.append(time.perf_counter() - start)
        assert found.version == versions - 1
    project.close()
    return {
        "list_p50_ms": statistics.median(listing) * 1000,
        "list_p99_ms": p99(listing) * 1000,
        "alias_p50_ms": statistics.median(lookup) * 1000,
        "alias_p99_ms": p99(lookup) * 1000,
    }


def pg_schema(base: str) -> tuple[str, object]:
    import uuid

    import sqlalchemy as sa

    from loopline.store.metadata.engine import normalize_url

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(normalize_url(base))
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')

    def drop() -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        engine.dispose()

    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", drop


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--versions", type=int, default=50)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--peer-reps", type=int, default=3)
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--model-versions", type=int, default=10)
    parser.add_argument("--lookups", type=int, default=1000)
    parser.add_argument("--pg", default=os.environ.get("LOOPLINE_TEST_DATABASE_URL"))
    parser.add_argument("--worker", choices=["loopline", "mlflow"])
    parser.add_argument("--dir")
    args = parser.parse_args()
    if args.worker:
        work = worker_loopline if args.worker == "loopline" else worker_mlflow
        print(json.dumps(work(Path(args.dir), args.versions)))
        return

    peer_python = mlflow_python()
    version = subprocess.run(
        [peer_python, "-c", "import mlflow; print(mlflow.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = [run_worker(sys.executable, "loopline", args.versions) for _ in range(args.reps)]
    print(f"loopline: {ours}", flush=True)
    theirs = [run_worker(peer_python, "mlflow", args.versions) for _ in range(args.peer_reps)]
    print(f"mlflow {version}: {theirs}", flush=True)
    ll_save = statistics.median(r["save_register_s"] for r in ours)
    ml_save = statistics.median(r["save_register_s"] for r in theirs)
    ll_load = statistics.median(r["load_s"] for r in ours)
    ml_load = statistics.median(r["load_s"] for r in theirs)
    print(
        f"(a) save+register {args.versions} versions: loopline {ll_save:.3f}s, mlflow {ml_save:.3f}s "
        f"({ml_save / ll_save:.1f}x); load production: loopline {ll_load * 1000:.1f} ms, "
        f"mlflow {ml_load * 1000:.1f} ms",
        flush=True,
    )

    sizes = {}
    with tempfile.TemporaryDirectory(prefix="bench-registry-big-") as folder:
        url = f"sqlite:///{Path(folder) / 'sqlite' / 'meta.db'}"
        sizes["sqlite"] = big_registry(
            url, Path(folder) / "sqlite", args.models, args.model_versions, args.lookups
        )
        print(f"(b) sqlite {args.models}x{args.model_versions}: {sizes['sqlite']}", flush=True)
        if args.pg:
            pg_url, drop = pg_schema(args.pg)
            try:
                sizes["postgresql"] = big_registry(
                    pg_url, Path(folder) / "pg", args.models, args.model_versions, args.lookups
                )
            finally:
                drop()  # type: ignore[operator]
            print(f"(b) postgresql {args.models}x{args.model_versions}: {sizes['postgresql']}", flush=True)

    line = {
        "benchmark": "registry",
        "loopline_s": round(ll_save, 4),
        "peer": f"mlflow {version} (sqlite)",
        "peer_s": round(ml_save, 4),
        "ratio": round(ml_save / ll_save, 2),
        "versions": args.versions,
        "load_loopline_s": round(ll_load, 4),
        "load_peer_s": round(ml_load, 4),
        "load_ratio": round(ml_load / ll_load, 2),
    }
    for engine, figures in sizes.items():
        line |= {f"{engine}_{k}": round(v, 2) for k, v in figures.items()}
    line["registry_size"] = f"{args.models}x{args.model_versions}"
    print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
