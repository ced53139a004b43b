"""loopline's metadata on PostgreSQL (and SQLite) beside MLflow on the same engine, in one run.

Two workloads, the same data on both sides (PostgreSQL: a fresh schema each for loopline and
MLflow, dropped afterwards; SQLite: a fresh file each):

1. Run search in 30,000 tracked runs (dashboard.py's runs: sweeps of 100 nested trials in 5
   experiments, 3 params, a tag and 5 metrics each), over the 5 experiments, through each side's
   MLflow search: loopline's MlflowStore.search_runs (what `loopline server`'s runs/search runs,
   the filter parsed by the same grammar) and MLflow's `MlflowClient.search_runs` straight on the
   database URI (no server). Queries: `filtered` (a metric and a param, best f1 first, top 100:
   the headline), `newest` (the UI's first page of 100), `like_pages` (a LIKE on a tag and a
   param, every page of 1,000). Both must find the same runs in the same order.
2. A registry of 1,000 models x 10 versions (production on the 9th, staging on the 10th): the
   alias lookup `NAME@production` of 1,000 random models, each call timed: loopline's
   `Project.model(name, "production")` (the registry's resolve, what `loopline serve` and
   `models:/NAME@production` loading do) and the MLflow API's version-by-alias
   (registry get_alias + the version's MLflow extras), against MLflow's
   `MlflowClient.get_model_version_by_alias`.

Rows are written in bulk through each side's own SQLAlchemy tables (only reads are timed), then
ANALYZEd on both. MLflow runs in its own venv as a long-lived worker (pg_metadata_peer.py), so
the repetitions alternate between the two sides and both stay warm; MLflow's PostgreSQL driver,
psycopg2-binary, goes into benchmarks/.venvs/mlflow-pg-driver on first use when its venv has none.

Run: `python benchmarks/pg_metadata.py [--pg URL] [--engines postgresql,sqlite] [--reps 5]`; the
last two lines are JSON (search, then alias), with the PostgreSQL figures as headline and the
SQLite ones beside them.
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
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
DRIVER_VENV = BENCH_DIR / ".venvs" / "mlflow-pg-driver"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CHUNK = 5_000
EXPERIMENTS = 5
QUERIES: dict[str, dict[str, Any]] = {
    "filtered": {
        "query": "metrics.accuracy > 0.5 and params.C = '1'",
        "order_by": ["metrics.f1 DESC"],
        "max_results": 100,
        "pages": False,
    },
    "newest": {"query": "", "order_by": ["attributes.start_time DESC"], "max_results": 100, "pages": False},
    "like_pages": {
        "query": "tags.team LIKE 'a%' and params.C = '10'",
        "order_by": [],
        "max_results": 1000,
        "pages": True,
    },
}


def log(text: str) -> None:
    print(text, flush=True)


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


# -- the peer: MLflow in its own venv ------------------------------------------------------------
def mlflow_python(explicit: str | None) -> Path:
    candidates = [Path(explicit)] if explicit else []
    if os.environ.get("LOOPLINE_BENCH_MLFLOW_VENV"):
        candidates.append(Path(os.environ["LOOPLINE_BENCH_MLFLOW_VENV"]) / "bin" / "python")
    candidates += [
        BENCH_DIR.parent / ".venv-mlflow" / "bin" / "python",
        BENCH_DIR / ".venvs" / "mlflow" / "bin" / "python",
    ]
    for python in candidates:
        if python.exists():
            return python
    from mlflow_server import mlflow_venv  # the pinned venv the MLflow benchmarks share

    return mlflow_venv() / "bin" / "python"


def driver_site(python: Path) -> str | None:
    """Where psycopg2 is for the MLflow venv: nowhere extra when it has a driver, else our small
    venv of psycopg2-binary (made on first use; never installed into MLflow's venv)."""
    has = subprocess.run([str(python), "-c", "import psycopg2"], capture_output=True, check=False)
    if has.returncode == 0:
        return None
    driver = DRIVER_VENV / "bin" / "python"
    if not driver.exists():
        log(f"installing psycopg2-binary into {DRIVER_VENV} (one time)")
        subprocess.run([str(python), "-m", "venv", str(DRIVER_VENV)], check=True)  # MLflow's Python
    has = subprocess.run([str(driver), "-c", "import psycopg2"], capture_output=True, check=False)
    if has.returncode != 0:
        subprocess.run([str(DRIVER_VENV / "bin" / "pip"), "install", "-q", "psycopg2-binary"], check=True)
    where = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return subprocess.run(
        [str(driver), "-c", where], capture_output=True, text=True, check=True
    ).stdout.strip()


class Peer:
    """The MLflow worker process: one JSON command a line, one answer a line."""

    def __init__(self, python: Path, uri: str, site: str | None, work: Path) -> None:
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "LOOPLINE_", "PYTHONPATH"))
        }
        if site:
            env["PG_DRIVER_SITE"] = site
        self.stderr = (work / "mlflow-worker.log").open("w")
        self.proc = subprocess.Popen(
            [str(python), str(BENCH_DIR / "pg_metadata_peer.py"), uri],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            env=env,
        )
        self.version = self._read()["ready"]

    def _read(self) -> dict[str, Any]:
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line:
            self.stderr.flush()
            raise SystemExit(f"the MLflow worker stopped:\n{Path(self.stderr.name).read_text()[-3000:]}")
        found: dict[str, Any] = json.loads(line)
        return found

    def call(self, what: str, **args: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"do": what, **args}) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.call_exit()
        self.stderr.close()

    def call_exit(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write('{"do": "exit"}\n')
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


# -- stores: a fresh schema (PostgreSQL) or file (SQLite) per side -----------------------------
@contextmanager
def pg_schema(base: str, prefix: str) -> Iterator[str]:
    """A schema of its own (as tests/conftest.py's), dropped afterwards; its URL."""
    import sqlalchemy as sa

    from loopline.store.metadata.engine import normalize_url

    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(normalize_url(base))
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        engine.dispose()


def mlflow_uri(url: str) -> str:
    """The same database for MLflow through psycopg2, named (SQLAlchemy 2.1, in MLflow's venv,
    takes `postgresql://` to mean psycopg 3)."""
    return "postgresql+psycopg2://" + url.split("://", 1)[1] if url.startswith("postgresql") else url


# -- loopline's side -----------------------------------------------------------------------------
def _bulk(conn: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        conn.execute(table.insert(), rows[start : start + CHUNK])


def _analyze(engine: Any) -> None:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.exec_driver_sql("ANALYZE")
        conn.commit()


def load_runs(project: Any, rows: list[dict[str, Any]]) -> list[int]:
    """dashboard.py's runs into loopline's tables in bulk; the experiments' ids."""
    from loopline.store.metadata.tables import PARENT_TAG, metrics, metrics_latest, run_params, run_tags, runs

    tracking = project.meta.tracking
    ids = [tracking.ensure_experiment(f"sweep-exp-{e}").id for e in range(EXPERIMENTS)]
    at = {r["id"]: datetime.fromtimestamp(r["start_ms"] / 1000, UTC) for r in rows}
    run_rows = [
        {
            "id": r["id"],
            "status": "succeeded",
            "started_at": at[r["id"]],
            "finished_at": datetime.fromtimestamp(r["start_ms"] / 1000 + 1, UTC),
            "executor": "tracking",
            "experiment_id": ids[r["experiment"]],
            "name": r["name"],
            "user": "bench",
        }
        for r in rows
    ]
    params = [{"run_id": r["id"], "key": k, "value": v} for r in rows for k, v in r["params"].items()]
    tags = [{"run_id": r["id"], "key": k, "value": v} for r in rows for k, v in r["tags"].items()]
    tags += [{"run_id": r["id"], "key": PARENT_TAG, "value": r["parent"]} for r in rows if r["parent"]]
    points = [
        {"run_id": r["id"], "key": k, "value": v, "step": 0, "timestamp": r["start_ms"] / 1000}
        for r in rows
        for k, v in r["metrics"].items()
    ]
    engine = project.meta.database.engine
    with engine.begin() as conn:
        _bulk(conn, runs, run_rows)
        _bulk(conn, run_params, params)
        _bulk(conn, run_tags, tags)
        _bulk(conn, metrics, [{**p, "step_name": ""} for p in points])
        _bulk(conn, metrics_latest, points)
    _analyze(engine)
    return ids


def loopline_search(project: Any, experiments: list[int], spec: dict[str, Any]) -> Callable[[], list[str]]:
    """One search as `loopline server`'s MLflow runs/search runs it (every page when asked)."""
    from loopline.core.experiments import parse_order
    from loopline.core.search_filter import parse
    from loopline.core.search_specs import MLFLOW_RUN_ORDER, MLFLOW_RUNS

    store = project.mlflow

    def once() -> list[str]:
        filters = parse(spec["query"], MLFLOW_RUNS) if spec["query"] else []
        order = [parse_order(o, spec=MLFLOW_RUNS, orderable=MLFLOW_RUN_ORDER) for o in spec["order_by"]]
        ids: list[str] = []
        offset, limit = 0, spec["max_results"]
        while True:
            found, more = store.search_runs(experiments, filters, order, limit=limit, offset=offset)
            ids += [r.id for r in found]
            offset += limit
            if not spec["pages"] or not more:
                return ids

    return once


def load_registry(project: Any, models: int, versions: int) -> list[str]:
    """models x versions in loopline's registry tables in bulk; the model names."""
    from loopline.store.metadata.tables import artifacts, model_aliases, model_versions, registered_models

    at = datetime.now(UTC)
    names = [f"model-{i:04d}" for i in range(models)]
    art = "0" * 64  # one model artifact row every version points at (lookups read no blobs)
    metrics = json.dumps({"accuracy": 0.9, "f1": 0.88})
    engine = project.meta.database.engine
    with engine.begin() as conn:
        conn.execute(
            artifacts.insert(), [{"id": art, "kind": "model", "blob": art, "size": 1, "created_at": at}]
        )
        _bulk(
            conn,
            registered_models,
            [{"name": n, "description": "", "created_at": at, "updated_at": at} for n in names],
        )
        _bulk(
            conn,
            model_versions,
            [
                {
                    "name": n,
                    "version": v,
                    "artifact_id": art,
                    "status": "ready",
                    "gates_passed": True,
                    "metrics_json": metrics,
                    "description": "",
                    "created_at": at,
                }
                for n in names
                for v in range(1, versions + 1)
            ],
        )
        _bulk(
            conn,
            model_aliases,
            [{"name": n, "alias": "production", "version": versions - 1, "updated_at": at} for n in names]
            + [{"name": n, "alias": "staging", "version": versions, "updated_at": at} for n in names],
        )
    _analyze(engine)
    return names


def timed_each(fn: Callable[[str], Any], names: list[str]) -> list[float]:
    times = []
    for name in names:
        started = time.perf_counter()
        fn(name)
        times.append(time.perf_counter() - started)
    return times


# -- one engine: both sides, alternating -------------------------------------------------------
def search_case(project: Any, peer: Peer, experiments: list[int], reps: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, spec in QUERIES.items():
        ours = loopline_search(project, experiments, spec)
        ours(), peer.call("search", **spec, reps=1)  # warm-up: first compilation, caches
        ours_t: list[float] = []
        peer_t: list[float] = []
        for _ in range(reps):
            started = time.perf_counter()
            ids = ours()
            ours_t.append(time.perf_counter() - started)
            got = peer.call("search", **spec, reps=1)
            peer_t += got["times"]
            if ids != got["ids"]:
                raise SystemExit(
                    f"{label}: loopline found {len(ids)} runs, MLflow {len(got['ids'])}, or in another order"
                )
        o, p = statistics.median(ours_t), statistics.median(peer_t)
        out[label] = {
            "found": len(ids),
            "loopline_s": o,
            "peer_s": p,
            "ratio": p / o,
            "loopline_reps": ours_t,
            "peer_reps": peer_t,
        }
        log(f"  search {label:10} {len(ids):>6} runs: loopline {o:.3f}s, mlflow {p:.3f}s ({p / o:.1f}x)")
    return out


def alias_case(
    project: Any, peer: Peer, names: list[str], versions: int, lookups: int, reps: int
) -> dict[str, Any]:
    rng = random.Random(0)
    asked = [rng.choice(names) for _ in range(lookups)]
    want = versions - 1

    def ours(name: str) -> None:
        if project.model(name, "production").version != want:
            raise SystemExit(f"loopline: {name}@production is not version {want}")

    def ours_mlflow_api(name: str) -> None:  # what loopline server's registered-models/alias does
        version = project.registry.repo.get_alias(name, "production")
        project.mlflow.version_extras([(name, version.version)])
        if version.version != want:
            raise SystemExit(f"loopline: {name}@production is not version {want}")

    timed_each(ours, asked[:50]), timed_each(ours_mlflow_api, asked[:50])
    peer.call("alias", names=asked[:50], alias="production", want=want)  # warm-up
    times: dict[str, list[float]] = {"loopline": [], "loopline_mlflow_api": [], "peer": []}
    for _ in range(reps):
        times["loopline"] += timed_each(ours, asked)
        times["loopline_mlflow_api"] += timed_each(ours_mlflow_api, asked)
        times["peer"] += peer.call("alias", names=asked, alias="production", want=want)["times"]
    out = {k: {"median_ms": statistics.median(v) * 1000, "p99_ms": p99(v) * 1000} for k, v in times.items()}
    log(
        f"  alias lookups ({len(asked)} x {reps}): "
        + ", ".join(f"{k} median {v['median_ms']:.2f} ms p99 {v['p99_ms']:.2f} ms" for k, v in out.items())
    )
    return out


def run_engine(
    engine: str,
    urls: tuple[str, str],
    args: argparse.Namespace,
    rows: list[dict[str, Any]],
    data: Path,
    work: Path,
    python: Path,
    site: str | None,
) -> tuple[str, dict[str, Any]]:
    from loopline.project import Project

    ours_url, peer_url = urls
    with ExitStack() as stack:
        project = Project.init(work / f"{engine}-project", store=ours_url)
        stack.callback(project.close)
        started = time.perf_counter()
        experiments = load_runs(project, rows)
        ours_load = time.perf_counter() - started
        peer = Peer(python, mlflow_uri(peer_url), site, work)
        stack.callback(peer.close)
        peer_load = peer.call(
            "load", data=str(data), experiments=[f"sweep-exp-{e}" for e in range(EXPERIMENTS)]
        )
        peer_s = peer_load["seconds"]
        log(f"{engine}: {len(rows):,} runs loaded (loopline {ours_load:.0f}s, mlflow {peer_s:.0f}s)")
        searches = search_case(project, peer, experiments, args.reps)
        names = load_registry(project, args.models, args.versions)
        peer.call("registry", models=args.models, versions=args.versions)
        aliases = alias_case(project, peer, names, args.versions, args.lookups, args.reps)
        return peer.version, {"search": searches, "alias": aliases}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default=os.environ.get("LOOPLINE_BENCH_DATABASE_URL")
                        or os.environ.get("LOOPLINE_TEST_DATABASE_URL") or DEFAULT_PG)  # fmt: skip
    parser.add_argument("--engines", default="postgresql,sqlite")
    parser.add_argument("--runs", type=int, default=30_000)
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--lookups", type=int, default=1000, help="alias lookups a repetition")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--mlflow-python", help="python of a venv with mlflow (default: as dashboard.py)")
    args = parser.parse_args()
    sys.path.insert(0, str(BENCH_DIR))
    from dashboard import make_runs  # the 30,000 runs dashboard.py and its MLflow store are built of

    python = mlflow_python(args.mlflow_python)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    site = driver_site(python) if "postgresql" in engines else None
    rows = make_runs(args.runs)
    results: dict[str, dict[str, Any]] = {}
    version = ""
    with tempfile.TemporaryDirectory(prefix="bench-pg-metadata-") as tmp:
        work = Path(tmp)
        data = work / "runs.json"
        data.write_text(json.dumps(rows))
        for engine in engines:
            with ExitStack() as stack:
                if engine == "postgresql":
                    urls = (stack.enter_context(pg_schema(args.pg, "bench_ll")),
                            stack.enter_context(pg_schema(args.pg, "bench_mf")))  # fmt: skip
                else:
                    urls = (f"sqlite:///{work / 'sqlite-meta.db'}", f"sqlite:///{work / 'mlflow.db'}")
                version, results[engine] = run_engine(engine, urls, args, rows, data, work, python, site)
    head = engines[0]
    peer = f"mlflow {version} MlflowClient on {{}} (no server)"
    search = results[head]["search"]["filtered"]
    rounded = {
        e: {
            q: {k: round(v, 4) for k, v in f.items() if not k.endswith("reps")}
            for q, f in r["search"].items()
        }
        for e, r in results.items()
    }
    print(json.dumps({
        "benchmark": "pg_metadata_search", "engine": head,
        "loopline_s": round(search["loopline_s"], 4), "peer": peer.format(head),
        "peer_s": round(search["peer_s"], 4), "ratio": round(search["ratio"], 2),
        "runs": args.runs, "query": QUERIES["filtered"], "target_s": 1.0, "reps": args.reps,
        "queries": rounded,
    }), flush=True)  # fmt: skip
    alias = results[head]["alias"]
    ours, theirs = alias["loopline"], alias["peer"]
    print(json.dumps({
        "benchmark": "pg_metadata_alias", "engine": head,
        "loopline_s": round(ours["median_ms"] / 1000, 6), "peer": peer.format(head),
        "peer_s": round(theirs["median_ms"] / 1000, 6),
        "ratio": round(theirs["median_ms"] / ours["median_ms"], 2),
        "loopline_p99_ms": round(ours["p99_ms"], 2), "peer_p99_ms": round(theirs["p99_ms"], 2),
        "p99_ratio": round(theirs["p99_ms"] / ours["p99_ms"], 2), "target_p99_ms": 50,
        "registry": f"{args.models}x{args.versions}", "lookups": args.lookups * args.reps,
        "engines": {e: {k: {m: round(x, 3) for m, x in v.items()} for k, v in r["alias"].items()}
                    for e, r in results.items()},
    }), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
