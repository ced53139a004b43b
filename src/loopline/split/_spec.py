"""The split's params, read once and checked against the input's schema before any data is read."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loopline.core.errors import ConfigError

SPLITS = ("train", "validation", "test")
ITEM_ID = "_item_id"
DEFAULT_RATIOS = {"train": 0.7, "validation": 0.15, "test": 0.15}


@dataclass(frozen=True)
class TimeSplit:
    column: str
    validation_from: Any
    test_from: Any


@dataclass(frozen=True)
class SplitSpec:
    ratios: dict[str, float]
    seed: int
    key: tuple[str, ...] | None  # None: `_item_id` if present, else the content hash
    stratify: str | None
    group: str | None
    time: TimeSplit | None


def _columns(value: Any, name: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Sequence) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(f"`{name}` must be a column name or a list of them, got {value!r}")


def _ratios(value: Any) -> dict[str, float]:
    if value is None:
        return dict(DEFAULT_RATIOS)
    if not isinstance(value, Mapping) or not value:
        raise ConfigError(
            f"`ratios` must map split names to shares, got {value!r}",
            hint="write `ratios: {train: 0.7, validation: 0.15, test: 0.15}`",
        )
    unknown = [k for k in value if k not in SPLITS]
    if unknown:
        raise ConfigError(f"unknown split {unknown[0]!r} in `ratios`", hint=f"splits are {', '.join(SPLITS)}")
    ratios = {}
    for name in SPLITS:
        share = value.get(name, 0.0)
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
            raise ConfigError(f"ratio of {name} must be a number between 0 and 1, got {share!r}")
        ratios[name] = float(share)
    if not math.isclose(sum(ratios.values()), 1.0, abs_tol=1e-9):
        raise ConfigError(
            f"`ratios` must add up to 1, they add up to {sum(ratios.values()):g}",
            hint="e.g. `ratios: {train: 0.7, validation: 0.15, test: 0.15}`",
        )
    return ratios


def _time(value: Any) -> TimeSplit | None:
    if value is None:
        return None
    keys = {"column", "validation_from", "test_from"}
    if not isinstance(value, Mapping) or "column" not in value or not set(value) <= keys:
        raise ConfigError(
            f"`time` must be {{column, validation_from, test_from}}, got {value!r}",
            hint="write `time: {column: ts, validation_from: 2024-01-01, test_from: 2024-03-01}`",
        )
    if value.get("validation_from") is None and value.get("test_from") is None:
        raise ConfigError("`time` needs `validation_from`, `test_from` or both")
    return TimeSplit(str(value["column"]), value.get("validation_from"), value.get("test_from"))


def parse(params: Mapping[str, Any]) -> SplitSpec:
    """Check the params alone (no schema); every mistake is a ConfigError saying the fix."""
    seed = params.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"`seed` must be an integer, got {seed!r}")
    time = _time(params.get("time"))
    stratify = _columns(params.get("stratify"), "stratify")
    group = _columns(params.get("group"), "group")
    if stratify is not None and len(stratify) != 1:
        raise ConfigError("`stratify` takes one label column")
    if group is not None and len(group) != 1:
        raise ConfigError("`group` takes one column")
    if time is not None and (params.get("ratios") is not None or stratify or group):
        raise ConfigError(
            "a time split takes its boundaries from `time`, not from ratios, stratify or group",
            hint="remove `ratios`, `stratify` and `group`, or remove `time`",
        )
    if stratify and group:
        raise ConfigError(
            "`stratify` and `group` cannot be combined",
            hint="group keeps a group's rows together; stratify by a label per row — choose one",
        )
    return SplitSpec(
        ratios=_ratios(params.get("ratios")),
        seed=seed,
        key=_columns(params.get("key"), "key"),
        stratify=stratify[0] if stratify else None,
        group=group[0] if group else None,
        time=time,
    )


def check(params: Mapping[str, Any], schemas: Mapping[str, Mapping[str, str] | None]) -> None:
    """The preflight hook of `split`: params, and the columns they name against the table."""
    spec = parse(params)
    schema = schemas.get("table")
    if schema is None:
        return
    named = [
        *((c, "key") for c in spec.key or ()),
        *(((spec.stratify, "stratify (the label)"),) if spec.stratify else ()),
        *(((spec.group, "group"),) if spec.group else ()),
        *(((spec.time.column, "time.column"),) if spec.time else ()),
    ]
    for column, role in named:
        if column not in schema:
            raise ConfigError(
                f"{role} column {column!r} is not in the input table",
                hint=f"its columns are {', '.join(schema)}",
            )
