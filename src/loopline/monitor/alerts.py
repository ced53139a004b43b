"""Alert rules (`drift_share > 0.2`, `accuracy < 0.8`), what they are checked against, and their
delivery: a JSON POST to a webhook and/or a WARNING on the `loopline.monitor` logger.

De-duplication: an alert is sent when its rule starts to hold for a model, not again while it
keeps holding, and may be sent again only after a run where it did not hold (it cleared). The
state per (model, rule) is kept by the caller (the metadata store); `decide` is the pure rule.
A rule whose metric a report does not have (accuracy before any ground truth, anything in an
empty window) is not evaluated and its state does not change.
"""

from __future__ import annotations

import logging
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from loopline.core.errors import ConfigError

log = logging.getLogger("loopline.monitor")

_RULE = re.compile(r"^\s*([a-z_]+)\s*(<=|>=|==|!=|<|>)\s*(-?\d+(?:\.\d*)?(?:e-?\d+)?)\s*$")
OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
METRICS = (
    "drift_share",
    "drifted_columns",
    "prediction_drift",
    "prediction_psi",
    "accuracy",
    "f1_macro",
    "mae",
    "rmse",
    "estimated_accuracy",
    "max_null_rate",
    "max_out_of_range",
    "max_unseen",
    "rows",
)

Action = Literal["fire", "hold", "clear", "quiet"]


@dataclass(frozen=True)
class AlertRule:
    text: str
    metric: str
    op: str
    threshold: float
    webhook: str | None = None
    log: bool = True
    models: tuple[str, ...] | None = None

    def applies_to(self, model: str) -> bool:
        return self.models is None or model in self.models


def parse_rule(text: Any, where: str | None = None) -> tuple[str, str, float]:
    found = _RULE.match(str(text))
    if not found or found[1] not in METRICS:
        raise ConfigError(
            f"alert rule {text!r} is not `METRIC OP NUMBER`",
            where=where,
            hint=f"e.g. `drift_share > 0.2`; metrics: {', '.join(METRICS)}",
        )
    return found[1], found[2], float(found[3])


def report_metrics(report: Mapping[str, Any]) -> dict[str, float]:
    """The figures rules can name, from a monitoring report (absent when not measured)."""
    out: dict[str, float] = {"rows": float(report["window"]["rows"])}
    if drift := report.get("drift"):
        out["drift_share"] = float(drift["share"])
        out["drifted_columns"] = float(drift["drifted_columns"])
    if pred := report.get("prediction_drift"):
        out["prediction_drift"] = float(bool(pred["drifted"]))
        if pred.get("psi") is not None:
            out["prediction_psi"] = float(pred["psi"])
    if quality := report.get("quality"):
        for key in ("max_null_rate", "max_out_of_range", "max_unseen"):
            out[key] = float(quality[key])
    for key in ("accuracy", "f1_macro", "mae", "rmse"):
        if (perf := report.get("performance")) and perf.get(key) is not None:
            out[key] = float(perf[key])
    if (estimate := report.get("estimated_performance")) and estimate.get("accuracy") is not None:
        out["estimated_accuracy"] = float(estimate["accuracy"])
    return out


def decide(holds: bool | None, previous: str | None) -> Action:
    """fire (send), hold (still true: sent already), clear (was firing, now fine), quiet."""
    if holds is None:
        return "quiet"
    if holds:
        return "hold" if previous == "firing" else "fire"
    return "clear" if previous == "firing" else "quiet"


def evaluate(rule: AlertRule, metrics: Mapping[str, float]) -> tuple[bool | None, float | None]:
    value = metrics.get(rule.metric)
    if value is None:
        return None, None
    return OPS[rule.op](value, rule.threshold), value


def deliver(rule: AlertRule, payload: Mapping[str, Any], post: Callable[..., Any] | None = None) -> bool:
    """Send one alert; True when every configured channel took it (a webhook answered 2xx)."""
    ok = True
    if rule.log:
        log.warning(
            "monitor alert %s for %s version %s: %s (value %s)",
            rule.text,
            payload.get("model"),
            payload.get("version"),
            payload.get("state"),
            payload.get("value"),
        )
    if rule.webhook:
        import httpx

        try:
            response = (post or httpx.post)(rule.webhook, json=dict(payload), timeout=10.0)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            log.error("monitor alert %s: webhook %s failed: %s", rule.text, rule.webhook, exc)
            ok = False
    return ok
