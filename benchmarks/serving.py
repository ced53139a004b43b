"""Online serving, single-row requests: `loopline serve` (prediction logging on) against
`mlflow models serve --env-manager local` and a bare FastAPI endpoint calling scikit-learn.

The model: a LogisticRegression on 20 numeric features with a signature, fitted on the same
seeded data for each server. The load: `wrk -t1 -c4 -d10s` (Debian's wrk, apt-get installed
when missing; a Python client saturates first on 2 cores) posting one row as JSON; each server
gets a warm-up, then the three run in turn, several rounds, and the figures are medians of the
rounds: requests per second and p99 latency. MLflow lives in benchmarks/.venvs/mlflow (created
here with the same pin as the other MLflow benchmarks).

Run: `python benchmarks/serving.py [--rounds 3] [--seconds 10]`; the last line is the JSON
summary, with `loopline_s`/`peer_s` as seconds per request so `ratio` = loopline's requests/s
over MLflow's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
MLFLOW_VENV = BENCH_DIR / ".venvs" / "mlflow"
MLFLOW_SPEC = "mlflow>=3,<4"
BIN = Path(sys.executable).parent
FEATURES = [f"f{i}" for i in range(20)]

MLFLOW_SAVE = r"""
import json, sys, numpy as np, logging
logging.disable(logging.WARNING)
import mlflow
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression
cfg = json.loads(sys.argv[1])
data = np.load(cfg["data"])
X, y = data["X"], data["y"]
import pandas as pd
frame = pd.DataFrame(X, columns=cfg["features"])
model = LogisticRegression(max_iter=1000).fit(frame, y)
mlflow.sklearn.save_model(model, cfg["path"], signature=infer_signature(frame, model.predict(frame)))
"""

BARE_FASTAPI = r"""
import sys, numpy as np
from fastapi import FastAPI
from sklearn.linear_model import LogisticRegression
import uvicorn
data = np.load(sys.argv[1])
model = LogisticRegression(max_iter=1000).fit(data["X"], data["y"])
names = [f"f{i}" for i in range(20)]
app = FastAPI()

@app.post("/predict")
def predict(row: dict) -> dict:
    x = np.array([[row[n] for n in names]], dtype=float)
    return {"prediction": int(model.predict(x)[0])}

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
"""

LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[{body}]]
"""


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("installing wrk with apt-get (one time)", flush=True)
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, capture_output=True)
    return shutil.which("wrk") or "wrk"


def mlflow_python() -> str:
    exe = MLFLOW_VENV / "bin" / "python"
    if not (MLFLOW_VENV / "bin" / "mlflow").exists():
        print(f"creating {MLFLOW_VENV} with {MLFLOW_SPEC} (one time)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(MLFLOW_VENV)], check=True)
        subprocess.run(
            [str(MLFLOW_VENV / "bin" / "pip"), "install", "-q", MLFLOW_SPEC, "scikit-learn"], check=True
        )
    return str(exe)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_up(url: str, body: bytes, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited {proc.returncode}: {url}")
        try:
            r = httpx.post(url, content=body, headers={"Content-Type": "application/json"}, timeout=5)
            if r.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise SystemExit(f"server did not answer at {url}")


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def run_wrk(wrk: str, url: str, script: Path, seconds: int) -> dict[str, float]:
    out = subprocess.run(
        [wrk, "-t1", "-c4", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s|m)\b", out)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    requests = re.search(r"(\d+) requests in", out)
    return {
        "rps": rps,
        "p99_ms": float(p99[1]) * _UNITS[p99[2]] if p99 else float("nan"),
        "non_2xx": float(errors[1]) if errors else 0.0,
        "requests": float(requests[1]) if requests else 0.0,
    }


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_loopline(
    folder: Path, data: Path, env: dict[str, str]
) -> tuple[subprocess.Popen[bytes], str, Path]:
    from sklearn.linear_model import LogisticRegression

    from loopline.project import Project
    from loopline.store.models import save_model

    root = folder / "loopline"
    root.mkdir()
    (root / "loopline.yaml").write_text("steps: {}\n")
    project = Project.init(root)
    arrays = np.load(data)
    model = LogisticRegression(max_iter=1000).fit(arrays["X"], arrays["y"])
    art = save_model(project.blobs, model)
    project.meta.add_version("lr_model", art, source="benchmark")
    signature = {"inputs": dict.fromkeys(FEATURES, "Float64"), "output": "Int64"}
    project.registry.register("lr", art, signature=signature)
    project.promote("lr", 1, "production")
    project.close()
    port = free_port()
    proc = subprocess.Popen(
        # no tokens on loopback, as the peers it is compared with take none
        [str(BIN / "loopline"), "serve", "lr", "--port", str(port), "--no-auth"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return proc, f"http://127.0.0.1:{port}/predict", root


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    wrk = ensure_wrk()
    python = mlflow_python()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5000, 20))
    y = (X @ rng.normal(size=20) + rng.normal(scale=0.5, size=5000) > 0).astype(int)
    row = {name: float(v) for name, v in zip(FEATURES, X[0], strict=True)}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOPLINE_", "MLFLOW_"))}
    env["PYTHONWARNINGS"] = "ignore"
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        folder = Path(tmp)
        data = folder / "data.npz"
        np.savez(data, X=X, y=y)
        ours_body = json.dumps(row).encode()
        mlflow_body = json.dumps({"dataframe_records": [row]}).encode()
        scripts = {}
        for name, body in (("loopline", ours_body), ("mlflow", mlflow_body), ("fastapi", ours_body)):
            scripts[name] = folder / f"{name}.lua"
            scripts[name].write_text(LUA.format(body=body.decode()))

        model_dir = folder / "mlflow_model"
        cfg = {"data": str(data), "path": str(model_dir), "features": FEATURES}
        subprocess.run([python, "-c", MLFLOW_SAVE, json.dumps(cfg)], check=True, env=env)
        mlflow_port = free_port()
        servers = {
            "mlflow": (
                subprocess.Popen(
                    [
                        str(MLFLOW_VENV / "bin" / "mlflow"),
                        "models",
                        "serve",
                        "-m",
                        str(model_dir),
                        "--env-manager",
                        "local",
                        "--host",
                        "127.0.0.1",
                        "-p",
                        str(mlflow_port),
                    ],
                    env={**env, "PATH": f"{MLFLOW_VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"},
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                ),
                f"http://127.0.0.1:{mlflow_port}/invocations",
            )
        }
        bare_port = free_port()
        bare = folder / "bare.py"
        bare.write_text(BARE_FASTAPI)
        servers["fastapi"] = (
            subprocess.Popen(
                [sys.executable, str(bare), str(data), str(bare_port)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ),
            f"http://127.0.0.1:{bare_port}/predict",
        )
        ours, ours_url, root = start_loopline(folder, data, env)
        servers["loopline"] = (ours, ours_url)
        results: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
        try:
            for name, (proc, url) in servers.items():
                wait_up(url, mlflow_body if name == "mlflow" else ours_body, proc)
                run_wrk(wrk, url, scripts[name], 2)  # warm-up
            for r in range(args.rounds):
                for name in ("mlflow", "fastapi", "loopline"):
                    proc, url = servers[name]
                    figures = run_wrk(wrk, url, scripts[name], args.seconds)
                    results[name].append(figures)
                    print(
                        f"round {r + 1} {name:9s} {figures['rps']:8.1f} req/s  "
                        f"p99 {figures['p99_ms']:7.2f} ms  non-2xx {figures['non_2xx']:.0f}",
                        flush=True,
                    )
        finally:
            for proc, _ in servers.values():
                stop(proc)
        from loopline.project import Project

        project = Project.open(root)
        logged = project.predictions.read("lr").height
        project.close()
        answered = sum(f["requests"] - f["non_2xx"] for f in results["loopline"])

    def med(name: str, key: str) -> float:
        return statistics.median(f[key] for f in results[name])

    rps = {name: med(name, "rps") for name in results}
    p99 = {name: med(name, "p99_ms") for name in results}
    print(
        f"median of {args.rounds}: loopline {rps['loopline']:.0f} req/s (p99 {p99['loopline']:.1f} ms), "
        f"mlflow {rps['mlflow']:.0f} req/s (p99 {p99['mlflow']:.1f} ms), "
        f"bare FastAPI {rps['fastapi']:.0f} req/s (p99 {p99['fastapi']:.1f} ms); "
        f"loopline logged {logged} predictions (at least the {answered:.0f} timed)"
    )
    print(
        json.dumps(
            {
                "benchmark": "serving",
                "loopline_s": 1 / rps["loopline"],
                "peer": "mlflow models serve",
                "peer_s": 1 / rps["mlflow"],
                "ratio": rps["loopline"] / rps["mlflow"],
                "loopline_rps": round(rps["loopline"], 1),
                "mlflow_rps": round(rps["mlflow"], 1),
                "fastapi_rps": round(rps["fastapi"], 1),
                "loopline_p99_ms": round(p99["loopline"], 2),
                "mlflow_p99_ms": round(p99["mlflow"], 2),
                "fastapi_p99_ms": round(p99["fastapi"], 2),
                "loopline_vs_fastapi": rps["loopline"] / rps["fastapi"],
                "loopline_logged": logged,
                "rounds": args.rounds,
                "seconds": args.seconds,
            }
        )
    )


if __name__ == "__main__":
    main()
