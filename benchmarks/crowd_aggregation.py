"""Crowd aggregation: loopline's majority vote, Dawid-Skene and GLAD against crowd-kit 1.4.2 on the
same simulated answers.

The crowd (seeded): 20,000 tasks, 5 classes (uniform), 200 annotators, 5 distinct annotators per
task (100,000 answers). 10% of the annotators are spammers answering uniformly at random; the
others have an accuracy drawn from U(0.5, 0.95) and, for each true class, their own
distribution of mistakes over the other classes (Dirichlet(1)): errors with structure, which
a full confusion matrix can learn and a vote cannot.

Timings are of the aggregation call alone, in a warm process, from the tool's own frame (a Polars
frame for loopline, the pandas frame crowd-kit takes) to its labels: loopline's
`aggregate(answers, labels, method)` (coding, the fit, the output frames) against crowd-kit's
`fit_predict`. crowd-kit runs in its own process: this venv's Python when `import crowdkit`
works (the `oracle` extra), else benchmarks/.venvs/crowdkit, created here. Medians of --reps
runs; crowd-kit's GLAD takes a minute or more per fit, so it runs --glad-reps times (1 by
default: its figure is a single run, said so in the output).

Usage: .venv/bin/python benchmarks/crowd_aggregation.py [--tasks N] [--reps N] [--glad-reps N]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

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
path, reps, glad_reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
frame = pd.read_parquet(path)
truth = frame.groupby("task")["truth"].first()
data = frame[["task", "worker", "label"]]
out = {}
for name, make, n in [
    ("majority", lambda: ca.MajorityVote(), reps),
    ("dawid_skene", lambda: ca.DawidSkene(n_iter=100, tol=1e-5), reps),
    ("glad", lambda: ca.GLAD(n_iter=100, tol=1e-5), glad_reps),
]:
    times = []
    for _ in range(n):
        model = make()
        start = time.perf_counter()
        labels = model.fit_predict(data)
        times.append(time.perf_counter() - start)
    labels = labels.reindex(truth.index)
    out[name] = {"times": times, "accuracy": float((labels == truth).mean())}
print(json.dumps(out))
"""


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


def run_loopline(answers: pl.DataFrame, labels: list[str], truth: np.ndarray, reps: int) -> dict:
    aggregate(answers, labels, "dawid_skene")  # warm: imports, first-call allocations
    out = {}
    for method in ("majority", "dawid_skene", "glad"):
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            result = aggregate(answers, labels, method)
            times.append(time.perf_counter() - start)
        got = result.labels.sort("task")["label"].to_numpy()
        out[method] = {
            "times": times,
            "accuracy": float((got == truth).mean()),
            "iterations": result.iterations,
        }
    return out


def run_crowdkit(answers: pl.DataFrame, truth: np.ndarray, reps: int, glad_reps: int) -> dict:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / "crowd_answers.parquet"
    answers.rename({"annotator": "worker"}).with_columns(
        truth=pl.Series(truth)[answers["task"]]
    ).write_parquet(path)
    proc = subprocess.run(
        [peer_python(), "-c", PEER, str(path), str(reps), str(glad_reps)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"crowd-kit failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--glad-reps", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    answers, truth, labels = simulate(n_tasks=args.tasks, seed=args.seed)
    print(f"crowd: {answers.height} answers on {args.tasks} tasks, seed {args.seed}", flush=True)
    ours = run_loopline(answers, labels, truth, args.reps)
    theirs = run_crowdkit(answers, truth, args.reps, args.glad_reps)
    for method in ("majority", "dawid_skene", "glad"):
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
