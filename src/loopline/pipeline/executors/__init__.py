"""Executors run StepTasks: inline, in a local process pool, or on Dask distributed."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from loopline.pipeline.execute import StepResult, StepTask


class Executor(Protocol):
    name: str

    def submit(self, task: StepTask, fn: Callable[..., Any] | None) -> Any:
        """Start a task; returns a handle for `wait`."""

    def wait(self, handles: list[Any]) -> list[tuple[Any, StepResult]]:
        """Block until at least one handle is done; return the finished ones with results."""

    def close(self) -> None: ...


def make_executor(
    kind: str, jobs: int, dask_address: str | None = None, blobs_url: str | None = None
) -> Executor:
    """The executor by name; `blobs_url` (the project's blob store) lets Dask refuse a local folder
    that the workers of a cluster by address cannot reach."""
    from loopline.core.errors import InvalidInput

    if kind == "local":
        from loopline.pipeline.executors.local import InlineExecutor, ProcessExecutor

        return InlineExecutor() if jobs <= 1 else ProcessExecutor(jobs)
    if kind == "dask":
        from loopline.pipeline.executors.dask import DaskExecutor

        return DaskExecutor(jobs, dask_address, blobs_url)
    raise InvalidInput(f"unknown executor {kind!r}", hint="use --executor local or --executor dask")


__all__ = ["Executor", "make_executor"]
