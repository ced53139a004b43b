"""A 50-step pipeline with nothing to recompute: the second `loopline run` vs `dvc repro`.

Both tools get the same chain of 50 trivial steps (step i reads step i-1's output and writes
its own). Each is run once to fill its cache (untimed); then each repetition times a whole
process that finds every step up to date: `loopline run` (50 cache hits) and `dvc repro` (50
stages unchanged). The steps do no work, so every second is tool overhead; loopline's target is
under 1 s. Also reported: the time inside the run itself (started_at to finished_at of the run
record), which excludes interpreter start-up and imports.

Usage: .venv/bin/python benchmarks/cached_pipeline.py [--reps N] [--steps N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from datetime import datetime
from pathlib import Path

from _bench import DATA_DIR, LOOPLINE, dvc_bin, emit, fmt, fresh_dir, init_dvc_repo, median, run, timed

LOOPLINE_STEPS = '''\
"""Trivial steps for the cached-pipeline benchmark."""


def bump(i: int, **upstream: dict) -> dict:
    return {"step": i, "total": i + sum(v["total"] for v in upstream.values())}
'''

DVC_STEP = '''\
"""Trivial stage for the cached-pipeline benchmark: python step.py I writes out/I.json."""

import json
import sys

i = int(sys.argv[1])
total = i
if i:
    with open(f"out/{i - 1}.json") as handle:
        total += json.load(handle)["total"]
with open(f"out/{i}.json", "w") as handle:
    json.dump({"step": i, "total": total}, handle)
'''


def loopline_project(folder: Path, steps: int) -> None:
    lines = ["steps:"]
    for i in range(steps):
        lines += [f"  s{i:02d}:", "    uses: bench_steps:bump", f"    params: {{i: {i}}}"]
        if i:
            lines.append(f"    inputs: [o{i - 1:02d}]")
        lines.append(f"    outputs: [o{i:02d}]")
    (folder / "loopline.yaml").write_text("\n".join(lines) + "\n")
    (folder / "bench_steps.py").write_text(LOOPLINE_STEPS)
    run([LOOPLINE, "init", "."], folder)


def dvc_project(folder: Path, steps: int) -> None:
    lines = ["stages:"]
    for i in range(steps):
        deps = ["step.py"] + ([f"out/{i - 1}.json"] if i else [])
        lines += [
            f"  s{i:02d}:",
            f"    cmd: {sys.executable} step.py {i}",
            f"    deps: [{', '.join(deps)}]",
            f"    outs: [out/{i}.json]",
        ]
    (folder / "dvc.yaml").write_text("\n".join(lines) + "\n")
    (folder / "step.py").write_text(DVC_STEP)
    (folder / "out").mkdir()


def run_seconds(out: str) -> float:
    record = json.loads(out)
    started = datetime.fromisoformat(record["started_at"])
    finished = datetime.fromisoformat(record["finished_at"])
    return (finished - started).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()

    dvc = dvc_bin()
    root = fresh_dir(DATA_DIR / "cached_pipeline")
    ll_dir = fresh_dir(root / "loopline")
    dvc_dir = fresh_dir(root / "dvc")
    loop_times: list[float] = []
    inner_times: list[float] = []
    dvc_times: list[float] = []
    try:
        loopline_project(ll_dir, args.steps)
        env = init_dvc_repo(dvc, dvc_dir)
        dvc_project(dvc_dir, args.steps)
        first = json.loads(run([LOOPLINE, "run", "--json"], ll_dir))
        assert sum(s["status"] == "ran" for s in first["steps"]) == args.steps, first
        run([dvc, "repro", "-q"], dvc_dir, env)
        assert (dvc_dir / "out" / f"{args.steps - 1}.json").exists()
        for rep in range(args.reps):
            seconds, out = timed([LOOPLINE, "run", "--json"], ll_dir)
            steps = json.loads(out)["steps"]
            assert len(steps) == args.steps and all(s["status"] == "cached" for s in steps), out
            loop_times.append(seconds)
            inner_times.append(run_seconds(out))
            seconds, out = timed([dvc, "repro"], dvc_dir, env)
            assert "Running stage" not in out, out
            dvc_times.append(seconds)
            print(
                f"rep {rep + 1}: loopline run {loop_times[-1]:.3f}s (in-run {inner_times[-1]:.3f}s)  "
                f"dvc repro {dvc_times[-1]:.3f}s",
                flush=True,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"loopline run, {args.steps} cache hits: {fmt(loop_times)}")
    print(f"  of which inside the run:       {fmt(inner_times)}")
    print(f"dvc repro, {args.steps} unchanged:    {fmt(dvc_times)}")
    emit(
        "cached_pipeline",
        median(loop_times),
        "dvc 3.67",
        median(dvc_times),
        steps=args.steps,
        loopline_in_run_s=round(median(inner_times), 4),
        reps=args.reps,
    )


if __name__ == "__main__":
    main()
