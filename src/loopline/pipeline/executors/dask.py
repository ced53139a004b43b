"""Dask distributed executor: an existing scheduler by address, or a LocalCluster of processes.

Workers are assumed to share no disk with the project, so nothing reaches them through its folder:
each task carries the project's step modules (pipeline/shipping.py explains why the source rides in
the task rather than `Client.upload_file`), and inputs and outputs go through the blob store. A
cluster loopline did not start itself may run on other machines, so a project whose blobs are a
local folder is refused before connecting: its workers would write outputs where nobody reads them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from loopline.core.errors import InvalidInput
from loopline.pipeline import shipping
from loopline.pipeline.execute import StepResult, StepTask, execute_task
from loopline.store.blobs import local_root


def check_shared_blobs(address: str, blobs_url: str | None) -> None:
    """InvalidInput when the workers at `address` would have to reach a local blob folder."""
    folder = local_root(blobs_url) if blobs_url else None
    if folder is None and not (blobs_url or "").startswith("memory://"):
        return
    raise InvalidInput(
        f"the project's blobs are a folder of this machine, which the Dask workers at {address} "
        "cannot reach (they share no disk with the project)",
        where=folder or blobs_url,
        hint="keep the blobs in a store every worker reaches: `loopline init --blobs "
        "s3://bucket/prefix` for a new project, or `project: blobs: s3://…` in loopline.yaml "
        "after `loopline push --remote s3://…` of what is stored; or leave out --dask-address for a "
        "LocalCluster on this machine",
    )


class DaskExecutor:
    name = "dask"

    def __init__(self, jobs: int, address: str | None, blobs_url: str | None = None) -> None:
        from distributed import Client, LocalCluster

        self._cluster = None
        self._bundles: dict[tuple[str, str], shipping.CodeBundle] = {}
        if address:
            check_shared_blobs(address, blobs_url)
            self._client = Client(address)
        else:
            self._cluster = LocalCluster(
                n_workers=max(1, jobs),
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=40,
            )
            self._client = Client(self._cluster)

    def _bundle(self, task: StepTask) -> shipping.CodeBundle:
        """The project's modules for this step, packed once per run (the worker checks the code
        hash, so an edit after the fingerprint is refused there)."""
        key = (task.root, task.uses)
        if key not in self._bundles:
            self._bundles[key] = shipping.pack(Path(task.root), [task.uses])
        return self._bundles[key]

    def submit(self, task: StepTask, fn: Callable[..., Any] | None) -> Any:
        shipped = replace(task, code=self._bundle(task))
        # pure=False: a step is recorded per run even when Dask has seen the same arguments.
        return self._client.submit(execute_task, shipped, pure=False, key=f"{task.name}-{task.run_id}")

    def wait(self, handles: list[Any]) -> list[tuple[Any, StepResult]]:
        from distributed import wait

        done, _ = wait(handles, return_when="FIRST_COMPLETED")
        return [(h, h.result()) for h in done]

    def close(self) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()
