"""A Dask worker preload (`--preload THIS_FILE`) that makes a worker one with no access to the
project: it moves into its own directory and, by an audit hook, writes to a log every file opened,
folder listed or import made while the project folder (LOOPLINE_GUARD_ROOT) is on sys.path.

The log (LOOPLINE_GUARD_LOG) gets `setup PID` once per worker, then `probe PID`: the hook
catching a deliberate open of the project's loopline.yaml, proof that it would catch any other;
every line after that starting `violation` is the worker reaching into the project.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

_WATCHED = {"open", "os.listdir", "os.scandir", "os.chdir", "import"}


def _path_of(event: str, args: tuple[Any, ...]) -> str | None:
    if event == "import":  # (module, filename, sys.path, sys.meta_path, sys.path_hooks)
        return None
    first = args[0] if args else None
    if isinstance(first, str | bytes | os.PathLike):
        return os.path.abspath(os.fsdecode(first))
    return None


def dask_setup(worker: Any) -> None:
    roots = {os.path.abspath(os.environ["LOOPLINE_GUARD_ROOT"])}
    roots.add(os.path.realpath(next(iter(roots))))
    log = os.environ["LOOPLINE_GUARD_LOG"]
    here = os.path.join(worker.local_directory, "cwd")
    os.makedirs(here, exist_ok=True)
    os.chdir(here)
    probing: list[bool] = []

    def write(line: str) -> None:
        with open(log, "a") as out:  # the log is outside the project: this open is not one
            out.write(f"{line} {os.getpid()}\n")

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event not in _WATCHED:
            return
        path = _path_of(event, args)
        inside = path is not None and any(path == r or path.startswith(r + os.sep) for r in roots)
        on_path = event == "import" and any(r in sys.path for r in roots)
        if inside or on_path:
            write("probe" if probing else f"violation {event} {path or args[0]}")

    sys.addaudithook(hook)
    write("setup")
    probing.append(True)
    with contextlib.suppress(OSError), open(os.path.join(next(iter(roots)), "loopline.yaml")):
        pass
    probing.clear()


def read_log(path: str) -> tuple[int, int, list[str]]:
    """(workers set up, probes caught, violations) from a guard log."""
    if not os.path.exists(path):
        return 0, 0, []
    with open(path) as log:
        lines = log.read().splitlines()
    setups = sum(line.startswith("setup ") for line in lines)
    probes = sum(line.startswith("probe ") for line in lines)
    return setups, probes, [line for line in lines if line.startswith("violation")]


def guarded_cluster(local_directory: str) -> Any:
    """A LocalCluster of 2 process workers, each preloading this guard (set LOOPLINE_GUARD_ROOT
    and LOOPLINE_GUARD_LOG first: the workers inherit them). Imported only by the tests."""
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=40,
        local_directory=local_directory,
        preload=[os.path.realpath(__file__)],
    )
