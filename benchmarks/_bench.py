"""Shared helpers for the benchmark scripts: the DVC venv, timing whole processes, the JSON line.

Every timing is of a whole process (interpreter start, imports, work, exit), as a user sees it.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
DATA_DIR = BENCH_DIR / ".data"
DVC_VENV = BENCH_DIR / ".venvs" / "dvc"
DVC_SPEC = "dvc==3.67.*"
LOOPLINE = str(Path(sys.executable).with_name("loopline"))


def dvc_bin() -> str:
    """Path of the `dvc` executable in its own venv, created on first use (its pins clash with ours)."""
    exe = DVC_VENV / "bin" / "dvc"
    if not exe.exists():
        print(f"creating {DVC_VENV} with {DVC_SPEC} (one time)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(DVC_VENV)], check=True)
        subprocess.run([str(DVC_VENV / "bin" / "pip"), "install", "-q", DVC_SPEC], check=True)
    return str(exe)


def quiet_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for both tools: no analytics or update checks, no colour, no inherited stores."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOPLINE_", "DVC_"))}
    env.update(
        {
            "DVC_NO_ANALYTICS": "1",
            "DVC_IGNORE_ISATTY": "1",
            "NO_COLOR": "1",
            "GIT_AUTHOR_NAME": "bench",
            "GIT_AUTHOR_EMAIL": "bench@example.invalid",
            "GIT_COMMITTER_NAME": "bench",
            "GIT_COMMITTER_EMAIL": "bench@example.invalid",
        }
    )
    env.update(extra or {})
    return env


def run(cmd: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None) -> str:
    """Run a command that must succeed; returns its stdout."""
    proc = subprocess.run(
        list(cmd), cwd=cwd, env=dict(env or quiet_env()), capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(
            f"command failed ({proc.returncode}): {' '.join(cmd)}\n"
            f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        )
    return proc.stdout


def timed(cmd: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None) -> tuple[float, str]:
    """Wall time of one whole process, and its stdout."""
    start = time.perf_counter()
    out = run(cmd, cwd, env)
    return time.perf_counter() - start, out


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def fmt(values: Sequence[float]) -> str:
    return f"median {median(values):.3f}s  (runs: {', '.join(f'{v:.3f}' for v in values)})"


def emit(benchmark: str, loopline_s: float, peer: str, peer_s: float, **extra: object) -> None:
    """Print the one JSON line every benchmark ends with."""
    line = {
        "benchmark": benchmark,
        "loopline_s": round(loopline_s, 4),
        "peer": peer,
        "peer_s": round(peer_s, 4),
        "ratio": round(peer_s / loopline_s, 2),
    }
    line.update(extra)
    print(json.dumps(line), flush=True)


def fresh_dir(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


DVC_STATE = (".git", ".dvc", ".dvcignore", ".gitignore", "dvc-site-cache")


def clear_dvc_repo(repo: Path) -> None:
    """Remove every trace of git and DVC from repo (and its `*.dvc` files), keeping the data."""
    for target in [*(repo / name for name in DVC_STATE), *repo.glob("*.dvc")]:
        if target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
        elif target.exists():
            target.unlink()


def init_dvc_repo(dvc: str, repo: Path) -> dict[str, str]:
    """A fresh `git init` + `dvc init` in repo, with its own DVC state database; returns its env.

    DVC keeps its hash cache (state db) under a site cache dir keyed on the repo path; pointing
    DVC_SITE_CACHE_DIR inside the repo means a fresh repo never reuses an earlier one's hashes.
    """
    clear_dvc_repo(repo)
    env = quiet_env({"DVC_SITE_CACHE_DIR": str(repo / "dvc-site-cache")})
    run(["git", "init", "-q", "."], repo, env)
    run([dvc, "init", "-q"], repo, env)
    (repo / ".gitignore").write_text("/dvc-site-cache\n")
    return env


FOLDER_SHAPE = (10_000, 1024, 10, 50 << 20)  # small files, their size, big files, their size
FOLDER_ROOT = DATA_DIR / "folder"


def make_folder(root: Path, small: int, small_size: int, big: int, big_size: int) -> Path:
    """A folder of random files, generated once (reused while its marker says the same shape)."""
    marker = root / ".shape"
    shape = f"{small}x{small_size}+{big}x{big_size}"
    folder = root / "data"
    if marker.exists() and marker.read_text() == shape and folder.is_dir():
        return folder
    fresh_dir(root)
    folder.mkdir()
    print(f"generating {small} files of {small_size} B and {big} of {big_size >> 20} MB", flush=True)
    for i in range(small):
        sub = folder / "small" / f"{i // 1000:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"item-{i:05d}.bin").write_bytes(os.urandom(small_size))
    (folder / "big").mkdir()
    for i in range(big):
        with open(folder / "big" / f"big-{i:02d}.bin", "wb") as out:
            for _ in range(big_size >> 20):
                out.write(os.urandom(1 << 20))
    marker.write_text(shape)
    return folder
