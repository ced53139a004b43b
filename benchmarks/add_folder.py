"""First snapshot of a folder: `loopline add DIR --name data` vs `dvc add DIR`.

The folder holds 10,000 files of 1 KB and 10 files of 50 MB of random bytes (generated once,
under benchmarks/.data/). Each repetition starts from nothing: a fresh loopline project, and a
fresh `git init` + `dvc init` repository with its own DVC state database, so neither tool can
reuse hashes from an earlier repetition. The two tools alternate which goes first. Timed: the
whole process, as a user runs it.

What a repetition wrote is moved aside and deleted only after the last one: ext4 skips inodes
freed in the last minutes when it allocates new ones, so creating 10,000 files just after
deleting 10,000 costs several times more in the kernel (for both tools). A user's first add
does not follow such a deletion. Before each timed add, the page cache is written back (sync,
untimed): DVC leaves its cache files unsynced, and loopline's syncfs would otherwise write the
previous repetition's 500 MB for it.

Usage: .venv/bin/python benchmarks/add_folder.py [--reps N] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from _bench import (
    FOLDER_ROOT,
    FOLDER_SHAPE,
    LOOPLINE,
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


def loopline_once(folder: Path, work: Path, rep: int) -> float:
    project = fresh_dir(work / f"loopline-{rep}")
    run([LOOPLINE, "init", "."], project)
    os.sync()
    seconds, out = timed([LOOPLINE, "add", str(folder), "--name", "data"], project)
    assert "added data@1" in out, out
    return seconds


def dvc_once(dvc: str, repo: Path, work: Path, rep: int) -> float:
    env = init_dvc_repo(dvc, repo)
    os.sync()
    seconds, _ = timed([dvc, "add", "-q", "data"], repo, env)
    assert (repo / "data.dvc").exists()
    aside = fresh_dir(work / f"dvc-{rep}")
    for name in (".dvc", "dvc-site-cache"):  # its cache and state db, deleted at the end
        (repo / name).rename(aside / name)
    clear_dvc_repo(repo)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the generated folder for next time")
    args = parser.parse_args()

    dvc = dvc_bin()
    small, small_size, big, big_size = FOLDER_SHAPE
    folder = make_folder(FOLDER_ROOT / "repo", small, small_size, big, big_size)  # repo/data
    repo = folder.parent
    work = FOLDER_ROOT / "work"
    work.mkdir(exist_ok=True)
    loop_times: list[float] = []
    dvc_times: list[float] = []
    try:
        for rep in range(args.reps):
            order = ("loopline", "dvc") if rep % 2 == 0 else ("dvc", "loopline")
            for tool in order:
                if tool == "loopline":
                    loop_times.append(loopline_once(folder, work, rep))
                else:
                    dvc_times.append(dvc_once(dvc, repo, work, rep))
            print(f"rep {rep + 1}: loopline {loop_times[-1]:.3f}s  dvc {dvc_times[-1]:.3f}s", flush=True)
    finally:
        clear_dvc_repo(repo)
        shutil.rmtree(work, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(FOLDER_ROOT, ignore_errors=True)
    print(f"loopline add (first): {fmt(loop_times)}")
    print(f"dvc add (first):      {fmt(dvc_times)}")
    emit(
        "add_folder",
        median(loop_times),
        "dvc 3.67",
        median(dvc_times),
        files=small + big,
        bytes=small * small_size + big * big_size,
        reps=args.reps,
    )


if __name__ == "__main__":
    main()
