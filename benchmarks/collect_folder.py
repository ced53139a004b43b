"""Collecting an unchanged folder: a second `loopline collect` vs the first, and vs `dvc status`.

One folder of 20,000 files of 1 KB (inbox/, in 20 subfolders) inside one directory that is both
a loopline project (a `type: folder` source on inbox/) and a git + DVC repository tracking
inbox/ with `dvc add`. DVC goes first (its `add` may relink workspace files). Each repetition of
the first collect starts from a fresh loopline project (empty store and stat cache); then, after
one untimed warm-up of each, each repetition times a second `loopline collect` that finds
nothing new (no file read, no version added) and a `dvc status` answering from its state db.
Every timing is a whole process, as a user sees it.

Targets (issue 3): second collect >= 5x faster than the first, and faster than `dvc status`.

Usage: .venv/bin/python benchmarks/collect_folder.py [--reps N] [--files N] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

from _bench import (
    DATA_DIR,
    LOOPLINE,
    clear_dvc_repo,
    dvc_bin,
    emit,
    fmt,
    fresh_dir,
    init_dvc_repo,
    median,
    quiet_env,
    run,
    timed,
)

ROOT = DATA_DIR / "collect_folder"
SOURCE = "sources:\n  inbox:\n    type: folder\n    root: inbox\n"


def make_inbox(repo: Path, files: int, size: int = 1024) -> Path:
    """inbox/ of random files, generated once (reused while its marker says the same shape)."""
    inbox = repo / "inbox"
    marker = repo / ".shape"
    shape = f"{files}x{size}"
    if marker.exists() and marker.read_text() == shape and inbox.is_dir():
        return inbox
    fresh_dir(repo)
    print(f"generating {files} files of {size} B", flush=True)
    for i in range(files):
        sub = inbox / f"{i // 1000:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"item-{i:05d}.bin").write_bytes(os.urandom(size))
    marker.write_text(shape)
    return inbox


def fresh_project(repo: Path) -> None:
    shutil.rmtree(repo / ".loopline", ignore_errors=True)
    (repo / "loopline.yaml").unlink(missing_ok=True)
    run([LOOPLINE, "init", "."], repo)
    with open(repo / "loopline.yaml", "a") as fh:
        fh.write(SOURCE)


def collect(repo: Path) -> tuple[float, dict[str, float]]:
    seconds, out = timed([LOOPLINE, "collect", "--json"], repo)
    figures = {m["key"]: m["value"] for m in json.loads(out)["metrics"]}
    return seconds, figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--keep", action="store_true", help="keep the generated folder for next time")
    args = parser.parse_args()

    dvc = dvc_bin()
    repo = ROOT / "repo"
    make_inbox(repo, args.files)
    first: list[float] = []
    second: list[float] = []
    dvc_times: list[float] = []
    try:
        env = init_dvc_repo(dvc, repo)
        with open(repo / ".gitignore", "a") as fh:
            fh.write("/.shape\n/loopline.yaml\n")
        run([dvc, "add", "-q", "inbox"], repo, env)
        for rep in range(max(3, args.reps // 2)):
            fresh_project(repo)
            seconds, figures = collect(repo)
            assert figures["added"] == args.files and figures["files_hashed"] == args.files, figures
            first.append(seconds)
            print(f"first collect {rep + 1}: {seconds:.3f}s", flush=True)
        collect(repo)  # warm-up, untimed
        run([dvc, "status"], repo, env)
        for rep in range(args.reps):
            seconds, figures = collect(repo)
            assert figures["added"] == 0 and figures["files_hashed"] == 0, figures
            second.append(seconds)
            seconds, out = timed([dvc, "status"], repo, env)
            assert "up to date" in out, out
            dvc_times.append(seconds)
            print(f"rep {rep + 1}: loopline {second[-1]:.3f}s  dvc status {dvc_times[-1]:.3f}s", flush=True)
        versions = json.loads(run([LOOPLINE, "datasets", "--json"], repo, quiet_env()))
        assert {d["name"]: d["versions"] for d in versions}["inbox"] == 1, versions
    finally:
        clear_dvc_repo(repo)
        shutil.rmtree(repo / ".loopline", ignore_errors=True)
        (repo / "loopline.yaml").unlink(missing_ok=True)
        if not args.keep:
            shutil.rmtree(ROOT, ignore_errors=True)
    print(f"loopline collect (first):     {fmt(first)}")
    print(f"loopline collect (unchanged): {fmt(second)}")
    print(f"dvc status:                   {fmt(dvc_times)}")
    emit(
        "collect_folder",
        median(second),
        "dvc 3.67 status",
        median(dvc_times),
        first_s=round(median(first), 4),
        first_over_second=round(median(first) / median(second), 2),
        files=args.files,
        reps=args.reps,
    )


if __name__ == "__main__":
    main()
