"""The registry of MLflow client checks: each is a function of a Context, tagged with the point of
issue 18 it covers (1 stages, 2 registered-model search, 3 search filters and run_view_type,
4 lifecycle, 5 runs:/ sources, 6 large artifacts, 7 model metrics and run outputs, 8 experiment
paging, 9 tracing and prompts, 0 the calls that already worked).

A check passes when it returns; it fails on any exception. Every check must pass against
`mlflow server` too (benchmarks/mlflow_parity.py runs them against both): it states what the
MLflow client sees, never how loopline stores it. Runs in the MLflow client venv only.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mlflow import MlflowClient


@dataclass
class Context:
    client: MlflowClient
    tmp: Path
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def name(self, what: str) -> str:
        """A name unique to this run of the checks (servers are shared between checks)."""
        return f"{what}-{self.tag}"


@dataclass(frozen=True)
class Check:
    point: int
    name: str
    run: Callable[[Context], None]


CHECKS: list[Check] = []


def check(point: int) -> Callable[[Callable[[Context], None]], Callable[[Context], None]]:
    def register(fn: Callable[[Context], None]) -> Callable[[Context], None]:
        CHECKS.append(Check(point, fn.__name__, fn))
        return fn

    return register
