"""Experiment tracking's records (experiments, runs, metric points) and the run-search language.

The search language is MLflow's filter grammar (core/search_filter.py), loosened for a shell:
`metrics.f1 > 0.9 and params.C = '1'` and `params.C=1` both parse. Keys are `params.K`,
`metrics.K`, `tags.K` or a run attribute (`status`, `name`, `user`, `run_id`, `experiment_id`,
`start_time`, `end_time`); comparators = != < <= > >= LIKE ILIKE IN NOT IN IS [NOT] NULL.
The active-run recording API (`loopline.log_metric` & co.) is in recording.py.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from loopline.core.errors import InvalidInput
from loopline.core.search_filter import Clause, Kind, Spec, order_key, parse, split_order
from loopline.core.search_specs import RUN_ORDER, RUNS


@dataclass(frozen=True)
class Experiment:
    id: int
    name: str
    lifecycle: str
    created_at: datetime
    artifact_location: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    runs: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "experiment_id": self.id,
            "name": self.name,
            "lifecycle": self.lifecycle,
            "created_at": self.created_at.isoformat(),
            "artifact_location": self.artifact_location,
            "tags": self.tags,
            "runs": self.runs,
        }


@dataclass(frozen=True)
class MetricPoint:
    """One logged value of a metric; None is a NaN the MLflow API accepted (stored as NULL)."""

    key: str
    value: float | None
    step: int
    timestamp: float
    step_name: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "value": self.value,
            "step": self.step,
            "timestamp": self.timestamp,
            "step_name": self.step_name,
        }


@dataclass(frozen=True)
class TrackedRun:
    """A run as tracking and the MLflow API see it: a pipeline run, a run started with
    `start_run` or an MLflow client's, with the latest point of each metric."""

    id: str
    experiment_id: int | None
    name: str | None
    user: str | None
    status: str
    started_at: datetime
    finished_at: datetime | None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    points: tuple[MetricPoint, ...] = ()  # the latest point of each metric, by key
    lifecycle: str = "active"  # or "deleted" (restorable until `loopline gc`)

    @property
    def metrics(self) -> dict[str, float | None]:
        """The latest value of each metric, what `loopline runs` shows and search compares."""
        return {p.key: p.value for p in self.points}

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.id,
            "experiment_id": self.experiment_id,
            "name": self.name,
            "user": self.user,
            "status": self.status,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "params": self.params,
            "tags": self.tags,
            "metrics": self.metrics,
        }


RunFilter = Clause  # one clause of a run search (core/search_filter.py parses them)


@dataclass(frozen=True)
class RunOrder:
    kind: Kind
    key: str
    descending: bool = False


def parse_filter(text: str, spec: Spec = RUNS) -> list[RunFilter]:
    """One run filter string (clauses joined by `and`), MLflow's grammar loosened for a shell:
    `params.C=1` (unquoted text) and `==` parse too."""
    return parse(text, spec, loose=True)


def parse_order(
    text: str, descending: bool | None = None, spec: Spec = RUNS, orderable: Mapping[str, str] = RUN_ORDER
) -> RunOrder:
    """`metrics.f1`, `metrics.f1 DESC`, `params.C ASC`, `start_time`."""
    key_text, direction = split_order(text)
    if not key_text:
        raise InvalidInput("order_by is empty", hint="write e.g. metrics.f1 DESC")
    kind, key = order_key(key_text, spec, orderable)
    return RunOrder(kind, key, direction if descending is None else descending)


def check_metric(key: str, value: Any, step: Any) -> tuple[str, float, int]:
    """A metric as stored: a non-empty key, a finite-or-infinite float, an integer step."""
    if not isinstance(key, str) or not key:
        raise InvalidInput(f"metric key {key!r} must be a non-empty string")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"metric {key!r}: value {value!r} is not a number") from None
    if math.isnan(number):
        raise InvalidInput(f"metric {key!r}: value is NaN", hint="log a number; NaN is not stored")
    if isinstance(step, bool) or not isinstance(step, int):
        if isinstance(step, float) and step.is_integer():
            step = int(step)
        else:
            raise InvalidInput(f"metric {key!r}: step {step!r} is not an integer")
    return key, number, step


def param_text(value: Any) -> str:
    """How a param value is stored: text, as MLflow stores it."""
    return value if isinstance(value, str) else str(value)


def compare_runs(a: TrackedRun, b: TrackedRun) -> dict[str, Any]:
    """Two runs side by side: every param, metric (latest) and tag of either, and which differ."""

    def side(left: Mapping[str, Any], right: Mapping[str, Any], numeric: bool) -> list[dict[str, Any]]:
        out = []
        for key in sorted({*left, *right}):
            va, vb = left.get(key), right.get(key)
            entry: dict[str, Any] = {"key": key, "a": va, "b": vb, "same": va == vb}
            if numeric:
                entry["delta"] = vb - va if va is not None and vb is not None else None
            out.append(entry)
        return out

    return {
        "a": {k: v for k, v in a.to_json().items() if k not in ("params", "metrics", "tags")},
        "b": {k: v for k, v in b.to_json().items() if k not in ("params", "metrics", "tags")},
        "params": side(a.params, b.params, False),
        "metrics": side(a.metrics, b.metrics, True),
        "tags": side(a.tags, b.tags, False),
    }
