"""Peak resident memory of `loopline server` and `mlflow server` while the MLflow client uploads
and downloads one large artifact (1 GiB by default).

Each server is started as a user starts it, in its own folder:

  loopline server --port P            (in a fresh `loopline init` project, SQLite)
  mlflow server --backend-store-uri sqlite:///DIR/mlflow.db --host 127.0.0.1 --workers 1 --port P

(one worker: its default four are killed and restarted by uvicorn's supervisor on a busy machine,
and four would multiply its idle memory)

and the MLflow client (the venv of tests/mlflow: /work/main/.venv-mlflow, or REPO/.venv-mlflow,
or benchmarks/.venvs/mlflow made on first use) runs `mlflow.log_artifact` of the file, then
`mlflow.artifacts.download_artifacts` of it, checking the bytes that came back. The server's
resident set (the sum over its process group: mlflow server runs workers) is sampled every
20 ms from /proc; the figure is the peak during the transfer, beside the idle figure before it.
Repetitions alternate between the servers, each a fresh run on the same running server.

Run: `python benchmarks/artifact_memory.py [--size-mib 1024] [--reps 3]`; the last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import blake3

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mlflow_server import LOOPLINE, REPO, free_port, mlflow_venv, start, stop, wait_ready

CLIENT = """
import os, mlflow
mlflow.set_experiment(os.environ["EXPERIMENT"])
with mlflow.start_run() as run:
    mlflow.log_artifact(os.environ["FILE"], "data")
got = mlflow.artifacts.download_artifacts(
    run_id=run.info.run_id, artifact_path="data/" + os.path.basename(os.environ["FILE"]),
    dst_path=os.environ["OUT"],
)
print(got)
"""
MiB = 1 << 20


def serve(name: str, cmd: list[str], work: Path, stack: ExitStack) -> tuple[str, int]:
    """Start a server in a process group of its own for the whole benchmark; (URL, group id)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start([*cmd, "--port", str(port)], work, work / f"{name}.log")
    stack.callback(stop, proc)
    wait_ready(url, proc, timeout=600)  # a loaded machine: mlflow server takes a while
    return url, proc.pid


def client_venv() -> Path:
    for candidate in (Path("/work/main/.venv-mlflow"), REPO / ".venv-mlflow"):
        if (candidate / "bin" / "mlflow").exists():
            return candidate
    return mlflow_venv()


def group_rss(pgid: int) -> int:
    """Resident bytes of every process in the process group."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != pgid:
                continue
            with open(f"/proc/{entry.name}/statm") as statm:
                total += int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            continue
    return total


class Sampler:
    """The peak of group_rss(pgid) while running."""

    def __init__(self, pgid: int) -> None:
        self.pgid, self.peak, self._stop = pgid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, group_rss(self.pgid))
            time.sleep(0.02)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def make_file(path: Path, size: int) -> str:
    """A file of size pseudo-random bytes; its BLAKE3 digest."""
    hasher = blake3.blake3()
    block = os.urandom(4 * MiB)
    with path.open("wb") as out:
        for i in range(0, size, len(block)):
            piece = block[: size - i] if size - i < len(block) else block
            piece = bytes([i // len(block) % 256]) + piece[1:]
            hasher.update(piece)
            out.write(piece)
    return hasher.hexdigest()


def transfer(python: Path, url: str, file: Path, digest: str, rep: int, work: Path) -> float:
    """One upload and download through the MLflow client; its wall time."""
    out = work / f"out-{rep}-{abs(hash(url))}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "LOOPLINE_"))}
    env |= {
        "MLFLOW_TRACKING_URI": url,
        "EXPERIMENT": f"memory-{rep}",
        "FILE": str(file),
        "OUT": str(out),
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    }
    started = time.perf_counter()
    done = subprocess.run([str(python), "-c", CLIENT], env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        logs = "".join(p.read_text()[-2000:] for p in work.glob("*/*.log"))
        raise SystemExit(f"client failed against {url}:\n{done.stderr[-3000:]}\nserver logs:\n{logs}")
    got = Path(done.stdout.strip().splitlines()[-1])
    with got.open("rb") as handle:
        hasher = blake3.blake3()
        while chunk := handle.read(8 * MiB):
            hasher.update(chunk)
    if hasher.hexdigest() != digest:
        raise SystemExit(f"{url} gave back other bytes")
    got.unlink()
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    venv = client_venv()
    python = venv / "bin" / "python"
    peaks: dict[str, list[float]] = {"loopline": [], "mlflow": []}
    idle: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-artifacts-") as tmp:
        root = Path(tmp)
        peer_dir, ours_dir = root / "mlflow", root / "loopline"
        peer_dir.mkdir()
        subprocess.run([LOOPLINE, "init", str(ours_dir)], check=True, capture_output=True)
        file = root / "big.bin"
        digest = make_file(file, args.size_mib * MiB)
        peer_cmd = [str(venv / "bin" / "mlflow"), "server", "--backend-store-uri"]
        peer_cmd += [f"sqlite:///{peer_dir / 'mlflow.db'}", "--host", "127.0.0.1", "--workers", "1"]
        with ExitStack() as stack:
            servers = {  # loopline without tokens: mlflow server takes none
                "loopline": serve("loopline", [LOOPLINE, "server", "--no-auth"], ours_dir, stack),
                "mlflow": serve("mlflow", peer_cmd, peer_dir, stack),
            }
            for rep in range(args.reps):
                for name, (url, pgid) in servers.items():
                    idle.setdefault(name, group_rss(pgid) / MiB)
                    with Sampler(pgid) as sampler:
                        wall = transfer(python, url, file, digest, rep, root)
                    peaks[name].append(sampler.peak / MiB)
                    print(
                        f"{name:8} rep {rep + 1}/{args.reps}: peak {sampler.peak / MiB:7.0f} MiB resident"
                        f" (idle {idle[name]:.0f} MiB), up and down in {wall:.1f}s",
                        flush=True,
                    )
    ours, peer = statistics.median(peaks["loopline"]), statistics.median(peaks["mlflow"])
    print(f"loopline server: median peak {ours:.0f} MiB resident for a {args.size_mib} MiB artifact")
    print(f"mlflow server:   median peak {peer:.0f} MiB resident")
    print(f"mlflow server holds {peer / ours:.1f}x the memory")
    grown = {name: statistics.median(v) - idle[name] for name, v in peaks.items()}
    print(f"growth over idle: loopline {grown['loopline']:.0f} MiB, mlflow {grown['mlflow']:.0f} MiB")
    summary = {
        "benchmark": "artifact_memory",
        "size_mib": args.size_mib,
        "loopline_peak_mib": round(ours, 1),
        "peer": "mlflow server 3.17.2 (SQLite, proxied artifacts)",
        "peer_peak_mib": round(peer, 1),
        "ratio": round(peer / ours, 2),
        "loopline_idle_mib": round(idle["loopline"], 1),
        "loopline_growth_mib": round(grown["loopline"], 1),
        "peer_growth_mib": round(grown["mlflow"], 1),
        "peer_idle_mib": round(idle["mlflow"], 1),
        "loopline_reps": [round(v, 1) for v in peaks["loopline"]],
        "peer_reps": [round(v, 1) for v in peaks["mlflow"]],
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
