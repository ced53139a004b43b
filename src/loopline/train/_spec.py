"""What a training step is asked to do, checked before any data is read: the estimator by import
path, its params, the target and feature columns, the metric, the search space.

Every mistake is a ConfigError naming the fix, raised from the step's `check` hook so a bad
loopline.yaml exits 2 before anything trains.
"""

from __future__ import annotations

import importlib
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loopline.core.errors import ConfigError

DEFAULT_ESTIMATOR = "sklearn.linear_model:LogisticRegression"
_NUMERIC = ("Int", "UInt", "Float", "Boolean", "Decimal")
SPACE_TYPES = ("float", "int", "categorical")


def import_object(path: str, what: str) -> Any:
    """`module:Name` (or `module.Name`) imported; a ConfigError says what to fix."""
    if not isinstance(path, str) or not path:
        raise ConfigError(f"{what} must be an import path like sklearn.linear_model:LogisticRegression")
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ConfigError(
            f"{what} {path!r} is not an import path",
            hint="write module:Name, e.g. sklearn.linear_model:LogisticRegression",
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = "install it (pip install lightgbm)" if module_name.startswith("lightgbm") else None
        raise ConfigError(
            f"{what} {path!r}: cannot import {module_name!r} ({exc})",
            hint=hint or "check the module path; a project module is imported from the project folder",
        ) from exc
    target: Any = module
    for part in attr.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise ConfigError(f"{what} {path!r}: module {module_name!r} has no {attr!r}")
    return target


def estimator_class(path: str) -> type:
    cls = import_object(path, "estimator")
    if not inspect.isclass(cls) or not callable(getattr(cls, "fit", None)):
        raise ConfigError(
            f"estimator {path!r} is not a class with a fit method",
            hint="name a scikit-learn-compatible estimator class, or use `trainer:` for a function",
        )
    return cls


def estimator_params(cls: type[Any]) -> list[str]:
    """The params the estimator's constructor takes (scikit-learn's contract)."""
    getter = getattr(cls, "_get_param_names", None)
    if callable(getter):
        try:
            return list(getter())
        except Exception:  # a third-party class may not follow the contract; fall back
            pass
    signature = inspect.signature(cls.__init__)
    return [n for n, p in signature.parameters.items() if n != "self" and p.kind is p.POSITIONAL_OR_KEYWORD]


def check_params(cls: type[Any], path: str, names: Sequence[str], what: str) -> None:
    known = estimator_params(cls)
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in inspect.signature(cls.__init__).parameters.values())
    for name in names:
        if name not in known and not accepts_any:
            raise ConfigError(
                f"{what} names {name!r}, which {path} does not have",
                hint=f"its params are {', '.join(sorted(known)) or 'none'}",
            )


def build(cls: type, params: Mapping[str, Any], seed: int) -> Any:
    """The estimator with the given params; seeded and single-threaded unless the params say
    otherwise, so the same step gives the same model."""
    known = set(estimator_params(cls))
    values = dict(params)
    if "random_state" in known and "random_state" not in values:
        values["random_state"] = seed
    foreign = not cls.__module__.startswith("sklearn")  # scikit-learn's n_jobs keeps results exact
    if foreign and "n_jobs" in known and "n_jobs" not in values:
        values["n_jobs"] = 1  # LightGBM's threads can change its trees
    if cls.__module__.startswith("lightgbm") and "verbose" not in values:
        values["verbose"] = -1
    return cls(**values)


def trainer_function(path: str) -> Callable[..., Any]:
    fn = import_object(path, "trainer")
    if not callable(fn) or inspect.isclass(fn):
        raise ConfigError(
            f"trainer {path!r} is not a function",
            hint="write def train(X, y, params, seed): ... returning a fitted estimator",
        )
    return fn


# -- columns ---------------------------------------------------------------------------------
def is_numeric(dtype: str) -> bool:
    return dtype.startswith(_NUMERIC)


def columns(schema: Mapping[str, str], target: str, features: Sequence[str] | None, where: str) -> list[str]:
    """The feature columns: those named, or every numeric column but the target and `_…`."""
    if not isinstance(target, str) or not target:
        raise ConfigError("target must name the label column", hint="e.g. `target: label`")
    if target not in schema:
        raise ConfigError(
            f"label column {target!r} is not in the {where} table",
            hint=f"its columns are {', '.join(schema)}; set `target:` to the label column",
        )
    if features is None:
        chosen = [c for c, t in schema.items() if c != target and not c.startswith("_") and is_numeric(t)]
        if not chosen:
            raise ConfigError(
                f"the {where} table has no numeric column besides the label {target!r}",
                hint="list `features:` explicitly, or encode the columns first",
            )
        return chosen
    if isinstance(features, str) or not isinstance(features, Sequence) or not features:
        raise ConfigError("features must be a non-empty list of column names")
    for name in features:
        if name not in schema:
            raise ConfigError(
                f"feature column {name!r} is not in the {where} table",
                hint=f"its columns are {', '.join(schema)}",
            )
        if name == target:
            raise ConfigError(f"the label column {target!r} is also listed as a feature")
        if not is_numeric(schema[name]):
            raise ConfigError(
                f"feature column {name!r} is {schema[name]}, not numeric",
                hint="encode it first (a clean step), or leave it out of `features:`",
            )
    return list(features)


# -- metrics ---------------------------------------------------------------------------------
def scorer(name: str) -> Any:
    """scikit-learn's scorer of that name (greater is better: `neg_log_loss`, not `log_loss`)."""
    from sklearn.metrics import get_scorer, get_scorer_names

    if not isinstance(name, str) or name not in get_scorer_names():
        raise ConfigError(
            f"unknown metric {name!r}",
            hint="use a scikit-learn scorer name: accuracy, f1_macro, roc_auc, neg_log_loss, r2, "
            "neg_root_mean_squared_error…",
        )
    return get_scorer(name)


# -- search space ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Dimension:
    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any) -> Any:
        if self.kind == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        low, high = self.low, self.high
        assert low is not None and high is not None, "parse_space gives a numeric dimension its range"
        if self.kind == "int":
            return trial.suggest_int(self.name, int(low), int(high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.name, low, high, step=self.step, log=self.log)


def parse_space(space: Any, cls: type, path: str) -> list[Dimension]:
    if not isinstance(space, Mapping) or not space:
        raise ConfigError(
            "space must map estimator params to ranges",
            hint="e.g. `space: {C: {type: float, low: 0.001, high: 10, log: true}}`",
        )
    check_params(cls, path, list(space), "the search space")
    found = []
    for name, spec in space.items():
        where = f"space.{name}"
        if not isinstance(spec, Mapping) or spec.get("type") not in SPACE_TYPES:
            raise ConfigError(
                f"{where} must have `type:` float, int or categorical",
                hint="e.g. {type: float, low: 0.001, high: 10, log: true}",
            )
        unknown = set(spec) - {"type", "low", "high", "log", "step", "choices"}
        if unknown:
            raise ConfigError(f"{where} has unknown keys {sorted(unknown)}")
        if spec["type"] == "categorical":
            choices = spec.get("choices")
            if not isinstance(choices, Sequence) or isinstance(choices, str) or not choices:
                raise ConfigError(f"{where}: a categorical needs a non-empty `choices:` list")
            found.append(Dimension(name, "categorical", choices=tuple(choices)))
            continue
        low, high, log, step = (
            spec.get("low"),
            spec.get("high"),
            bool(spec.get("log", False)),
            spec.get("step"),
        )
        for label, value in (("low", low), ("high", high)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ConfigError(f"{where}: `{label}` must be a number, got {value!r}")
        assert low is not None and high is not None
        if low >= high:
            raise ConfigError(f"{where}: low ({low}) must be below high ({high})")
        if log and low <= 0:
            raise ConfigError(f"{where}: a log range needs low > 0, got {low}")
        if log and step is not None:
            raise ConfigError(f"{where}: use either `log` or `step`, not both")
        if spec["type"] == "int" and (int(low) != low or int(high) != high):
            raise ConfigError(f"{where}: an int range needs whole numbers")
        found.append(Dimension(name, spec["type"], float(low), float(high), log, step))
    return found
