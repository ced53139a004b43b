"""Experiment tracking's records (experiments, runs, metric points) and the run-search language.

The search language is MLflow's filter syntax, loosened for a shell: `metrics.f1 > 0.9 and
params.C = '1'` and `params.C=1` both parse. Keys are `params.K`, `metrics.K`, `tags.K` or a run
attribute (`status`, `name`, `user`, `run_id`, `experiment_id`, `start_time`, `end_time`).
The active-run recording API (`loopline.log_metric` & co.) is in recording.py.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from loopline.core.errors import InvalidInput

Kind = Literal["params", "metrics", "tags", "attributes"]
ATTRIBUTES = {
    "status": "status",
    "name": "name",
    "run_name": "name",
    "user": "user",
    "run_id": "run_id",
    "id": "run_id",
    "experiment_id": "experiment_id",
    "start_time": "started_at",
    "started_at": "started_at",
    "end_time": "finished_at",
    "finished_at": "finished_at",
}
_PREFIXES: dict[str, Kind] = {
    "params": "params",
    "param": "params",
    "metrics": "metrics",
    "metric": "metrics",
    "tags": "tags",
    "tag": "tags",
    "attributes": "attributes",
    "attribute": "attributes",
    "attr": "attributes",
    "run": "attributes",
}
_OPS = ("<=", ">=", "!=", "=", "<", ">")
_TEXT_OPS = frozenset({"=", "!="})
_TIMES_MS = (-62_135_596_800_000, 253_402_300_799_000)  # years 1 to 9999 in milliseconds since 1970


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


@dataclass(frozen=True)
class RunFilter:
    kind: Kind
    key: str
    op: str
    value: str | float

    def __str__(self) -> str:
        prefix = "" if self.kind == "attributes" else f"{self.kind}."
        return f"{prefix}{self.key} {self.op} {self.value!r}"


@dataclass(frozen=True)
class RunOrder:
    kind: Kind
    key: str
    descending: bool = False


def _split_key(text: str, where: str) -> tuple[Kind, str]:
    text = text.strip()
    prefix, dot, rest = text.partition(".")
    if dot and prefix.lower() in _PREFIXES:
        kind = _PREFIXES[prefix.lower()]
        key = _unquote(rest.strip())
    else:
        kind, key = "attributes", _unquote(text)
    if not key:
        raise InvalidInput(f"empty key in {where!r}", hint="write e.g. metrics.f1 or params.C")
    if kind == "attributes":
        if key.lower() not in ATTRIBUTES:
            raise InvalidInput(
                f"unknown run attribute {key!r} in {where!r}",
                hint="prefix a key with params., metrics. or tags., or use one of "
                + ", ".join(sorted(set(ATTRIBUTES))),
            )
        key = ATTRIBUTES[key.lower()]
    return kind, key


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"`":
        return text[1:-1]
    return text


def parse_filter(text: str) -> list[RunFilter]:
    """One filter string, possibly several clauses joined by `and`."""
    clauses = [c for c in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE) if c.strip()]
    if not clauses:
        raise InvalidInput("empty filter", hint="write e.g. metrics.f1>0.9 or params.C=1")
    return [_parse_clause(c, text) for c in clauses]


def _parse_clause(clause: str, where: str) -> RunFilter:
    match = re.match(r"^\s*(.+?)\s*(<=|>=|!=|==|=|<|>)\s*(.*?)\s*$", clause)
    if match is None:
        raise InvalidInput(
            f"filter {clause!r} has no comparison",
            hint="write KEY OP VALUE with OP one of = != < <= > >=, e.g. metrics.f1>0.9",
        )
    left, op, right = match.groups()
    op = "=" if op == "==" else op
    kind, key = _split_key(left, where)
    raw = _unquote(right)
    if right == "":
        raise InvalidInput(f"filter {clause!r} has no value", hint="write e.g. params.C=1")
    if kind == "metrics" or (kind == "attributes" and key in ("started_at", "finished_at")):
        try:
            number = float(raw)
        except ValueError:
            raise InvalidInput(
                f"filter {clause!r} compares {left.strip()} with {raw!r}, which is not a number",
                hint="metrics and times compare with numbers",
            ) from None
        if math.isnan(number):
            raise InvalidInput(f"filter {clause!r} compares with NaN", hint="compare with a number")
        if kind == "attributes" and not _TIMES_MS[0] <= number <= _TIMES_MS[1]:
            raise InvalidInput(
                f"filter {clause!r}: {raw} is not a time", hint="times are milliseconds since 1970"
            )
        return RunFilter(kind, key, op, number)
    if op not in _TEXT_OPS:
        raise InvalidInput(
            f"filter {clause!r}: {kind} compare with = or != only",
            hint="params and tags are text; order numbers with metrics",
        )
    if kind == "attributes" and key == "experiment_id" and not (raw.isdigit() and int(raw) < 2**63):
        raise InvalidInput(f"experiment_id {raw!r} in {clause!r} is not a number")
    return RunFilter(kind, key, op, raw)


def parse_order(text: str, descending: bool | None = None) -> RunOrder:
    """`metrics.f1`, `metrics.f1 DESC`, `params.C ASC`, `start_time`."""
    words = text.strip().rsplit(None, 1)
    direction = False
    if len(words) == 2 and words[1].lower() in ("asc", "desc"):
        direction = words[1].lower() == "desc"
        text = words[0]
    kind, key = _split_key(text, text)
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
