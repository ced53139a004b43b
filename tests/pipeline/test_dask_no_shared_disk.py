"""Pipelines on Dask workers that share no disk with the project: the step code travels in the
task, blobs go through S3 (moto), and each worker runs in a directory of its own under a guard
(dask_guard.py) that logs any file of the project it opens, any folder of it it lists and any
import made with the project on sys.path. The artifact ids are those of `--executor local`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from loopline.core.errors import InvalidInput
from loopline.project import Project
from tests.conftest import cli
from tests.pipeline import dask_guard

GUARD = str(Path(dask_guard.__file__).resolve())

YAML = """
steps:
  make:
    uses: steps:make
    outputs: [table]
  double:
    uses: mypkg.steps:double
    inputs: [table]
    outputs: [doubled]
  total:
    uses: mypkg.steps:total
    inputs: [doubled]
    outputs: [summary]
"""

FILES = {
    # a top-level module that imports a helper module beside it
    "steps.py": "import polars as pl\nfrom helper import offset\n\n\n"
    "def make():\n    return pl.DataFrame({'v': [1, 2, 3]}).with_columns(w=pl.col('v') + offset())\n",
    "helper.py": "def offset():\n    return 10\n",
    # a package whose module imports a sibling, and maps a function of its own over the cluster
    "mypkg/__init__.py": "",
    "mypkg/scale.py": "def factor():\n    return 2\n",
    "mypkg/steps.py": "from mypkg.scale import factor\n\n\n"
    "def double(table):\n    return table.with_columns(d=table['w'] * factor())\n\n\n"
    "def _square(x):\n    return x * x\n\n\n"
    "def total(doubled, ctx):\n    return {'sum': sum(ctx.map(_square, doubled['d'].to_list()))}\n",
}


def make_project(root: Path, blobs: str | None = None) -> Path:
    root.mkdir(parents=True)
    header = f"project:\n  blobs: {blobs}\n" if blobs else ""
    (root / "loopline.yaml").write_text(header + YAML)
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def local_ids(tmp_path: Path) -> dict[str, dict[str, str]]:
    project = Project.init(make_project(tmp_path / "local"))
    run = project.run()
    project.close()
    assert run.status == "succeeded", [s.error for s in run.steps]
    return {s.name: s.outputs for s in run.steps}


def assert_guarded(log: Path, workers: int) -> None:
    setups, probes, violations = dask_guard.read_log(str(log))
    assert setups == workers and probes == workers, log.read_text()  # the guard was on, and works
    assert violations == []


def test_local_cluster_without_the_project_folder(
    tmp_path: Path, s3_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distributed import Client

    expected = local_ids(tmp_path)
    root = make_project(tmp_path / "remote", blobs=s3_url)
    log = tmp_path / "guard.log"
    monkeypatch.setenv("LOOPLINE_GUARD_ROOT", str(root))  # inherited by the worker processes
    monkeypatch.setenv("LOOPLINE_GUARD_LOG", str(log))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "worker-tmp"))  # the workers' blob read cache
    (tmp_path / "worker-tmp").mkdir()
    project = Project.init(root)
    with (
        dask_guard.guarded_cluster(str(tmp_path / "workers")) as cluster,
        Client(cluster),
    ):
        run = project.run(executor="dask", dask_address=cluster.scheduler_address)
    project.close()
    assert run.status == "succeeded", [s.error for s in run.steps]
    assert {s.name: s.outputs for s in run.steps} == expected
    assert_guarded(log, workers=2)
    assert list((tmp_path / "worker-tmp").glob("loopline-cache-*"))
    assert Project.open(root).load("summary") == {"sum": sum((2 * (v + 10)) ** 2 for v in (1, 2, 3))}


def test_a_local_blob_folder_is_refused_for_a_cluster_by_address(tmp_path: Path) -> None:
    project = Project.init(make_project(tmp_path / "p"))
    with pytest.raises(InvalidInput) as caught:  # refused before connecting: no cluster needed
        project.run(executor="dask", dask_address="tcp://127.0.0.1:1")
    message = caught.value.render()
    assert str(tmp_path / "p" / ".loopline" / "blobs") in message and "--blobs s3://" in message
    assert project.runs() == []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _process(args: list[str], cwd: Path, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "wb") as out:
        process = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_worker(address: str, process: subprocess.Popen[bytes], log: Path) -> None:
    from distributed import Client

    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline:
        try:
            with Client(address, timeout=5) as client:
                client.wait_for_workers(1, timeout=max(1.0, deadline - time.monotonic()))
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"the dask worker did not join {address}:\n{log.read_text()}")


def test_cli_on_a_scheduler_and_worker_of_their_own(tmp_path: Path, s3_url: str) -> None:
    root = tmp_path / "remote"
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler_dir, worker_dir, worker_tmp = (tmp_path / n for n in ("scheduler", "worker", "worker-tmp"))
    for folder in (scheduler_dir, worker_dir, worker_tmp):
        folder.mkdir()
    guard_log = tmp_path / "guard.log"
    env = {
        **os.environ,
        "TMPDIR": str(worker_tmp),  # the worker's blob read cache: its own temp dir
        "LOOPLINE_GUARD_ROOT": str(root),
        "LOOPLINE_GUARD_LOG": str(guard_log),
    }
    module = [sys.executable, "-m"]  # the venv's dask-scheduler and dask-worker
    scheduler = [*module, "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port)]
    worker = [*module, "distributed.cli.dask_worker", address, "--nworkers", "1", "--nthreads", "2"]
    worker += ["--local-directory", str(worker_dir), "--preload", GUARD, "--no-dashboard"]
    with (
        _process([*scheduler, "--no-dashboard"], scheduler_dir, env, tmp_path / "scheduler.log"),
        _process(worker, worker_dir, env, tmp_path / "worker.log") as started,
    ):
        expected = local_ids(tmp_path)  # while the cluster starts
        Project.init(make_project(root, blobs=s3_url)).close()
        _wait_for_worker(address, started, tmp_path / "worker.log")
        result = cli("run", "--executor", "dask", "--dask-address", address, "--json", cwd=root, check=True)
        # the code it ran: its own copy, in its directory (removed when the worker stops)
        assert list(worker_dir.rglob("loopline-code/*/mypkg/steps.py"))
    report = json.loads(result.stdout)
    assert {s["name"]: s["outputs"] for s in report["steps"]} == expected
    assert_guarded(guard_log, workers=1)
    assert list(worker_tmp.glob("loopline-cache-*"))


@pytest.mark.parametrize("edited", [False, True])
def test_a_worker_runs_only_the_code_that_was_fingerprinted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edited: bool
) -> None:
    """The bundle is what the worker imports; a function whose source is not the fingerprinted
    one (edited between the fingerprint and the packing) is refused, not run."""
    from loopline.core.hashing import hash_text
    from loopline.pipeline import shipping
    from loopline.pipeline.execute import StepTask, execute_task

    monkeypatch.setattr(sys, "path", list(sys.path))  # install() puts the bundle first
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where it unpacks off a worker
    source = "def make():\n    return {'v': 2}\n"
    (tmp_path / "shippedsteps.py").write_text(source)
    bundle = shipping.pack(tmp_path, ["shippedsteps:make"])
    assert bundle.modules == ("shippedsteps",)
    fingerprinted = source.replace("2", "1") if edited else source
    task = StepTask(
        "run", "make", "shippedsteps:make", hash_text(fingerprinted), {}, {}, ("out",), "0" * 64,
        str(tmp_path / "blobs"), root="/nowhere", code=bundle,
    )  # fmt: skip
    try:
        result = execute_task(task)
    finally:
        sys.modules.pop("shippedsteps", None)
    if edited:
        assert result.error is not None and "changed after the run started" in result.error
    else:
        assert result.error is None and list(result.outputs) == ["out"]
