"""Page and list-endpoint latency of `loopline server` on a big project, beside MLflow's UI backend.

The project: 30,000 tracked runs (params, metrics and tags, in 5 experiments: sweeps of 100
trials, each trial a nested run, written through the tracking store's own write path for a tune
step's trials), 1,000 model versions (100 models x 10 versions, production on the 9th and staging
on the 10th, through the registry), 100 datasets (`Project.add`; the first five with a second
version), a pipeline run and a labeling project. It is built once and kept under /tmp, keyed by
VERSION and the sizes (delete the folder, or bump VERSION when the build changes).

`loopline server` runs as a user starts it (the real CLI, in a subprocess, a viewer's token from
`loopline users add` / `tokens create`); every page and the first page of every list endpoint
of the dashboard's URL plan is asked for N times after a warm-up, one request at a time over
one keep-alive connection, and its p50 and p95 printed. A path the server answers with its
unknown-route 404 is printed "not built" and skipped, so the script runs before and after each
area lands. The issue's target: every one under 200 ms p95.

The peer: `mlflow server` (SQLite) holding the same 30,000 runs, asked what its UI asks for the
runs table, `POST /ajax-api/2.0/mlflow/runs/search` (and `/api/2.0/mlflow/runs/search`) with
max_results=100, newest first, over every experiment; beside it loopline's `/api/v1/runs` first
page of 100 and loopline server's own MLflow-compatible runs/search, on the same runs. The
requests alternate between the two servers, so a busy moment of this shared machine falls on
both; the ratio is MLflow's p95 over loopline's (above 1: loopline is faster).

Run: `python benchmarks/dashboard.py [--quick] [-n 30]`; the last line is the JSON summary.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
LOOPLINE = str(Path(sys.executable).with_name("loopline"))
VERSION = 1  # of the cached project's build: bump it when what build() makes changes
EXPERIMENTS = 5
SWEEP = 100  # runs per sweep: a parent and its nested trials
MLFLOW_VENVS = (
    Path(os.environ.get("LOOPLINE_BENCH_MLFLOW_VENV", BENCH_DIR / ".venvs" / "mlflow")),
    BENCH_DIR.parent / ".venv-mlflow",  # the one `make test` builds
)
TARGET_MS = 200.0


@dataclass(frozen=True)
class Sizes:
    runs: int
    models: int
    versions: int
    datasets: int

    @property
    def key(self) -> str:
        return f"v{VERSION}-{self.runs}r-{self.models}x{self.versions}m-{self.datasets}d"


FULL = Sizes(runs=30_000, models=100, versions=10, datasets=100)
QUICK = Sizes(runs=2_000, models=10, versions=5, datasets=10)

STEPS_PY = """
import numpy as np
import polars as pl
from sklearn.linear_model import LogisticRegression

def data(n: int = 400, seed: int = 0):
    rng = np.random.default_rng(seed)
    frame = pl.DataFrame({"x1": rng.normal(0, 1, n), "x2": rng.normal(5, 2, n)})
    return frame.with_columns(label=(frame["x1"] - 0.3 * (frame["x2"] - 5) > 0).cast(pl.Int64))

def train(table, target: str = "label"):
    X = table.drop(target).to_pandas()
    return LogisticRegression(max_iter=300).fit(X, table[target].to_numpy())
"""
YAML = """
steps:
  data: {uses: "bench_steps:data", outputs: [table]}
  train: {uses: "bench_steps:train", inputs: [table], outputs: [model]}
"""

# In the MLflow venv: its schema made by its own store, then the same runs in bulk (its
# SqlAlchemyStore takes minutes per thousand runs; tracking.py fills its tables the same way).
MLFLOW_POPULATE = r"""
import json, sqlite3, sys, logging
logging.disable(logging.WARNING)
cfg = json.loads(sys.argv[1])
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
store = SqlAlchemyStore(cfg["uri"], cfg["artifacts"])
ids = [store.create_experiment(name) for name in cfg["experiments"]]
rows = json.load(open(cfg["data"]))
db = sqlite3.connect(cfg["path"])
with db:
    db.executemany(
        "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status,"
        " start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id)"
        " VALUES (?, ?, 'LOCAL', '', '', 'bench', 'FINISHED', ?, ?, '', 'active', '', ?)",
        [(r["id"], r["name"], r["start_ms"], r["start_ms"] + 1000, int(ids[r["experiment"]])) for r in rows],
    )
    db.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)",
                   [(k, v, r["id"]) for r in rows for k, v in r["params"].items()])
    tags = [(k, v, r["id"]) for r in rows for k, v in r["tags"].items()]
    tags += [("mlflow.runName", r["name"], r["id"]) for r in rows]
    tags += [("mlflow.parentRunId", r["parent"], r["id"]) for r in rows if r["parent"]]
    db.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)", tags)
    metric_rows = [(k, v, r["start_ms"], r["id"], 0, 0) for r in rows for k, v in r["metrics"].items()]
    for table in ("metrics", "latest_metrics"):
        db.executemany(
            f"INSERT INTO {table} (key, value, timestamp, run_uuid, step, is_nan) VALUES (?, ?, ?, ?, ?, ?)",
            metric_rows,
        )
db.execute("ANALYZE")
print(json.dumps({"experiment_ids": ids}))
"""


def log(text: str) -> None:
    print(text, flush=True)


def quiet_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("LOOPLINE_", "MLFLOW_"))}


def mlflow_venv() -> Path:
    for venv in MLFLOW_VENVS:
        if (venv / "bin" / "mlflow").exists():
            return venv
    from mlflow_server import mlflow_venv as make  # the pinned venv the MLflow benchmarks share

    return make()


# -- the runs, the same for both ---------------------------------------------------------------
def make_runs(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Sweeps of SWEEP runs (a parent, then its trials), spread over the experiments."""
    rng = random.Random(seed)
    base = 1_700_000_000_000
    rows: list[dict[str, Any]] = []
    parent = ""
    for i in range(n):
        first = i % SWEEP == 0
        run_id = f"{rng.getrandbits(128):032x}"
        parent = run_id if first else parent
        rows.append(
            {
                "id": run_id,
                "name": f"sweep-{i // SWEEP}" if first else f"trial-{i}",
                "experiment": (i // SWEEP) % EXPERIMENTS,
                "parent": "" if first else parent,
                "start_ms": base + i * 1000,
                "params": {
                    "C": rng.choice(["0.01", "0.1", "1", "10"]),
                    "solver": rng.choice(["lbfgs", "saga"]),
                    "max_iter": str(rng.choice([100, 300, 1000])),
                },
                "tags": {"team": rng.choice(["a", "b", "c"])},
                "metrics": {k: rng.random() for k in ("accuracy", "f1", "loss", "auc", "precision")},
            }
        )
    return rows


def fill_runs(project: Any, rows: list[dict[str, Any]]) -> None:
    """Each sweep: its parent run, its trials in one transaction (the runner's path for a tune
    step's trials), the parent finished."""
    from loopline.pipeline.step import ChildRun

    tracking = project.meta.tracking
    names = [f"sweep-exp-{e}" for e in range(EXPERIMENTS)]
    ids = [tracking.ensure_experiment(name).id for name in names]
    for start in range(0, len(rows), SWEEP):
        head, *trials = rows[start : start + SWEEP]
        parent = tracking.create_run(
            ids[head["experiment"]],
            name=head["name"],
            user="bench",
            tags=head["tags"],
            started_at=datetime.fromtimestamp(head["start_ms"] / 1000, UTC),
        )
        stamp = head["start_ms"] / 1000
        tracking.log_batch(
            parent.id, [(k, v, 0, stamp) for k, v in head["metrics"].items()], params=head["params"]
        )
        children = [
            ChildRun(
                name=t["name"],
                experiment=names[t["experiment"]],
                metrics=[(k, v, 0, t["start_ms"] / 1000) for k, v in t["metrics"].items()],
                params=t["params"],
                tags=t["tags"],
                started_at=t["start_ms"] / 1000,
            )
            for t in trials
        ]
        tracking.record_child_runs(parent.id, children, step_name="tune")
        tracking.update_run(parent.id, status="succeeded")
        if (start // SWEEP) % 50 == 0:
            log(f"  runs: {start + len(trials) + 1:,} of {len(rows):,}")


# -- the cached project ------------------------------------------------------------------------
def build(sizes: Sizes, root: Path) -> dict[str, Any]:
    """The project and the MLflow store, made once; returns what the benchmark asks for."""
    meta_file = root / "meta.json"
    if meta_file.exists():
        log(f"reusing {root}")
        found: dict[str, Any] = json.loads(meta_file.read_text())
        return found
    if root.exists():
        shutil.rmtree(root)
    project_dir, peer_dir = root / "project", root / "mlflow"
    project_dir.mkdir(parents=True)
    peer_dir.mkdir()
    (project_dir / "loopline.yaml").write_text(YAML)
    (project_dir / "bench_steps.py").write_text(STEPS_PY)
    sys.path.insert(0, str(project_dir))
    from loopline import Project

    started = time.perf_counter()
    project = Project.init(project_dir)
    pipeline_run = project.run()
    model_art = project.resolve("model")
    log(f"building {root.name}: {sizes.datasets} datasets")
    for d in range(sizes.datasets):
        csv = project_dir / "incoming.csv"
        texts = [f"review {d}-{i}: {'good' if i % 3 else 'bad'}" for i in range(20)]
        lines = ["_item_id,text,n"] + [f"i{i:03d},{t},{i}" for i, t in enumerate(texts)]
        csv.write_text("\n".join(lines) + "\n")
        project.add(csv, f"ds-{d:03d}")
        if d < 5:
            csv.write_text("\n".join([*lines, f"i999,one more {d},999"]) + "\n")
            project.add(csv, f"ds-{d:03d}")
    project.annotate_create("reviews", "ds-000", ["good", "bad"], text_field="text")
    log(f"  {sizes.models} models x {sizes.versions} versions")
    rng = random.Random(1)
    for m in range(sizes.models):
        name = f"model-{m:03d}"
        for _ in range(sizes.versions):
            project.registry.register(
                name, model_art, metrics={"accuracy": rng.uniform(0.7, 0.95)}, gates_passed=True
            )
        project.promote(name, sizes.versions - 1, "production")
        project.promote(name, sizes.versions, "staging")
    log(f"  {sizes.runs:,} tracked runs")
    rows = make_runs(sizes.runs)
    fill_runs(project, rows)
    project.close()
    subprocess.run(
        [LOOPLINE, "users", "add", "bench", "--role", "viewer"],
        cwd=project_dir,
        env=quiet_env(),
        check=True,
        capture_output=True,
    )
    log(f"  the same runs into MLflow's store ({time.perf_counter() - started:.0f}s so far)")
    data = root / "runs.json"
    data.write_text(json.dumps(rows))
    db = peer_dir / "mlflow.db"
    done = subprocess.run(
        [
            str(mlflow_venv() / "bin" / "python"),
            "-c",
            MLFLOW_POPULATE,
            json.dumps(
                {
                    "uri": f"sqlite:///{db}",
                    "path": str(db),
                    "artifacts": str(peer_dir / "artifacts"),
                    "data": str(data),
                    "experiments": [f"sweep-exp-{e}" for e in range(EXPERIMENTS)],
                }
            ),
        ],
        capture_output=True,
        text=True,
        env=quiet_env(),
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"filling MLflow's store failed:\n{done.stderr[-3000:]}")
    data.unlink()
    meta = {
        "pipeline_run": pipeline_run.id,
        "mlflow_experiments": json.loads(done.stdout.strip().splitlines()[-1])["experiment_ids"],
        "sizes": sizes.__dict__,
        "build_s": round(time.perf_counter() - started, 1),
    }
    meta_file.write_text(json.dumps(meta))  # written last: its presence says the build is whole
    log(f"built in {meta['build_s']}s")
    return meta


# -- servers -----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(
    name: str, cmd: list[str], cwd: Path, probe: str, stack: ExitStack, env: dict[str, str] | None = None
) -> str:
    """Start a server for the whole benchmark (its process group ended when the stack closes)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    out = (cwd / f"{name}.log").open("wb")
    stack.callback(out.close)
    proc = subprocess.Popen(
        [*cmd, "--port", str(port)], cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
        start_new_session=True, env=quiet_env() | (env or {}),
    )  # fmt: skip
    stack.callback(stop, proc)
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{name} exited with {proc.returncode}; see {cwd / f'{name}.log'}")
        try:
            if httpx.get(url + probe, timeout=2).status_code < 500:
                return url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{name} did not start in 120s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


# -- timing ------------------------------------------------------------------------------------
@dataclass
class Target:
    label: str
    client: Any
    method: str
    path: str
    body: Any = None


def unknown_route(response: Any) -> bool:
    """The server's 404 for a path no route has (not a missing object of a route that exists):
    loopline's `Not Found` (JSON under /api, its error page elsewhere) or MLflow's
    ENDPOINT_NOT_FOUND."""
    if response.status_code != 404:
        return False
    text = response.text
    if "ENDPOINT_NOT_FOUND" in text or 'role="alert">Not Found<' in text:
        return True
    try:
        return bool(response.json().get("message") == "Not Found")
    except (ValueError, AttributeError):
        return False


def once(target: Target) -> tuple[float, Any]:
    """One request's time in ms. A keep-alive connection the server closed just as it was reused
    is asked again on a new one (that try is not timed)."""
    import httpx

    for attempt in range(2):
        started = time.perf_counter()
        try:
            response = target.client.request(target.method, target.path, json=target.body)
        except httpx.RemoteProtocolError:
            if attempt:
                raise
            continue
        _ = response.content
        return (time.perf_counter() - started) * 1000, response
    raise AssertionError("unreachable")


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def measure(targets: list[Target], n: int, warmup: int = 3) -> Iterator[tuple[Target, int, list[float]]]:
    """Each target's status and n timings in ms, the targets' requests alternating (a busy moment
    falls on all alike); a target its server has no route for gives no timings."""
    live: list[tuple[Target, int]] = []
    for target in targets:
        _, response = once(target)
        if unknown_route(response):
            yield target, 404, []
            continue
        for _ in range(warmup - 1):
            once(target)
        live.append((target, response.status_code))
    times: dict[str, list[float]] = {t.label: [] for t, _ in live}
    for _ in range(n):
        for target, _status in live:
            times[target.label].append(once(target)[0])
    for target, status in live:
        yield target, status, times[target.label]


def table(rows: list[tuple[str, str, str, str]]) -> None:
    width = max(len(r[0]) for r in rows)
    for r in rows:
        log(f"  {r[0]:<{width}}  {r[1]:>6}  {r[2]:>9}  {r[3]:>9}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small project (a smoke run)")
    parser.add_argument("-n", type=int, default=None, help="timed requests per path (30; quick 10)")
    parser.add_argument("--peer-n", type=int, default=None, help="timed runs searches each (as -n)")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    n = args.n or (10 if args.quick else 30)
    root = Path("/tmp") / f"loopline-bench-dashboard-{sizes.key}"
    meta = build(sizes, root)
    project_dir, peer_dir = root / "project", root / "mlflow"

    import httpx

    made = subprocess.run(
        [LOOPLINE, "tokens", "create", "bench", "--name", f"bench-{int(time.time())}", "--json"],
        cwd=project_dir, env=quiet_env(), check=True, capture_output=True, text=True,
    )  # fmt: skip
    token = json.loads(made.stdout)["token"]
    venv = mlflow_venv()
    peer_cmd = [
        str(venv / "bin" / "mlflow"),
        "server",
        "--backend-store-uri",
        f"sqlite:///{peer_dir / 'mlflow.db'}",
    ]
    peer_cmd += ["--default-artifact-root", str(peer_dir / "artifacts"), "--host", "127.0.0.1"]
    with ExitStack() as stack:
        ours_url = serve(
            "loopline", [LOOPLINE, "server", "--log-level", "warning"], project_dir, "/health", stack
        )
        # its job consumers (GenAI optimizers) off: they have nothing to do with runs, and would
        # take this 2-core machine's CPU from both servers
        jobs_off = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        peer_url = serve("mlflow", peer_cmd, peer_dir, "/health", stack, jobs_off)
        ours = stack.enter_context(
            httpx.Client(base_url=ours_url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        )
        peer = stack.enter_context(httpx.Client(base_url=peer_url, timeout=60))
        listed = ours.post("/api/2.0/mlflow/experiments/search", json={"max_results": 1000}).json()
        our_experiments = [
            e["experiment_id"] for e in listed.get("experiments", []) if e["name"].startswith("sweep-exp-")
        ]
        if len(our_experiments) != EXPERIMENTS:
            raise SystemExit(f"loopline server lists experiments {listed}: not the {EXPERIMENTS} sweeps")
        first_runs = ours.post(
            "/api/2.0/mlflow/runs/search",
            json={
                "experiment_ids": our_experiments,
                "max_results": 2,
                "order_by": ["attributes.start_time DESC"],
            },
        ).json()
        run_a, run_b = ([r["info"]["run_id"] for r in first_runs.get("runs", [])] + ["none", "none"])[:2]
        version = sizes.versions
        pages = [
            "/", "/data", "/data/ds-000", "/data/ds-000/versions/1", "/data/ds-000/diff?a=1&b=2",
            "/lineage?ref=model", "/pipelines", f"/pipelines/{meta['pipeline_run']}", "/runs",
            f"/runs/compare?run={run_a}&run={run_b}", f"/runs/{run_a}", "/experiments", "/models",
            "/models/model-000", f"/models/model-000/versions/{version}", "/monitoring",
            "/monitoring/model-000", "/labeling", "/labeling/reviews", "/audit",
        ]  # fmt: skip
        lists = [
            "/api/v1/datasets", "/api/v1/pipeline-runs", "/api/v1/experiments", "/api/v1/runs",
            "/api/v1/models", "/api/v1/models/model-000/history", "/api/v1/monitoring/reports",
            "/api/v1/labeling", "/api/v1/audit",
        ]  # fmt: skip
        log(f"\nloopline server on {sizes.runs:,} runs, {sizes.models * sizes.versions:,} model versions, "
            f"{sizes.datasets} datasets: {n} requests each after a warm-up")  # fmt: skip
        rows = [("path", "status", "p50 ms", "p95 ms")]
        results: dict[str, dict[str, Any]] = {}
        for target, status, times in measure([Target(p, ours, "GET", p) for p in pages + lists], n):
            if not times:
                rows.append((target.label, "", "not built", ""))
                continue
            results[target.label] = {
                "status": status,
                "p50_ms": statistics.median(times),
                "p95_ms": p95(times),
            }
            rows.append((target.label, str(status), f"{statistics.median(times):.1f}", f"{p95(times):.1f}"))
        table(rows)

        search = {
            "max_results": 100,
            "order_by": ["attributes.start_time DESC"],
            "run_view_type": "ACTIVE_ONLY",
        }
        peer_ids = [str(i) for i in meta["mlflow_experiments"]]
        duel = [
            Target("loopline GET /api/v1/runs?limit=100", ours, "GET", "/api/v1/runs?limit=100"),
            Target("loopline POST /api/2.0/mlflow/runs/search", ours, "POST", "/api/2.0/mlflow/runs/search",
                   {**search, "experiment_ids": our_experiments}),
            Target("mlflow POST /api/2.0/mlflow/runs/search", peer, "POST", "/api/2.0/mlflow/runs/search",
                   {**search, "experiment_ids": peer_ids}),
            Target("mlflow POST /ajax-api/2.0/mlflow/runs/search", peer, "POST",
                   "/ajax-api/2.0/mlflow/runs/search", {**search, "experiment_ids": peer_ids}),
        ]  # fmt: skip
        duel_n = args.peer_n or n
        log(f"\nthe runs table's first 100 of {sizes.runs:,} runs: {duel_n} requests each, alternating")
        rows = [("request", "status", "p50 ms", "p95 ms")]
        peer_results: dict[str, dict[str, Any]] = {}
        for target, status, times in measure(duel, duel_n):
            if not times:
                rows.append((target.label, "", "not built", ""))
                continue
            peer_results[target.label] = {
                "status": status,
                "p50_ms": statistics.median(times),
                "p95_ms": p95(times),
            }
            rows.append((target.label, str(status), f"{statistics.median(times):.1f}", f"{p95(times):.1f}"))
        table(rows)

    ui_search = peer_results.get("mlflow POST /ajax-api/2.0/mlflow/runs/search", {})
    mlflow_p95, mlflow_p50 = ui_search.get("p95_ms"), ui_search.get("p50_ms", 0.0)
    ours_key = next(
        (k for k in ("loopline GET /api/v1/runs?limit=100", "loopline POST /api/2.0/mlflow/runs/search")
         if k in peer_results), None,
    )  # fmt: skip
    ours_p95 = peer_results[ours_key]["p95_ms"] if ours_key else None
    for label, found in peer_results.items():
        if mlflow_p95 and not label.startswith("mlflow"):
            log(
                f"  {label}: p95 {found['p95_ms']:.1f} ms; "
                f"MLflow's UI search / this = {mlflow_p95 / found['p95_ms']:.2f} at p95, "
                f"{mlflow_p50 / found['p50_ms']:.2f} at p50"
            )
    slow = {k: round(v["p95_ms"], 1) for k, v in results.items() if v["p95_ms"] >= TARGET_MS}
    bad = {k: v["status"] for k, v in results.items() if v["status"] >= 400}
    log(
        f"\n{len(results)} paths built; over {TARGET_MS:.0f} ms p95: {slow or 'none'}; "
        f"non-2xx: {bad or 'none'}"
    )
    summary = {
        "benchmark": "dashboard",
        "loopline_s": round(ours_p95 / 1000, 4) if ours_p95 else None,
        "loopline_request": ours_key,
        "peer": f"mlflow server ({venv.name}) POST /ajax-api/2.0/mlflow/runs/search, p95",
        "peer_s": round(mlflow_p95 / 1000, 4) if mlflow_p95 else None,
        "ratio": round(mlflow_p95 / ours_p95, 2) if mlflow_p95 and ours_p95 else None,
        "sizes": sizes.__dict__,
        "n": n,
        "paths": {k: {"status": v["status"], "p50_ms": round(v["p50_ms"], 1), "p95_ms": round(v["p95_ms"], 1)}
                  for k, v in results.items()},
        "runs_search": {k: round(v["p95_ms"], 1) for k, v in peer_results.items()},
        "over_target": slow,
    }  # fmt: skip
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
