"""Sharing a folder through S3: `loopline add` + `loopline push` vs `dvc add` + `dvc push`, then
`loopline pull` vs `dvc pull` into an empty checkout, both against the same moto S3 server.

The folder is add_folder.py's: 10,000 files of 1 KB and 10 of 50 MB of random bytes (generated
once under benchmarks/.data/). Each repetition uses fresh buckets (one per tool) on one moto
server started on loopback for the whole run (`moto[server]`, a process of its own), so both
tools pay the same per-request cost. The tools alternate which goes first.

  push: a fresh project / `git init` + `dvc init` repo; timed: add, then push (two processes).
  pull: a project whose metadata is the pushing one's (as a team shares a database) and whose
        blob folder is empty / the DVC repo with its cache and data deleted (a fresh clone keeps
        only data.dvc and .dvc/config); timed: the one pull process.

Usage: .venv/bin/python benchmarks/s3_push_pull.py [--reps N] [--small N] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
from pathlib import Path

from _bench import (
    DVC_VENV,
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
    quiet_env,
    run,
    timed,
)

from loopline.testing.s3 import aws_environment, make_bucket, moto_server


def dvc_with_s3() -> str:
    """DVC's venv with its S3 plugin (dvc-s3), installed on first use."""
    dvc = dvc_bin()
    probe = subprocess.run([str(DVC_VENV / "bin" / "python"), "-c", "import dvc_s3"], capture_output=True)
    if probe.returncode != 0:
        print("installing dvc-s3 into the DVC venv (one time)", flush=True)
        subprocess.run([str(DVC_VENV / "bin" / "pip"), "install", "-q", "dvc-s3"], check=True)
    return dvc


def loopline_round(
    folder: Path, work: Path, rep: int, env: dict[str, str], remote: str
) -> tuple[float, float]:
    alice = fresh_dir(work / f"loopline-{rep}-push")
    run([LOOPLINE, "init", "."], alice, env)
    os.sync()
    add_s, out = timed([LOOPLINE, "add", str(folder), "--name", "data"], alice, env)
    assert "added data@1" in out, out
    push_s, out = timed([LOOPLINE, "push", "--remote", remote, "--json"], alice, env)
    assert '"ok": true' in out, out
    bob = fresh_dir(work / f"loopline-{rep}-pull")
    store = f"sqlite:///{alice / '.loopline' / 'metadata.db'}"
    (bob / "loopline.yaml").write_text(f"project:\n  store: {store}\n  remote: {remote}\nsteps: {{}}\n")
    os.sync()
    pull_s, out = timed([LOOPLINE, "pull", "--json"], bob, env)
    assert '"ok": true' in out, out
    return add_s + push_s, pull_s


def dvc_round(dvc: str, repo: Path, rep: int, aws: dict[str, str], remote: str) -> tuple[float, float]:
    env = {**init_dvc_repo(dvc, repo), **aws}
    run([dvc, "remote", "add", "-d", "bench", remote], repo, env)
    run([dvc, "remote", "modify", "bench", "endpointurl", aws["AWS_ENDPOINT_URL"]], repo, env)
    os.sync()
    add_s, _ = timed([dvc, "add", "-q", "data"], repo, env)
    push_s, _ = timed([dvc, "push", "-q"], repo, env)
    # An empty checkout: what a clone has (data.dvc, .dvc/config), no cache, no data, no state.
    data_aside = repo.parent / f"data-aside-{rep}"
    (repo / "data").rename(data_aside)
    shutil.rmtree(repo / ".dvc" / "cache", ignore_errors=True)
    shutil.rmtree(repo / "dvc-site-cache", ignore_errors=True)
    os.sync()
    try:
        pull_s, _ = timed([dvc, "pull", "-q"], repo, env)
        assert (repo / "data").is_dir()
    finally:
        shutil.rmtree(repo / "data", ignore_errors=True)
        data_aside.rename(repo / "data")
    clear_dvc_repo(repo)
    return add_s + push_s, pull_s


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--small", type=int, default=FOLDER_SHAPE[0], help="how many 1 KB files")
    parser.add_argument("--keep", action="store_true", help="keep the generated folder for next time")
    args = parser.parse_args()

    dvc = dvc_with_s3()
    _, small_size, big, big_size = FOLDER_SHAPE
    folder = make_folder(FOLDER_ROOT / "repo", args.small, small_size, big, big_size)
    repo = folder.parent
    work = FOLDER_ROOT / "work-s3"
    work.mkdir(exist_ok=True)
    times: dict[str, list[float]] = {"loopline push": [], "loopline pull": [], "dvc push": [], "dvc pull": []}
    try:
        with moto_server() as endpoint:
            aws = aws_environment(endpoint)
            env = quiet_env(aws)
            for rep in range(args.reps):
                order = ("loopline", "dvc") if rep % 2 == 0 else ("dvc", "loopline")
                for tool in order:
                    remote = f"s3://{make_bucket(endpoint)}/{tool}"
                    if tool == "loopline":
                        push_s, pull_s = loopline_round(folder, work, rep, env, remote)
                    else:
                        push_s, pull_s = dvc_round(dvc, repo, rep, aws, remote)
                    times[f"{tool} push"].append(push_s)
                    times[f"{tool} pull"].append(pull_s)
                print(
                    f"rep {rep + 1}: " + "  ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()), flush=True
                )
    finally:
        clear_dvc_repo(repo)
        shutil.rmtree(work, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(FOLDER_ROOT, ignore_errors=True)
    for name, values in times.items():
        print(f"{name + ':':15s} {fmt(values)}")
    shape = {"files": args.small + big, "bytes": args.small * small_size + big * big_size, "reps": args.reps}
    emit("s3_pull", median(times["loopline pull"]), "dvc 3.67 + dvc-s3", median(times["dvc pull"]), **shape)
    emit(
        "s3_add_push", median(times["loopline push"]), "dvc 3.67 + dvc-s3", median(times["dvc push"]), **shape
    )


if __name__ == "__main__":
    main()
