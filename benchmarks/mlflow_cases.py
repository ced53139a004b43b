"""The artifacts and search cases of benchmarks/mlflow_server.py (its docstring says what each
measures); run them through it: `python benchmarks/mlflow_server.py --case artifacts|search`."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import blake3
from artifact_memory import MiB, Sampler, client_venv, group_rss, make_file
from mlflow_server import LOOPLINE, free_port, start, stop, wait_ready

PEER = "mlflow server 3.17.2 (SQLite, proxied artifacts, one worker)"
SEARCH_CACHE = Path(tempfile.gettempdir()) / "loopline-bench-search"
SEARCH_VERSION = 1  # bump when the runs made change, so a cached store is not reused


def _serve(name: str, cmd: list[str], work: Path, stack: ExitStack) -> tuple[str, int]:
    """Start a server in a process group of its own until the stack closes; (URL, group id)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start([*cmd, "--port", str(port)], work, work / f"{name}.log")
    stack.callback(stop, proc)
    wait_ready(url, proc, timeout=600)  # a loaded machine: mlflow server takes a while
    return url, proc.pid


def _servers(venv: Path, ours: Path, peer: Path, stack: ExitStack) -> dict[str, tuple[str, int]]:
    """Both servers as a user starts them (loopline without tokens: mlflow server takes none;
    mlflow with one worker: four would each hold its idle memory, and uvicorn's supervisor
    restarts busy ones on a loaded machine)."""
    peer_cmd = [
        str(venv / "bin" / "mlflow"),
        "server",
        "--backend-store-uri",
        f"sqlite:///{peer / 'mlflow.db'}",
    ]
    peer_cmd += ["--artifacts-destination", str(peer / "artifacts"), "--host", "127.0.0.1", "--workers", "1"]
    return {
        "loopline": _serve(
            "loopline", [LOOPLINE, "server", "--no-auth", "--log-level", "warning"], ours, stack
        ),
        "mlflow": _serve("mlflow", peer_cmd, peer, stack),
    }


def _client(python: Path, url: str, script: str, **env: str) -> dict[str, object]:
    """Run an MLflow client script against url; the JSON of its last line."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "LOOPLINE_", "PYTHONPATH"))}
    clean |= {"MLFLOW_TRACKING_URI": url, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", **env}
    done = subprocess.run([str(python), "-c", script], env=clean, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"client failed against {url}:\n{done.stderr[-3000:]}")
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- artifacts ---------------------------------------------------------------------------------
UPLOAD = """
import json, os, time
from mlflow import MlflowClient
client = MlflowClient()
run = client.create_run(client.create_experiment(os.environ["EXPERIMENT"])).info.run_id
started = time.perf_counter()
client.log_artifact(run, os.environ["FILE"], "data")
print(json.dumps({"run": run, "seconds": time.perf_counter() - started}))
"""
DOWNLOAD = """
import json, os, time
from mlflow import MlflowClient
started = time.perf_counter()
got = MlflowClient().download_artifacts(os.environ["RUN"], "data/" + os.environ["NAME"], os.environ["OUT"])
print(json.dumps({"path": got, "seconds": time.perf_counter() - started}))
"""


def _digest(path: Path) -> str:
    hasher = blake3.blake3()
    with path.open("rb") as handle:
        while chunk := handle.read(8 * MiB):
            hasher.update(chunk)
    return hasher.hexdigest()


def artifacts(args: argparse.Namespace) -> dict[str, object]:
    venv = client_venv()
    python = venv / "bin" / "python"
    figures: dict[str, dict[str, list[float]]] = {
        name: {"up_s": [], "down_s": [], "up_peak": [], "down_peak": []} for name in ("loopline", "mlflow")
    }
    idle: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-mlflow-artifacts-") as tmp:
        root = Path(tmp)
        ours, peer = root / "loopline", root / "mlflow"
        peer.mkdir()
        subprocess.run([LOOPLINE, "init", str(ours)], check=True, capture_output=True)
        file = root / "big.bin"
        digest = make_file(file, args.artifact_mib * MiB)
        with ExitStack() as stack:
            servers = _servers(venv, ours, peer, stack)
            for rep in range(args.artifact_reps):
                for name, (url, pgid) in servers.items():
                    idle.setdefault(name, group_rss(pgid) / MiB)
                    with Sampler(pgid) as up:
                        sent = _client(python, url, UPLOAD, EXPERIMENT=f"artifacts-{rep}", FILE=str(file))
                    out = root / f"out-{name}-{rep}"
                    with Sampler(pgid) as down:
                        got = _client(
                            python, url, DOWNLOAD, RUN=str(sent["run"]), NAME=file.name, OUT=str(out)
                        )
                    if _digest(Path(str(got["path"]))) != digest:
                        raise SystemExit(f"{name} gave back other bytes")
                    Path(str(got["path"])).unlink()
                    row = figures[name]
                    row["up_s"].append(float(str(sent["seconds"])))
                    row["down_s"].append(float(str(got["seconds"])))
                    row["up_peak"].append(up.peak / MiB)
                    row["down_peak"].append(down.peak / MiB)
                    print(
                        f"{name:8} rep {rep + 1}/{args.artifact_reps}: up {row['up_s'][-1]:5.1f}s "
                        f"(peak {row['up_peak'][-1]:5.0f} MiB), down {row['down_s'][-1]:5.1f}s "
                        f"(peak {row['down_peak'][-1]:5.0f} MiB), idle {idle[name]:.0f} MiB",
                        flush=True,
                    )
    med = {name: {k: statistics.median(v) for k, v in row.items()} for name, row in figures.items()}
    ours_s = med["loopline"]["up_s"] + med["loopline"]["down_s"]
    peer_s = med["mlflow"]["up_s"] + med["mlflow"]["down_s"]
    for name in med:
        m = med[name]
        print(
            f"{name} server: up {m['up_s']:.1f}s, down {m['down_s']:.1f}s; peak {m['up_peak']:.0f} MiB "
            f"up, {m['down_peak']:.0f} MiB down (idle {idle[name]:.0f} MiB)"
        )
    summary: dict[str, object] = {
        "benchmark": "mlflow_server",
        "case": "artifacts",
        "size_mib": args.artifact_mib,
        "loopline_s": round(ours_s, 2),
        "peer": PEER,
        "peer_s": round(peer_s, 2),
        "ratio": round(peer_s / ours_s, 2),
        **{f"loopline_{k}": round(v, 2) for k, v in med["loopline"].items()},
        **{f"peer_{k}": round(v, 2) for k, v in med["mlflow"].items()},
        "loopline_idle_mib": round(idle["loopline"], 1),
        "peer_idle_mib": round(idle["mlflow"], 1),
        "memory_ratio": round(
            max(med["mlflow"]["up_peak"], med["mlflow"]["down_peak"])
            / max(med["loopline"]["up_peak"], med["loopline"]["down_peak"]),
            2,
        ),
        "reps": args.artifact_reps,
    }
    print(json.dumps(summary))
    return summary


# -- search ------------------------------------------------------------------------------------
# Each store is filled as fast as it allows, once (then kept): loopline through its own store
# calls (a run and its params and tags, two transactions a run), MLflow's through its own ORM
# models in one transaction (its store's create_run and log_batch took 65 ms a run here).
POPULATE_LOOPLINE = """
import json, sys
from loopline.project import Project
project = Project.open(sys.argv[1])
tracking, store = project.meta.tracking, project.mlflow
experiment = tracking.create_experiment("search")
for i in range(int(sys.argv[2])):
    name = f"run-{i:05d}"
    run = tracking.create_run(experiment.id, name=name, executor="mlflow", host="mlflow-client", pid=0)
    params = {"model": f"model-{i % 100}", "fold": str(i % 5)}
    store.log_batch(run.id, params=params, tags={"team": f"team-{i % 7}", "mlflow.runName": name})
project.close()
print(json.dumps({"experiment_id": str(experiment.id)}))
"""
POPULATE_MLFLOW = """
import json, os, time, uuid
from mlflow.store.tracking.dbmodels.models import SqlParam, SqlRun, SqlTag
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
store = SqlAlchemyStore(os.environ["DB"], os.environ["ARTIFACTS"])
experiment = store.create_experiment("search")
location = store.get_experiment(experiment).artifact_location
now = int(time.time() * 1000)
with store.ManagedSessionMaker() as session:
    for i in range(int(os.environ["RUNS"])):
        rid, name = uuid.uuid4().hex, f"run-{i:05d}"
        session.add(SqlRun(
            run_uuid=rid, name=name, source_type="LOCAL", source_name="", entry_point_name="",
            user_id="bench", status="FINISHED", start_time=now + i, end_time=now + i,
            source_version="", lifecycle_stage="active", experiment_id=int(experiment),
            artifact_uri=f"{location}/{rid}/artifacts",
        ))
        session.add_all([
            SqlTag(key="team", value=f"team-{i % 7}", run_uuid=rid),
            SqlTag(key="mlflow.runName", value=name, run_uuid=rid),
            SqlParam(key="model", value=f"model-{i % 100}", run_uuid=rid),
            SqlParam(key="fold", value=str(i % 5), run_uuid=rid),
        ])
print(json.dumps({"experiment_id": experiment}))
"""
SEARCH = """
import json, os, time
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
client, experiment = MlflowClient(), os.environ["EXPERIMENT"]
out = {}
for label, query in json.loads(os.environ["QUERIES"]).items():
    times, found = [], 0
    try:
        for _ in range(int(os.environ["REPS"])):
            started, found, token = time.perf_counter(), 0, None
            while True:
                page = client.search_runs([experiment], query, max_results=1000, page_token=token)
                found += len(page)
                token = page.token
                if not token:
                    break
            times.append(time.perf_counter() - started)
        out[label] = {"times": times, "found": found}
    except MlflowException as exc:
        out[label] = {"refused": str(exc)[:300]}
print(json.dumps(out))
"""
LIKE = {
    "param": "params.model LIKE 'model-1%'",
    "tag": "tags.team LIKE '%-3'",
    "run_name": "attributes.run_name LIKE 'run-012%'",
}
EQUAL = {  # the same fields, where LIKE is refused
    "param": "params.model = 'model-1'",
    "tag": "tags.team = 'team-3'",
    "run_name": "attributes.run_name = 'run-01234'",
}


def _populated(venv: Path, runs: int) -> tuple[Path, Path, dict[str, str]]:
    """Both stores with `runs` runs, made once per run count and kept in SEARCH_CACHE; their
    folders and experiment ids."""
    home = SEARCH_CACHE / f"runs-{runs}-v{SEARCH_VERSION}"
    ours, peer = home / "loopline", home / "mlflow"
    python = venv / "bin" / "python"
    ids: dict[str, str] = {}
    for name in ("loopline", "mlflow"):
        marker = home / f"{name}.json"
        if marker.exists():
            ids[name] = json.loads(marker.read_text())["experiment_id"]
            continue
        started = time.perf_counter()
        print(f"making {runs} runs in {name} (kept in {home} for the next runs)", flush=True)
        if name == "loopline":
            subprocess.run(["rm", "-rf", str(ours)], check=True)
            subprocess.run([LOOPLINE, "init", str(ours)], check=True, capture_output=True)
            done = subprocess.run(
                [sys.executable, "-c", POPULATE_LOOPLINE, str(ours), str(runs)],
                capture_output=True,
                text=True,
                check=True,
            )
            made = json.loads(done.stdout.strip().splitlines()[-1])
        else:
            subprocess.run(["rm", "-rf", str(peer)], check=True)
            peer.mkdir(parents=True)
            env = {
                "DB": f"sqlite:///{peer / 'mlflow.db'}",
                "ARTIFACTS": str(peer / "artifacts"),
                "RUNS": str(runs),
            }
            made = _client(python, "", POPULATE_MLFLOW, **env)
        ids[name] = str(made["experiment_id"])
        marker.write_text(json.dumps({"experiment_id": ids[name], "seconds": time.perf_counter() - started}))
        print(f"  {name}: {time.perf_counter() - started:.0f}s", flush=True)
    return ours, peer, ids


def search(args: argparse.Namespace) -> dict[str, object]:
    venv = client_venv()
    python = venv / "bin" / "python"
    ours, peer, ids = _populated(venv, args.search_runs)
    results: dict[str, dict[str, dict[str, object]]] = {}
    with ExitStack() as stack:
        servers = _servers(venv, ours, peer, stack)
        for name, (url, _) in servers.items():
            env = {"EXPERIMENT": ids[name], "REPS": str(args.search_reps)}
            results[name] = {"like": _client(python, url, SEARCH, QUERIES=json.dumps(LIKE), **env)}
            results[name]["equal"] = _client(python, url, SEARCH, QUERIES=json.dumps(EQUAL), **env)
    refused = any("refused" in v for v in results["loopline"]["like"].values())
    compared = "equal" if refused else "like"
    queries = EQUAL if refused else LIKE
    per: dict[str, dict[str, float]] = {}
    for label in queries:
        ours_q = results["loopline"][compared][label]
        peer_q = results["mlflow"][compared][label]
        if "refused" in ours_q or "refused" in peer_q:
            raise SystemExit(f"{queries[label]!r} refused: {ours_q} {peer_q}")
        if ours_q["found"] != peer_q["found"]:
            raise SystemExit(
                f"{queries[label]!r}: loopline found {ours_q['found']}, mlflow {peer_q['found']}"
            )
        o = statistics.median(ours_q["times"])  # type: ignore[arg-type]
        p = statistics.median(peer_q["times"])  # type: ignore[arg-type]
        per[label] = {"loopline_s": round(o, 4), "peer_s": round(p, 4), "found": float(str(ours_q["found"]))}
        print(
            f"{queries[label]:45} {ours_q['found']:>6} runs: "
            f"loopline {o:.3f}s, mlflow {p:.3f}s ({p / o:.1f}x)"
        )
    peer_like = {
        label: round(statistics.median(v["times"]), 4)  # type: ignore[arg-type]
        for label, v in results["mlflow"]["like"].items()
        if "times" in v
    }
    ours_s = sum(v["loopline_s"] for v in per.values())
    peer_s = sum(v["peer_s"] for v in per.values())
    if refused:
        print("loopline refused LIKE on this build: both servers compared on = filters of the same fields")
    summary: dict[str, object] = {
        "benchmark": "mlflow_server",
        "case": "search",
        "runs": args.search_runs,
        "filters": compared,
        "loopline_s": round(ours_s, 4),
        "peer": PEER,
        "peer_s": round(peer_s, 4),
        "ratio": round(peer_s / ours_s, 2),
        "queries": {queries[label]: figures for label, figures in per.items()},
        "peer_like_s": peer_like,
        "loopline_like_refused": refused,
        "reps": args.search_reps,
    }
    print(json.dumps(summary))
    return summary
