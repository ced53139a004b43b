"""Read-only commands as a whole process: `loopline runs|datasets|models|status|--help` on a
project with 1,000 pipeline runs, 20 datasets and 20 registered models, beside `dvc status` and
`git status` on a repository of similar size (20 DVC-tracked files, a two-stage dvc.yaml,
1,000 commits).

Both fixtures are built once (through loopline's Python API and DVC's CLI) under
benchmarks/.data/cli_latency/ and reused while their marker says the same shape. Each
repetition runs every command N times in turn and keeps the median; the figures printed are
the medians over repetitions, of wall time and of CPU time (which a busy machine inflates less).
Target: each loopline read-only command under 0.3 s. `status` imports the pipeline's step
modules to hash their code; `import steps` (here Polars and scikit-learn) is timed as its floor.

Usage: .venv/bin/python benchmarks/cli_latency.py [--reps N] [--runs-per-rep N] [--rebuild]
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import resource
import subprocess
from pathlib import Path

from _bench import DATA_DIR, LOOPLINE, REPO, dvc_bin, emit, fresh_dir, median, quiet_env, run, timed

ROOT = DATA_DIR / "cli_latency"
SHAPE = "runs=1000 datasets=20 models=20 commits=1000 v1"
RUNS, DATASETS, MODELS, COMMITS = 1000, 20, 20, 1000
COMMANDS = {
    "runs": ["runs"],
    "datasets": ["datasets"],
    "models": ["models"],
    "status": ["status"],
    "help": ["--help"],
}

_STEPS = """\
import polars as pl
from sklearn.linear_model import LogisticRegression


def make(n):
    return pl.DataFrame({"x": [float(i % 7) for i in range(n)], "y": [i % 2 for i in range(n)]})


def fit(numbers):
    return LogisticRegression().fit(numbers.select("x").to_numpy(), numbers["y"].to_numpy())
"""

_PIPELINE = """\
steps:
  numbers:
    uses: steps:make
    params: {n: 200}
    outputs: [numbers]
  model:
    uses: steps:fit
    inputs: [numbers]
    outputs: [model]
"""

# Runs in the shared venv, in the project folder: 1,000 runs (the first computes, the others
# are cache hits, as most runs of a stable pipeline are), 20 datasets, 20 registered models.
_BUILD = f"""
import sys
from pathlib import Path
from loopline import Project

project = Project.open()
for i in range({DATASETS}):
    path = Path(f"table-{{i:02d}}.csv")
    path.write_text("id,value\\n" + "".join(f"{{j}},{{i * j}}\\n" for j in range(50)))
    project.add(path, f"table-{{i:02d}}")
for i in range({RUNS}):
    project.run()
for i in range({MODELS}):
    project.register(f"model-{{i:02d}}", "model")
project.close()
"""


def build_loopline(root: Path) -> Path:
    project = root / "loopline"
    marker = project / ".shape"
    if marker.exists() and marker.read_text() == SHAPE:
        return project
    fresh_dir(project)
    (project / "steps.py").write_text(_STEPS)
    run([LOOPLINE, "init", "."], project)
    (project / "loopline.yaml").write_text(_PIPELINE)
    print(f"building a loopline project with {RUNS} runs (one time)", flush=True)
    env = quiet_env({"PYTHONPATH": os.pathsep.join([str(project), str(REPO / "src")])})
    run([str(Path(LOOPLINE).with_name("python")), "-c", _BUILD], project, env)
    marker.write_text(SHAPE)
    return project


def build_dvc(root: Path, dvc: str) -> tuple[Path, dict[str, str]]:
    repo = root / "dvc"
    env = quiet_env({"DVC_SITE_CACHE_DIR": str(root / "dvc-site-cache")})
    marker = repo / ".shape"
    if marker.exists() and marker.read_text() == SHAPE:
        return repo, env
    fresh_dir(repo)
    print(f"building a DVC repository with {DATASETS} tracked files and {COMMITS} commits (one time)")
    run(["git", "init", "-q", "."], repo, env)
    run([dvc, "init", "-q"], repo, env)
    data = repo / "data"
    data.mkdir()
    for i in range(DATASETS):
        (data / f"table-{i:02d}.csv").write_text("id,value\n" + "".join(f"{j},{i * j}\n" for j in range(50)))
    run([dvc, "add", "-q", *(str(p.relative_to(repo)) for p in sorted(data.iterdir()))], repo, env)
    (repo / "make.py").write_text("open('numbers.csv', 'w').write('x\\n' + '1\\n' * 200)\n")
    (repo / "fit.py").write_text("open('model.txt', 'w').write(open('numbers.csv').read()[:10])\n")
    (repo / "dvc.yaml").write_text(
        "stages:\n"
        "  numbers:\n    cmd: python3 make.py\n    deps: [make.py]\n    outs: [numbers.csv]\n"
        "  model:\n    cmd: python3 fit.py\n    deps: [fit.py, numbers.csv]\n    outs: [model.txt]\n"
    )
    run([dvc, "repro", "-q"], repo, env)
    (repo / ".gitignore").write_text("/numbers.csv\n/model.txt\n")
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-q", "-m", "data and pipeline"], repo, env)
    # The history: COMMITS commits on top, written in one fast-import.
    head = run(["git", "rev-parse", "HEAD"], repo, env).strip()
    branch = run(["git", "symbolic-ref", "--short", "HEAD"], repo, env).strip()
    stream = "".join(
        f"commit refs/heads/{branch}\ncommitter bench <bench@example.invalid> {1_700_000_000 + i} +0000\n"
        f"data {len(f'run {i}')}\nrun {i}\n" + (f"from {head}\n" if i == 0 else "") + "\n"
        for i in range(COMMITS)
    )
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, env=env, input=stream, text=True, check=True)
    run(["git", "reset", "-q", "--hard", branch], repo, env)
    run([dvc, "status"], repo, env)
    marker.write_text(SHAPE)
    return repo, env


def median_of(cmd: list[str], cwd: Path, env: dict[str, str] | None, n: int) -> tuple[float, float, str]:
    """Median wall time and median CPU time (user + system, of the process and its children) of
    n runs; the CPU time says what a command costs when other work shares the machine."""
    times, cpu, out = [], [], ""
    for _ in range(n):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        seconds, out = timed(cmd, cwd, env)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        times.append(seconds)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return median(times), median(cpu), out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--runs-per-rep", type=int, default=10, help="processes per command and repetition")
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()

    # Both tools run from bytecode, as installed packages do (see status_unchanged.py).
    compileall.compile_dir(REPO / "src" / "loopline", quiet=1)
    if args.rebuild:
        fresh_dir(ROOT)
    ROOT.mkdir(parents=True, exist_ok=True)
    dvc = dvc_bin()
    project = build_loopline(ROOT)
    repo, dvc_env = build_dvc(ROOT, dvc)
    env = quiet_env()
    found = json.loads(run([LOOPLINE, "runs", "--limit", "2000", "--json"], project, env))
    assert len(found) == RUNS, len(found)
    assert len(json.loads(run([LOOPLINE, "models", "--json"], project, env))) == MODELS
    assert len(json.loads(run([LOOPLINE, "datasets", "--json"], project, env))) == DATASETS + 2

    # `status` imports the pipeline's step modules (to hash their code): what importing them
    # costs (here Polars and scikit-learn) is its floor, whatever loopline does.
    python = str(Path(LOOPLINE).with_name("python"))
    floor_cmd = [python, "-c", "import steps"]
    names = [*COMMANDS, "dvc status", "git status", "import steps"]
    medians: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(args.reps):
        for name, cmd in COMMANDS.items():
            seconds, used, out = median_of([LOOPLINE, *cmd], project, env, args.runs_per_rep)
            if name == "status":
                assert "up to date" in out, out
            medians[name].append(seconds)
            cpu[name].append(used)
        seconds, used, out = median_of([dvc, "status"], repo, dvc_env, args.runs_per_rep)
        assert "up to date" in out, out
        medians["dvc status"].append(seconds)
        cpu["dvc status"].append(used)
        for name, cmd, cwd in (("git status", ["git", "status"], repo), ("import steps", floor_cmd, project)):
            seconds, used, _ = median_of(cmd, cwd, dvc_env if cwd == repo else env, args.runs_per_rep)
            medians[name].append(seconds)
            cpu[name].append(used)
        print(f"rep {rep + 1}: " + "  ".join(f"{k} {v[-1]:.3f}s" for k, v in medians.items()), flush=True)

    result = {name: round(median(values), 4) for name, values in medians.items()}
    result_cpu = {name: round(median(values), 4) for name, values in cpu.items()}
    for name in names:
        print(f"{name + ':':<14} median {result[name]:.3f}s wall, {result_cpu[name]:.3f}s CPU")
    slowest = max(result[name] for name in ("runs", "datasets", "models", "status"))
    emit(
        "cli_latency",
        slowest,
        "dvc 3.67 status",
        result["dvc status"],
        loopline_is="the slowest of runs, datasets, models, status",
        commands={name: result[name] for name in COMMANDS},
        commands_cpu_s={name: result_cpu[name] for name in COMMANDS},
        peer_cpu_s=result_cpu["dvc status"],
        git_status_s=result["git status"],
        status_floor_s=result["import steps"],
        runs=RUNS,
        datasets=DATASETS,
        models=MODELS,
        reps=args.reps,
        runs_per_rep=args.runs_per_rep,
    )


if __name__ == "__main__":
    main()
