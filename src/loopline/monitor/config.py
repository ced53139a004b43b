"""The `monitor:` section of loopline.yaml::

    monitor:
      window: 24h              # default production window when no --since is given (none: all)
      every: 1h                # time buckets of the performance figures
      drift:
        alpha: 0.05            # significance after the multiple-testing correction
        correction: holm       # holm (Bonferroni step-down) | bh (Benjamini-Hochberg) | bonferroni | none
        min_psi: 0.0           # a drifted column must also move this much (0: the test decides)
        share: 0.0             # the window drifted when more than this share of columns did
      alerts:
        - rule: drift_share > 0.2
          webhook: http://hooks.example/monitor   # JSON POST; and/or
          log: true                                # a WARNING on the `loopline.monitor` logger
        - rule: accuracy < 0.8
          models: [digits]                         # only these models (default: all)

Every mistake is a ConfigError naming the key and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from loopline.core.errors import ConfigError
from loopline.monitor.alerts import AlertRule, parse_rule

if TYPE_CHECKING:  # drift.py brings scipy along; the config is read without it
    from loopline.monitor.drift import Correction

_KEYS = {"window", "every", "drift", "alerts"}
_DRIFT_KEYS = {"alpha", "correction", "min_psi", "share"}
_ALERT_KEYS = {"rule", "webhook", "log", "models"}
_DURATION = re.compile(r"^(\d+)(s|m|h|d|w)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: Any, key: str, where: str | None = None) -> timedelta:
    found = _DURATION.match(str(text).strip())
    if not found:
        raise ConfigError(f"monitor.{key} must be a duration like 30m, 24h or 7d, got {text!r}", where=where)
    return timedelta(**{_UNITS[found[2]]: int(found[1])})


def _share(value: Any, key: str, where: str | None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ConfigError(f"monitor.drift.{key} must be a number between 0 and 1, got {value!r}", where=where)
    return float(value)


@dataclass(frozen=True)
class MonitorConfig:
    window: timedelta | None = None
    every: str = "1h"
    alpha: float = 0.05
    correction: Correction = "holm"
    min_psi: float = 0.0
    share: float = 0.0
    alerts: tuple[AlertRule, ...] = field(default_factory=tuple)

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None, where: str | None = None) -> MonitorConfig:
        section = section or {}
        if not isinstance(section, Mapping):
            raise ConfigError("`monitor` must be a mapping", where=where, hint="see docs/monitor.md")
        unknown = set(section) - _KEYS
        if unknown:
            raise ConfigError(
                f"unknown key {sorted(unknown)[0]!r} in monitor",
                where=where,
                hint=f"keys are: {', '.join(sorted(_KEYS))}",
            )
        window = parse_duration(section["window"], "window", where) if section.get("window") else None
        every = str(section.get("every", "1h"))
        parse_duration(every, "every", where)
        drift = section.get("drift") or {}
        if not isinstance(drift, Mapping) or set(drift) - _DRIFT_KEYS:
            raise ConfigError(
                "monitor.drift must be a mapping of " + ", ".join(sorted(_DRIFT_KEYS)), where=where
            )
        correction = drift.get("correction", "holm")
        if correction not in ("holm", "bh", "bonferroni", "none"):
            raise ConfigError(
                f"monitor.drift.correction must be holm, bh, bonferroni or none, got {correction!r}",
                where=where,
            )
        min_psi = drift.get("min_psi", 0.0)
        if isinstance(min_psi, bool) or not isinstance(min_psi, int | float) or min_psi < 0:
            raise ConfigError(f"monitor.drift.min_psi must be a number >= 0, got {min_psi!r}", where=where)
        alerts = section.get("alerts") or []
        if not isinstance(alerts, list):
            raise ConfigError("monitor.alerts must be a list of {rule, webhook, log, models}", where=where)
        return cls(
            window=window,
            every=every,
            alpha=_share(drift.get("alpha", 0.05), "alpha", where),
            correction=correction,
            min_psi=float(min_psi),
            share=_share(drift.get("share", 0.0), "share", where),
            alerts=tuple(_alert(a, where) for a in alerts),
        )


def _alert(entry: Any, where: str | None) -> AlertRule:
    if isinstance(entry, str):
        entry = {"rule": entry}
    if not isinstance(entry, Mapping) or "rule" not in entry or set(entry) - _ALERT_KEYS:
        raise ConfigError(
            "an alert is {rule: 'METRIC OP NUMBER', webhook: URL, log: true, models: [...]}, "
            f"got {entry!r}",
            where=where,
        )
    webhook = entry.get("webhook")
    if webhook is not None and not (isinstance(webhook, str) and webhook.startswith(("http://", "https://"))):
        raise ConfigError(f"alert webhook must be an http(s) URL, got {webhook!r}", where=where)
    models = entry.get("models")
    if isinstance(models, str):
        models = [models]
    if models is not None and not (isinstance(models, list) and all(isinstance(m, str) for m in models)):
        raise ConfigError("alert models must be a list of model names", where=where)
    metric, op, threshold = parse_rule(entry["rule"], where)
    return AlertRule(
        text=f"{metric} {op} {threshold:g}",
        metric=metric,
        op=op,
        threshold=threshold,
        webhook=webhook,
        log=bool(entry.get("log", webhook is None)),
        models=tuple(models) if models else None,
    )
