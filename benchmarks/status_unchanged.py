"""Checking an unchanged folder: a second `loopline add DIR --name data` vs `dvc status`.

A folder of the same shape as add_folder.py's (10,000 files of 1 KB and 10 of 50 MB), kept in a
folder of its own so that the two scripts never share a DVC repository. Both tools first snapshot
it once (untimed, each with a fresh project or repository) and are warmed up once; then each
repetition times a whole process that finds nothing changed: `loopline add` answering every file
from its stat cache, and `dvc status` from its state database. Also times `loopline --help`
(target under 0.3 s), the floor of any loopline command.

Usage: .venv/bin/python benchmarks/status_unchanged.py [--reps N] [--keep]
"""

from __future__ import annotations

import argparse
import compileall
import shutil

from _bench import (
    DATA_DIR,
    FOLDER_SHAPE,
    LOOPLINE,
    REPO,
    clear_dvc_repo,
    dvc_bin,
    emit,
    fmt,
    fresh_dir,
    init_dvc_repo,
    make_folder,
    median,
    run,
    timed,
)

ROOT = DATA_DIR / "status"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the generated folder for next time")
    args = parser.parse_args()

    dvc = dvc_bin()
    # Both tools run from bytecode, as installed packages do (pip compiled DVC's). This editable
    # checkout's modules would otherwise be compiled on every run where PYTHONDONTWRITEBYTECODE
    # is set (~15 ms of each loopline process).
    compileall.compile_dir(REPO / "src" / "loopline", quiet=1)
    small, small_size, big, big_size = FOLDER_SHAPE
    folder = make_folder(ROOT / "repo", small, small_size, big, big_size)  # repo/data
    repo = folder.parent
    project = fresh_dir(ROOT / "work" / "loopline-project")
    loop_times: list[float] = []
    dvc_times: list[float] = []
    help_times: list[float] = []
    try:
        # DVC first: its `add` may relink workspace files, which loopline's stat cache would see.
        env = init_dvc_repo(dvc, repo)
        run([dvc, "add", "-q", "data"], repo, env)
        run([LOOPLINE, "init", "."], project)
        run([LOOPLINE, "add", str(folder), "--name", "data"], project)
        run([dvc, "status"], repo, env)  # warm-up, untimed
        run([LOOPLINE, "add", str(folder), "--name", "data"], project)
        for rep in range(args.reps):
            seconds, out = timed([LOOPLINE, "add", str(folder), "--name", "data"], project)
            assert "nothing changed" in out and "0 hashed" in out, out
            loop_times.append(seconds)
            seconds, out = timed([dvc, "status"], repo, env)
            assert "up to date" in out, out
            dvc_times.append(seconds)
            help_times.append(timed([LOOPLINE, "--help"], project)[0])
            print(
                f"rep {rep + 1}: loopline add {loop_times[-1]:.3f}s  dvc status {dvc_times[-1]:.3f}s  "
                f"loopline --help {help_times[-1]:.3f}s",
                flush=True,
            )
    finally:
        clear_dvc_repo(repo)
        shutil.rmtree(ROOT / "work", ignore_errors=True)
        if not args.keep:
            shutil.rmtree(ROOT, ignore_errors=True)
    print(f"loopline add (unchanged): {fmt(loop_times)}")
    print(f"dvc status:               {fmt(dvc_times)}")
    print(f"loopline --help:          {fmt(help_times)}")
    emit(
        "status_unchanged",
        median(loop_times),
        "dvc 3.67",
        median(dvc_times),
        files=small + big,
        help_s=round(median(help_times), 4),
        reps=args.reps,
    )


if __name__ == "__main__":
    main()
