"""The MLflow client against `loopline server` and against `mlflow server` on SQLite.

The same client script (tests/mlflow/client_script.py, `bench` mode) in the same venv
(benchmarks/.venvs/mlflow, the pins of the test venv: mlflow 3.17.2, scikit-learn 1.9.1) logs
4 runs x 500 steps through `mlflow.log_metrics` (two metrics a step, one request a step) against
each server, started as a user starts it:

  mlflow server --backend-store-uri sqlite:///DIR/mlflow.db --host 127.0.0.1 --port P
  loopline server --port P            (in a fresh `loopline init` project, SQLite)

The client is synchronous, so what is measured is the round trip of one log-batch request,
2,000 times over, plus the runs' create / update calls. Time is the client's own, from
set_experiment to the last end_run (imports not included); each repetition is a fresh client
process and a fresh experiment on the same running server; both servers run throughout and the
repetitions alternate between them, so load from elsewhere on the machine falls on both. Medians
of --reps repetitions for loopline and --peer-reps for MLflow (about two minutes each here),
full size for both.

Two more cases (`--case artifacts|search|logging|all`, default logging), each against both
servers started the same way (loopline with --no-auth: `mlflow server` takes no tokens either),
each printing its own JSON line (mlflow_cases.py holds them):

- artifacts: the MLflow client uploads one 1 GiB file (`MlflowClient.log_artifact`) and downloads
  it again (`download_artifacts`, checked byte for byte), each timed in the client; the server's
  peak resident memory (its process group, sampled every 20 ms from /proc) during each. The
  client does as it does by default: against loopline, whose server-info says
  multipart_uploads_enabled, a file from 500 MB goes up in 10 MB parts in parallel; mlflow server
  with a local artifact store has no multipart upload and takes one PUT.
- search: 30,000 runs (a param, a tag and a run name each) in one experiment of each server,
  made once and kept in /tmp between benchmark runs (keyed by the run count); then
  `MlflowClient.search_runs` with LIKE filters on a param, a tag and the run name, every page,
  median of --search-reps. Where loopline refuses LIKE (before the search grammar is merged)
  both servers are compared on `=` filters of the same fields and the JSON says so.

Run: `python benchmarks/mlflow_server.py [--case logging] [--reps 5] [--peer-reps 3]`; the last
line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
CLIENT_SCRIPT = REPO / "tests" / "mlflow" / "client_script.py"
MLFLOW_VENV = BENCH_DIR / ".venvs" / "mlflow"
MLFLOW_PINS = ["mlflow==3.17.2", "scikit-learn==1.9.1", "skops==0.16.0"]  # as the Makefile's
LOOPLINE = str(Path(sys.executable).with_name("loopline"))


def mlflow_venv() -> Path:
    """The client and peer venv, created (or brought to the pins) on first use."""
    stamp = MLFLOW_VENV / ".pins"
    if not stamp.exists() or stamp.read_text() != " ".join(MLFLOW_PINS):
        print(f"installing {' '.join(MLFLOW_PINS)} into {MLFLOW_VENV} (one time)", flush=True)
        if not (MLFLOW_VENV / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(MLFLOW_VENV)], check=True)
        subprocess.run([str(MLFLOW_VENV / "bin" / "pip"), "install", "-q", *MLFLOW_PINS], check=True)
        stamp.write_text(" ".join(MLFLOW_PINS))
    return MLFLOW_VENV


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    """Poll until the server answers an MLflow request (any HTTP status below 500)."""
    deadline = time.monotonic() + timeout
    probe = f"{url}/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            urllib.request.urlopen(probe, timeout=2).close()
            return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"server at {url} did not start in {timeout:.0f}s")


def start(cmd: list[str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """End the server we started and its workers (its own process group)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


def client_run(python: Path, url: str, experiment: str, runs: int, steps: int, cwd: Path) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "LOOPLINE_"))}
    env |= {
        "MLFLOW_TRACKING_URI": url,
        "EXPERIMENT": experiment,
        "RUNS": str(runs),
        "STEPS": str(steps),
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    }
    started = time.perf_counter()
    done = subprocess.run(
        [str(python), str(CLIENT_SCRIPT), "bench"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"client failed against {url}:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["history_points"] != steps:
        raise SystemExit(f"{url} kept {result['history_points']} of {steps} points of a run")
    return {"seconds": float(result["seconds"]), "process": wall}


def serve(name: str, cmd: list[str], work: Path, stack: ExitStack) -> str:
    """Start a server for the whole benchmark (stopped when the stack closes); its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start([*cmd, "--port", str(port)], work, work / f"{name}.log")
    stack.callback(stop, proc)
    wait_ready(url, proc)
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", choices=["logging", "artifacts", "search", "all"], default="logging")
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--reps", type=int, default=5, help="repetitions against loopline server")
    parser.add_argument("--peer-reps", type=int, default=3, help="repetitions against mlflow server")
    parser.add_argument("--artifact-mib", type=int, default=1024, help="size of the artifact case's file")
    parser.add_argument("--artifact-reps", type=int, default=3)
    parser.add_argument("--search-runs", type=int, default=30_000)
    parser.add_argument("--search-reps", type=int, default=5)
    args = parser.parse_args()
    import mlflow_cases

    cases = {"artifacts": mlflow_cases.artifacts, "search": mlflow_cases.search, "logging": logging_case}
    summaries = [cases[name](args) for name in (cases if args.case == "all" else [args.case])]
    if len(summaries) > 1:  # the last line: the logging figures, and every case's beside them
        print(json.dumps({**summaries[-1], "cases": {s["case"]: s for s in summaries}}))


def logging_case(args: argparse.Namespace) -> dict[str, object]:
    venv = mlflow_venv()
    python = venv / "bin" / "python"
    with tempfile.TemporaryDirectory(prefix="bench-mlflow-") as tmp:
        root = Path(tmp)
        peer_dir, ours_dir = root / "mlflow", root / "loopline"
        peer_dir.mkdir()
        subprocess.run([LOOPLINE, "init", str(ours_dir)], check=True, capture_output=True)
        peer_cmd = [
            str(venv / "bin" / "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{peer_dir / 'mlflow.db'}",
            "--host",
            "127.0.0.1",
        ]
        times: dict[str, list[float]] = {"loopline": [], "mlflow": []}
        wanted = {"loopline": args.reps, "mlflow": args.peer_reps}
        with ExitStack() as stack:
            urls = {
                # no tokens on loopback, as `mlflow server` takes none
                "loopline": serve("loopline", [LOOPLINE, "server", "--no-auth"], ours_dir, stack),
                "mlflow": serve("mlflow", peer_cmd, peer_dir, stack),
            }
            # Interleaved, so a busy moment of this shared machine falls on both servers alike.
            for rep in range(max(wanted.values())):
                for name in ("loopline", "mlflow"):
                    if rep >= wanted[name]:
                        continue
                    got = client_run(python, urls[name], f"bench-{rep}", args.runs, args.steps, root)
                    times[name].append(got["seconds"])
                    print(
                        f"{name:8} rep {rep + 1}/{wanted[name]}: {got['seconds']:7.2f}s in the client "
                        f"({args.runs * args.steps / got['seconds']:6.0f} log_metrics/s; "
                        f"process {got['process']:.1f}s)",
                        flush=True,
                    )
        ours, peer = times["loopline"], times["mlflow"]
    ours_s, peer_s = statistics.median(ours), statistics.median(peer)
    calls = args.runs * args.steps
    print(f"loopline server: median {ours_s:.2f}s  ({calls / ours_s:.0f} log_metrics/s)")
    print(f"mlflow server:   median {peer_s:.2f}s  ({calls / peer_s:.0f} log_metrics/s)")
    print(f"loopline is {peer_s / ours_s:.1f}x faster end to end")
    summary: dict[str, object] = {
        "benchmark": "mlflow_server",
        "case": "logging",
        "loopline_s": round(ours_s, 3),
        "peer": "mlflow server 3.17.2 (SQLite)",
        "peer_s": round(peer_s, 3),
        "ratio": round(peer_s / ours_s, 2),
        "runs": args.runs,
        "steps": args.steps,
        "loopline_calls_per_s": round(calls / ours_s, 1),
        "peer_calls_per_s": round(calls / peer_s, 1),
        "loopline_reps": [round(v, 3) for v in ours],
        "peer_reps": [round(v, 3) for v in peer],
    }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
