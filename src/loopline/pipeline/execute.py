"""Executing one step, in whatever process an executor chose.

The task carries artifact records and the blob store URL, never data, so the same function runs
inline, in a process pool or on a Dask worker; outputs go straight to the blob store and only
their records travel back. The parent alone writes metadata. A task for a worker without the
project folder carries the step's source too (`code`, see pipeline/shipping.py).
"""

from __future__ import annotations

import inspect
import logging
import random
import shutil
import sys
import tempfile
import time
import traceback
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from loopline.core.errors import LooplineError
from loopline.core.recording import recording
from loopline.core.types import Artifact
from loopline.pipeline import shipping
from loopline.pipeline.step import ChildRun, StepContext, code_hash, resolve, seed_from
from loopline.store.artifacts import load_value, save_value
from loopline.store.blobs import BlobStore, open_blob_store


@dataclass(frozen=True)
class StepTask:
    run_id: str
    name: str
    uses: str
    code_hash: str
    params: dict[str, Any]
    inputs: dict[str, Artifact]
    outputs: tuple[str, ...]
    fingerprint: str
    blobs_url: str
    root: str
    args: dict[str, str] = field(default_factory=dict)  # input artifact -> function argument
    keys: dict[str, str] = field(default_factory=dict)  # output artifact -> returned key
    code: shipping.CodeBundle | None = None  # the project's modules, when `root` is not on this machine


@dataclass
class StepResult:
    name: str
    outputs: dict[str, Artifact] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None
    metrics: list[tuple[str, float, int, float]] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    children: list[ChildRun] = field(default_factory=list)
    gates: list[dict[str, Any]] = field(default_factory=list)


@lru_cache(maxsize=4)
def _blob_store(url: str) -> BlobStore:
    return open_blob_store(url)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:  # numpy is a dependency, but a step must not fail for want of it
        pass


def lazy_arguments(fn: Callable[..., Any]) -> set[str]:
    """The arguments whose annotation admits a `pl.LazyFrame`: a table input reaches them as a
    lazy scan of its Parquet blob, so a step that streams never holds the whole table."""
    import polars as pl

    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # an annotation that does not resolve: the step gets frames, as always
        return set()
    return {
        name for name, hint in hints.items() if hint is pl.LazyFrame or pl.LazyFrame in typing.get_args(hint)
    }


def _outputs_of(task: StepTask, value: Any) -> dict[str, Any]:
    if len(task.outputs) == 1 and not task.keys:
        return {task.outputs[0]: value}
    wanted = {name: task.keys.get(name, name) for name in task.outputs}
    exact = not task.keys  # plain names: the dict must hold exactly the outputs
    if (
        not isinstance(value, dict)
        or not set(wanted.values()) <= set(value)
        or (exact and set(value) != set(wanted.values()))
    ):
        got = sorted(value) if isinstance(value, dict) else type(value).__name__
        raise LooplineError(
            f"step {task.name!r} must return a dict with keys {sorted(wanted.values())}, got {got}",
            hint="return {output_name: value} for a step with several outputs",
        )
    return {name: value[key] for name, key in wanted.items()}


def load_step(task: StepTask) -> Callable[..., Any]:
    """The step's function: from the code the task carries, else from the project folder; refused
    when its source is not the code the run fingerprinted."""
    if task.code is None:
        if task.root not in sys.path:
            sys.path.insert(0, task.root)
        fn = resolve(task.uses)
    else:
        with shipping.importing():
            shipping.install(task.code)
            fn = resolve(task.uses)
            shipping.pickle_by_value(task.code)
    if code_hash(fn) != task.code_hash:
        raise LooplineError(
            f"the code of step {task.name!r} changed after the run started",
            hint="run again: the new code gets its own fingerprint",
        )
    return fn


def execute_task(task: StepTask, fn: Callable[..., Any] | None = None) -> StepResult:
    """Run one step; never raises for a failure of the step itself (it is reported instead)."""
    started = time.perf_counter()
    result = StepResult(task.name)
    scratch = Path(tempfile.mkdtemp(prefix=f"loopline-{task.name}-"))
    logged: StepContext | None = None
    try:
        if fn is None:
            fn = load_step(task)
        store = _blob_store(task.blobs_url)
        lazy = lazy_arguments(fn)
        kwargs: dict[str, Any] = {}
        for name, art in task.inputs.items():
            argument = task.args.get(name, name)
            kwargs[argument] = load_value(store, art, lazy=argument in lazy)
        kwargs.update(task.params)
        seed = seed_from(task.fingerprint)
        ctx = StepContext(
            task.run_id, task.name, seed, scratch, logging.getLogger(f"loopline.step.{task.name}")
        )
        logged = ctx
        if "ctx" in inspect.signature(fn).parameters:
            kwargs["ctx"] = ctx
        _seed_everything(seed)
        with recording(ctx):  # `loopline.log_metric` & co. reach this step's context
            values = _outputs_of(task, fn(**kwargs))
        result.outputs = {name: save_value(store, value, output=name) for name, value in values.items()}
    except Exception as exc:
        result.error = "".join(traceback.format_exception(exc))
    finally:
        if logged is not None:  # what it logged before failing too: a failed gate's table, say
            result.metrics, result.params, result.tags = logged.metrics, logged.params, logged.tags
            result.children, result.gates = logged.children, logged.gates
        shutil.rmtree(scratch, ignore_errors=True)
        result.seconds = time.perf_counter() - started
    return result
