"""Local executors: inline (one step at a time, in this process) and a process pool for --jobs N.

A process per step keeps each step's global random state its own, so parallel steps stay as
reproducible as sequential ones.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from loopline.pipeline.execute import StepResult, StepTask, execute_task


class InlineExecutor:
    name = "local"

    def __init__(self) -> None:
        self._done: dict[int, StepResult] = {}

    def submit(self, task: StepTask, fn: Callable[..., Any] | None) -> Any:
        result = execute_task(task, fn)
        self._done[id(result)] = result
        return id(result)

    def wait(self, handles: list[Any]) -> list[tuple[Any, StepResult]]:
        return [(h, self._done.pop(h)) for h in handles]

    def close(self) -> None:
        self._done.clear()


class ProcessExecutor:
    name = "local"

    def __init__(self, jobs: int) -> None:
        # spawn, not fork: the parent may hold Polars or SQLite threads that fork would copy mid-lock.
        self._pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"))

    def submit(self, task: StepTask, fn: Callable[..., Any] | None) -> Future[StepResult]:
        return self._pool.submit(execute_task, task)

    def wait(self, handles: list[Any]) -> list[tuple[Any, StepResult]]:
        done, _ = wait(handles, return_when=FIRST_COMPLETED)
        return [(h, h.result()) for h in done]

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
