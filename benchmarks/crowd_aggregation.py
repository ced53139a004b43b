"""Crowd aggregation: loopline's majority vote, Dawid-Skene and GLAD against crowd-kit 1.4.2 on the
same simulated answers.

The crowd (seeded): 20,000 tasks, 5 classes (uniform), 200 annotators, 5 distinct annotators per
task (100,000 answers). 10% of the annotators are spammers answering uniformly at random; the
others have an accuracy drawn from U(0.5, 0.95) and, for each true class, their own
distribution of mistakes over the other classes (Dirichlet(1)): errors with structure, which
a full confusion matrix can learn and a vote cannot.

Timings are of the aggregation call alone, from the tool's own frame (a Polars frame for
loopline, the pandas frame crowd-kit takes) to its labels: loopline's
`aggregate(answers, labels, method)` (coding, the fit, the output frames) in this warm process,
against crowd-kit's `fit_predict` in a fresh process per run (this venv's Python when
`import crowdkit` works, the `oracle` extra; else benchmarks/.venvs/crowdkit, created here).
The runs alternate (loopline, crowd-kit, loopline, ...) so both see the same machine load.
Medians of --reps runs; crowd-kit's GLAD takes a minute or more per fit, so it runs
--glad-reps times (1 by default: its figure is then a single run, `glad_peer_reps` says so).

Usage: .venv/bin/python benchmarks/crowd_aggregation.py [--tasks N] [--reps N] [--glad-reps N]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
from _bench import BENCH_DIR, DATA_DIR, emit, fmt, median

from loopline.annotate.aggregate import aggregate

CROWDKIT_SPEC = "crowd-kit==1.4.2"
CROWDKIT_VENV = BENCH_DIR / ".venvs" / "crowdkit"

PEER = """
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd
import crowdkit.aggregation as ca
path, method = sys.argv[1], sys.argv[2]
frame = pd.read_parquet(path)
truth = frame.groupby("task")["truth"].first()
data = frame[["task", "worker", "label"]]
make = {
    "majority": lambda: ca.MajorityVote(),
    "dawid_skene": lambda: ca.DawidSkene(n_iter=100, tol=1e-5),
    "glad": lambda: ca.GLAD(n_iter=100, tol=1e-5),
}[method]
model = make()
start = time.perf_counter()
labels = model.fit_predict(data)
seconds = time.perf_counter() - start
labels = labels.reindex(truth.index)
print(json.dumps({"seconds": seconds, "accuracy": float((labels == truth).mean())}))
"""
METHODS = ("majority", "dawid_skene", "glad")


def simulate(
    n_tasks: int = 20_000,
    n_classes: int = 5,
    n_annotators: int = 200,
    per_task: int = 5,
    spam: float = 0.1,
    seed: int = 0,
) -> tuple[pl.DataFrame, np.ndarray, list[str]]:
    """The answers (task, annotator, label), the true label per task, and the label set."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_classes, n_tasks)
    accuracy = rng.uniform(0.5, 0.95, n_annotators)
    mistakes = rng.dirichlet(np.ones(n_classes - 1), size=(n_annotators, n_classes))
    confusion = np.empty((n_annotators, n_classes, n_classes))  # [annotator, true, given]
    for k in range(n_classes):
        confusion[:, k] = np.insert(mistakes[:, k] * (1 - accuracy)[:, None], k, accuracy, axis=1)
    spammers = rng.choice(n_annotators, round(spam * n_annotators), replace=False)
    confusion[spammers] = 1.0 / n_classes
    who = np.argpartition(rng.random((n_tasks, n_annotators)), per_task, axis=1)[:, :per_task]
    task = np.repeat(np.arange(n_tasks), per_task)
    annotator = who.ravel()
    cumulative = confusion[annotator, truth[task]].cumsum(axis=1)
    given = np.minimum((rng.random(len(task))[:, None] > cumulative).sum(axis=1), n_classes - 1)
    labels = [f"class{k}" for k in range(n_classes)]
    names = np.array(labels)
    people = np.array([f"annotator{i:03d}" for i in range(n_annotators)])
    answers = pl.DataFrame({"task": task, "annotator": people[annotator], "label": names[given]})
    return answers, names[truth], labels


def peer_python() -> str:
    """A Python that imports crowdkit: this one, else benchmarks/.venvs/crowdkit (made once)."""
    probe = subprocess.run([sys.executable, "-c", "import crowdkit"], capture_output=True, check=False)
    if probe.returncode == 0:
        return sys.executable
    exe = CROWDKIT_VENV / "bin" / "python"
    if not exe.exists():
        print(f"creating {CROWDKIT_VENV} with {CROWDKIT_SPEC} (one time)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(CROWDKIT_VENV)], check=True)
        pip = str(CROWDKIT_VENV / "bin" / "pip")
        subprocess.run([pip, "install", "-q", CROWDKIT_SPEC, "pyarrow"], check=True)
    return str(exe)


def loopline_once(answers: pl.DataFrame, labels: list[str], truth: np.ndarray, method: str) -> dict:
    start = time.perf_counter()
    result = aggregate(answers, labels, method)
    seconds = time.perf_counter() - start
    got = result.labels.sort("task")["label"].to_numpy()
    return {"seconds": seconds, "accuracy": float((got == truth).mean()), "iterations": result.iterations}


def crowdkit_once(python: str, path: Path, method: str) -> dict:
    proc = subprocess.run(
        [python, "-c", PEER, str(path), method], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"crowd-kit {method} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def compare(
    answers: pl.DataFrame, labels: list[str], truth: np.ndarray, reps: int, glad_reps: int
) -> tuple[dict, dict]:
    """Runs interleaved (loopline, crowd-kit, loopline, ...) so both see the same machine load."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / "crowd_answers.parquet"
    answers.rename({"annotator": "worker"}).with_columns(
        truth=pl.Series(truth)[answers["task"]]
    ).write_parquet(path)
    python = peer_python()
    aggregate(answers, labels, "dawid_skene")  # warm: imports, first-call allocations
    ours: dict[str, dict] = {}
    theirs: dict[str, dict] = {}
    for method in METHODS:
        peer_reps = glad_reps if method == "glad" else reps
        mine, peer = [], []
        for rep in range(max(reps, peer_reps)):
            if rep < reps:
                mine.append(loopline_once(answers, labels, truth, method))
            if rep < peer_reps:
                peer.append(crowdkit_once(python, path, method))
        ours[method] = {
            "times": [r["seconds"] for r in mine],
            "accuracy": mine[-1]["accuracy"],
            "iterations": mine[-1]["iterations"],
        }
        theirs[method] = {"times": [r["seconds"] for r in peer], "accuracy": peer[-1]["accuracy"]}
    return ours, theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--glad-reps", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    answers, truth, labels = simulate(n_tasks=args.tasks, seed=args.seed)
    print(f"crowd: {answers.height} answers on {args.tasks} tasks, seed {args.seed}", flush=True)
    ours, theirs = compare(answers, labels, truth, args.reps, args.glad_reps)
    for method in METHODS:
        a, b = ours[method], theirs[method]
        print(
            f"{method:12s} loopline {fmt(a['times'])} acc {a['accuracy']:.4f} "
            f"({a['iterations']} iterations)\n{'':12s} crowd-kit {fmt(b['times'])} acc {b['accuracy']:.4f}",
            flush=True,
        )
    ds_ours, ds_theirs = median(ours["dawid_skene"]["times"]), median(theirs["dawid_skene"]["times"])
    gl_ours, gl_theirs = median(ours["glad"]["times"]), median(theirs["glad"]["times"])
    mv_ours, mv_theirs = median(ours["majority"]["times"]), median(theirs["majority"]["times"])
    emit(
        "crowd_aggregation",
        ds_ours,
        "crowd-kit 1.4.2 DawidSkene",
        ds_theirs,
        tasks=args.tasks,
        answers=answers.height,
        reps=args.reps,
        loopline_accuracy=round(ours["dawid_skene"]["accuracy"], 4),
        peer_accuracy=round(theirs["dawid_skene"]["accuracy"], 4),
        glad_loopline_s=round(gl_ours, 4),
        glad_peer_s=round(gl_theirs, 4),
        glad_ratio=round(gl_theirs / gl_ours, 2),
        glad_peer_reps=args.glad_reps,
        glad_loopline_accuracy=round(ours["glad"]["accuracy"], 4),
        glad_peer_accuracy=round(theirs["glad"]["accuracy"], 4),
        majority_loopline_s=round(mv_ours, 4),
        majority_peer_s=round(mv_theirs, 4),
        majority_loopline_accuracy=round(ours["majority"]["accuracy"], 4),
        majority_peer_accuracy=round(theirs["majority"]["accuracy"], 4),
    )


if __name__ == "__main__":
    main()
