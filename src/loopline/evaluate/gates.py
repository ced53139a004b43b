"""Gates: what a model must show on the test set before it may go further.

    gates:
      - {metric: accuracy, min: 0.9}                                    # absolute threshold
      - {metric: rmse, max: 3.5}
      - {metric: f1_macro, no_regression: production, tolerance: 0.01}  # vs the baseline model
      - {metric: accuracy, max_slice_gap: 0.1}                          # best slice - worst slice
      - {metric: accuracy, max_slice_gap: 0.1, slice: country}          # within one slice column

Lower-is-better metrics (rmse, mae, log_loss, ece) regress when they go up. A no_regression gate
with no baseline model (nothing at that alias yet) passes and says so. Any failing gate fails the
step with CheckFailed and the table of all gates; `loopline run` exits 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loopline.core.errors import CheckFailed, ConfigError
from loopline.evaluate._metrics import CLASSIFICATION, LOWER_IS_BETTER, REGRESSION

KINDS = ("min", "max", "no_regression", "max_slice_gap")


@dataclass(frozen=True)
class Gate:
    metric: str
    kind: str
    threshold: float | None = None
    baseline: str | None = None  # alias name, for the report
    tolerance: float = 0.0
    slice: str | None = None

    def describe(self) -> str:
        if self.kind == "no_regression":
            return f"{self.metric} no worse than {self.baseline} (tolerance {self.tolerance:g})"
        if self.kind == "max_slice_gap":
            where = f" across {self.slice} slices" if self.slice else " across slices"
            return f"{self.metric} gap{where} <= {self.threshold:g}"
        return f"{self.metric} {'>=' if self.kind == 'min' else '<='} {self.threshold:g}"


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{what} must be a number, got {value!r}")
    return float(value)


def parse_gates(value: Any, task: str) -> list[Gate]:
    if value is None:
        return []
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ConfigError("`gates` must be a list", hint="write `gates: [{metric: accuracy, min: 0.9}]`")
    known = CLASSIFICATION if task == "classification" else REGRESSION
    gates = []
    for number, entry in enumerate(value, 1):
        where = f"gate {number}"
        if not isinstance(entry, Mapping) or "metric" not in entry:
            raise ConfigError(
                f"{where} must be a mapping with `metric`", hint="e.g. `{metric: accuracy, min: 0.9}`"
            )
        metric = entry["metric"]
        if metric not in known:
            raise ConfigError(
                f"{where}: unknown {task} metric {metric!r}", hint=f"metrics are {', '.join(known)}"
            )
        kinds = [k for k in KINDS if k in entry]
        allowed = {"metric", *kinds, "tolerance", "slice"}
        if len(kinds) != 1 or not set(entry) <= allowed:
            raise ConfigError(
                f"{where} ({metric}) must have exactly one of {', '.join(KINDS)}",
                hint="`tolerance` goes with no_regression, `slice` with max_slice_gap",
            )
        kind = kinds[0]
        misplaced = ("tolerance" in entry and kind != "no_regression") or (
            "slice" in entry and kind != "max_slice_gap"
        )
        if misplaced:
            raise ConfigError(f"{where}: `tolerance` goes with no_regression, `slice` with max_slice_gap")
        if kind == "no_regression":
            tolerance = _number(entry.get("tolerance", 0.0), f"{where} tolerance")
            gates.append(Gate(metric, kind, baseline=str(entry[kind]), tolerance=tolerance))
        else:
            gates.append(
                Gate(metric, kind, _number(entry[kind], f"{where} {kind}"), slice=entry.get("slice"))
            )
    return gates


def check_gates(
    gates: Sequence[Gate], report: Mapping[str, Any], baseline: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """One result per gate: {gate, metric, passed, value, threshold, note}."""
    return [_check(gate, report, baseline) for gate in gates]


def _value(report: Mapping[str, Any] | None, metric: str) -> float | None:
    if report is None:
        return None
    return (report.get("metrics", {}).get(metric) or {}).get("value")


def _check(gate: Gate, report: Mapping[str, Any], baseline: Mapping[str, Any] | None) -> dict[str, Any]:
    value = _value(report, gate.metric)
    result: dict[str, Any] = {"gate": gate.describe(), "metric": gate.metric, "value": value, "note": None}
    lower = gate.metric in LOWER_IS_BETTER
    if gate.kind in ("min", "max"):
        threshold = gate.threshold
        assert threshold is not None, "parse_gates gives a min or max gate its threshold"
        result["threshold"] = threshold
        passed = value is not None and (value >= threshold if gate.kind == "min" else value <= threshold)
        if value is None:
            result["note"] = f"{gate.metric} could not be computed"
    elif gate.kind == "no_regression":
        reference = _value(baseline, gate.metric)
        if baseline is None or reference is None:
            result |= {
                "threshold": None,
                "note": f"no {gate.baseline} model to compare with: nothing to regress",
            }
            passed = True
        else:
            bound = reference + gate.tolerance if lower else reference - gate.tolerance
            result |= {"threshold": bound, "baseline": reference}
            passed = value is not None and (value <= bound if lower else value >= bound)
    else:
        scores = {
            entry["slice"]: entry["metrics"][gate.metric]["value"]
            for entry in report.get("slices", [])
            if entry["metrics"]
            and (gate.slice is None or entry["column"] == gate.slice)
            and entry["metrics"].get(gate.metric, {}).get("value") is not None
        }
        result["threshold"] = gate.threshold
        if len(scores) < 2:
            result |= {"value": None, "note": "fewer than two slices with this metric: no gap"}
            passed = True
        else:
            best, worst = (min, max) if lower else (max, min)
            top, bottom = best(scores, key=scores.__getitem__), worst(scores, key=scores.__getitem__)
            gap = abs(scores[top] - scores[bottom])
            result |= {"value": gap, "note": f"{top} {scores[top]:.4f} vs {bottom} {scores[bottom]:.4f}"}
            passed = gap <= gate.threshold
    result["passed"] = bool(passed)
    return result


def render_gates(results: Sequence[Mapping[str, Any]]) -> str:
    lines = []
    for r in results:
        mark = "PASS" if r["passed"] else "FAIL"
        value = "n/a" if r["value"] is None else f"{r['value']:.4f}"
        note = f"  ({r['note']})" if r.get("note") else ""
        lines.append(f"  {mark}  {r['gate']}: {value}{note}")
    return "\n".join(lines)


def enforce(results: Sequence[Mapping[str, Any]]) -> None:
    failed = [r for r in results if not r["passed"]]
    if failed:
        raise CheckFailed(
            f"{len(failed)} of {len(results)} gate(s) failed:\n{render_gates(results)}",
            hint="the model is not good enough to go further; improve it, or change the gates "
            "in loopline.yaml",
        )
