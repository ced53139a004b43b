"""Dask distributed executor: an existing scheduler by address, or a LocalCluster of processes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from loopline.pipeline.execute import StepResult, StepTask, execute_task


class DaskExecutor:
    name = "dask"

    def __init__(self, jobs: int, address: str | None) -> None:
        from distributed import Client, LocalCluster

        self._cluster = None
        if address:
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

    def submit(self, task: StepTask, fn: Callable[..., Any] | None) -> Any:
        # pure=False: a step is recorded per run even when Dask has seen the same arguments.
        return self._client.submit(execute_task, task, pure=False, key=f"{task.name}-{task.run_id}")

    def wait(self, handles: list[Any]) -> list[tuple[Any, StepResult]]:
        from distributed import wait

        done, _ = wait(handles, return_when="FIRST_COMPLETED")
        return [(h, h.result()) for h in done]

    def close(self) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()
