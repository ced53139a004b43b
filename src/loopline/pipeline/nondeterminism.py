"""Why a re-executed step gave other outputs: the known sources of non-determinism loopline can
see, named for the user as hints beside the differences `reproduce` found.

Two kinds of evidence, and only these: the step's own source (its calls resolved against its
module, so `np.random.rand`, `numpy.random.rand` and `from numpy.random import rand` are one
thing), and the shape of the difference (float noise only, the same rows in another order,
datetimes of the run). Nothing is claimed from a step's callees or from loopline's own stages.
"""

from __future__ import annotations

import ast
import builtins
import datetime as _dt
import inspect
import math
import os
import random
import secrets
import textwrap
import time
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np

NOISE = 1e-6  # a relative difference at most this large is float noise, not a different result
_AGGREGATIONS = {"group_by", "groupby", "agg", "group_by_dynamic", "rolling", "over", "pivot"}
_UNSEEDED = {os.urandom, uuid.uuid1, uuid.uuid4, random.SystemRandom}
_SEEDABLE = {np.random.default_rng, np.random.RandomState, random.Random}  # unseeded without args
_CLOCK = {time.time, time.time_ns, time.monotonic, time.perf_counter, time.process_time}
_CLOCK_METHODS = {"now", "utcnow", "today"}


def _resolve(node: ast.expr, names: dict[str, Any]) -> Any:
    """The object a call's dotted name means in the step's module, or None."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in names:
        return None
    found = names[node.id]
    for part in reversed(parts):
        found = getattr(found, part, None)
        if found is None:
            return None
    return found


def _among(target: Any, known: set[Any]) -> bool:
    """By identity: what a step calls may be unhashable or compare strangely (an expression)."""
    return any(target is k for k in known)


def _unseeded(target: Any, owner: Any, node: ast.Call) -> bool:
    """Randomness no seed governs: the OS's, or a generator made without a seed."""
    if _among(target, _UNSEEDED) or isinstance(owner, random.SystemRandom):
        return True
    if getattr(target, "__module__", None) == secrets.__name__:
        return True
    return _among(target, _SEEDABLE) and not node.args and not node.keywords


def _dotted(node: ast.expr) -> str:
    try:
        return ast.unparse(node)
    except Exception:  # a node ast cannot print back: name it generically
        return "a call"


def source_causes(fn: Callable[..., Any]) -> dict[str, list[str]]:
    """{"unseeded": [...], "global_rng": [...], "clock": [...], "aggregation": [...]}: the calls
    in the step's own source that make its output vary, each as `name (line N)`."""
    found: dict[str, list[str]] = {"unseeded": [], "global_rng": [], "clock": [], "aggregation": []}
    module = getattr(fn, "__module__", "") or ""
    if module.startswith("loopline."):  # built-in stages are tested to reproduce
        return found
    try:
        lines, first = inspect.getsourcelines(fn)
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except (OSError, TypeError, SyntaxError):
        return found
    names = {**vars(builtins), **getattr(fn, "__globals__", {})}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        where = f"{_dotted(node.func)} (line {first + node.lineno - 1})"
        target = _resolve(node.func, names)
        owner = getattr(target, "__self__", None)
        if isinstance(node.func, ast.Attribute) and node.func.attr in _AGGREGATIONS and target is None:
            # a method call on a frame: no object to resolve, the method's name says enough
            found["aggregation"].append(f".{node.func.attr} (line {first + node.lineno - 1})")
        elif _unseeded(target, owner, node):
            found["unseeded"].append(where)
        elif _among(target, _CLOCK) or (
            isinstance(owner, type) and issubclass(owner, _dt.date) and target.__name__ in _CLOCK_METHODS
        ):
            found["clock"].append(where)
        elif owner is getattr(random, "_inst", None) or owner is np.random.mtrand._rand:
            found["global_rng"].append(where)
    return {kind: sorted(set(calls)) for kind, calls in found.items()}


def hints(
    step: str, fn: Callable[..., Any] | None, detail: dict[str, Any] | None, since: _dt.datetime
) -> list[str]:
    """What the difference and the step's code say about the cause, most likely first."""
    causes = source_causes(fn) if fn is not None else {}
    out: list[str] = []
    if causes.get("unseeded"):
        out.append(
            f"unseeded randomness: step {step!r} calls {', '.join(causes['unseeded'])}; "
            "draw from a generator seeded with ctx.seed (np.random.default_rng(ctx.seed))"
        )
    if causes.get("clock"):
        out.append(
            f"the clock: step {step!r} calls {', '.join(causes['clock'])}; pass the time in as a "
            "param or keep it out of the output"
        )
    detail = detail or {}
    columns = detail.get("columns") or []
    clocked = [c["name"] for c in columns if _holds_run_time(c, since)]
    if clocked:
        out.append(f"the clock: column(s) {', '.join(clocked)} hold datetimes of the reproduce run")
    aggregates = causes.get("aggregation") or []
    if detail.get("order_only"):
        via = f" (step {step!r} calls {', '.join(aggregates)})" if aggregates else ""
        out.append(
            f"the same rows in another order{via}: Polars group_by, unique and joins do not keep "
            "row order unless asked (maintain_order=True); sort the output"
        )
    noise = _float_noise(detail)
    if noise is not None:
        suggested = f"{10 ** math.ceil(math.log10(noise)):.0e}" if noise > 0 else "1e-15"
        accept = "" if detail.get("within_tolerance") else f"accept it with --tolerance {suggested}"
        if aggregates:
            out.append(
                f"parallel float aggregation: only float noise (largest relative difference {noise:.1e}) "
                f"and step {step!r} calls {', '.join(aggregates)}: Polars sums groups in parallel, in "
                f"a varying order; sort before aggregating" + (f", or {accept}" if accept else "")
            )
        else:
            out.append(
                f"float noise only (largest relative difference {noise:.1e}): sums taken in another "
                f"order (threads, BLAS)" + (f"; {accept}" if accept else "")
            )
    if causes.get("global_rng") and not out:
        out.append(
            f"step {step!r} draws from a global RNG ({', '.join(causes['global_rng'])}): loopline "
            "seeds it before each step, so it repeats unless threads or other code draw from it in "
            "a varying order; use a generator seeded with ctx.seed"
        )
    return out


def _float_noise(detail: dict[str, Any]) -> float | None:
    """The largest relative difference when a table's or model's only differences are tiny
    float differences; None when anything else differs."""
    if detail.get("kind") == "table":
        found = detail.get("columns") or []
        if (
            detail.get("schema")
            or detail.get("order_only")
            or detail.get("only_expected")
            or detail.get("only_got")
        ):
            return None
        if detail["rows"]["expected"] != detail["rows"]["got"]:
            return None
        floats = all(c["dtype"].startswith("Float") and not c.get("missing_or_nan") for c in found)
    elif detail.get("kind") in ("model", "json"):
        found = (
            (detail.get("params") or [])
            + (detail.get("attributes") or [])
            + (detail.get("differences") or [])
        )
        floats = all("max_rel" in c and isinstance(c.get("expected", 0.0), float) for c in found)
    else:
        return None
    worst = max((c.get("max_rel") or 0.0 for c in found), default=None)
    if not found or not floats or worst is None or worst > NOISE:
        return None
    return float(worst)


def _holds_run_time(column: dict[str, Any], since: _dt.datetime) -> bool:
    """A datetime column whose reproduced values lie between the start of the run and now."""
    if not column.get("dtype", "").startswith("Datetime"):
        return False
    now = _dt.datetime.now(_dt.UTC)
    slack = _dt.timedelta(minutes=5)
    for row in column.get("sample") or []:
        value = row.get("got")
        if not isinstance(value, _dt.datetime):
            return False
        if value.tzinfo is None:  # naive: the step used local time or UTC; accept either
            local = value.astimezone(_dt.UTC)
            utc = value.replace(tzinfo=_dt.UTC)
            if not any(since - slack <= v <= now + slack for v in (local, utc)):
                return False
        elif not since - slack <= value <= now + slack:
            return False
    return bool(column.get("sample"))
