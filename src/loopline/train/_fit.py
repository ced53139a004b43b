"""Fit one estimator (or a custom trainer) on the train split.

The fitted estimator is what the step returns; the step layer stores it as a model artifact.
Features go in as a Polars frame, so a scikit-learn model remembers its column names
(`feature_names_in_`) and evaluation and serving select the same columns by name.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from loopline.core.errors import ConfigError, InvalidInput
from loopline.train._spec import (
    DEFAULT_ESTIMATOR,
    build,
    check_params,
    columns,
    estimator_class,
    scorer,
    trainer_function,
)

_FIT_KEYS = ("estimator", "params", "target", "features", "trainer", "metric")


def schema_of(frame: pl.DataFrame) -> dict[str, str]:
    return {name: str(dtype) for name, dtype in frame.schema.items()}


def check_fit(params: Mapping[str, Any], schemas: Mapping[str, Mapping[str, str] | None]) -> None:
    """The preflight hook of `fit`: everything but the data itself, before anything is read."""
    if params.get("trainer") is not None:
        trainer_function(params["trainer"])
    else:
        path = params.get("estimator", DEFAULT_ESTIMATOR)
        cls = estimator_class(path)
        fixed = params.get("params") or {}
        if not isinstance(fixed, Mapping):
            raise ConfigError("params must map estimator params to values", hint="e.g. `params: {C: 1.0}`")
        check_params(cls, path, list(fixed), "params")
    if params.get("metric") is not None:
        scorer(params["metric"])
    target = params.get("target", "label")
    for slot in ("train", "validation"):
        schema = schemas.get(slot)
        if schema is not None:
            columns(schema, target, params.get("features"), slot)


def matrices(
    frame: pl.DataFrame, target: str, features: Sequence[str], where: str
) -> tuple[pl.DataFrame, np.ndarray]:
    """Features (a numeric frame) and labels; InvalidInput for empty values, naming the column."""
    if frame.height == 0:
        raise InvalidInput(f"the {where} table has no rows", hint="check the split ratios and the input")
    for name in (target, *features):
        nulls = frame[name].null_count()
        if nulls:
            raise InvalidInput(
                f"column {name!r} of the {where} table has {nulls} empty value(s)",
                hint="fill or drop them first (a clean step)",
            )
    X = frame.select(pl.col(c).cast(pl.Float64) for c in features)
    return X, frame[target].to_numpy()


def as_input(cls_or_model: Any, X: pl.DataFrame) -> Any:
    """Polars for scikit-learn (which keeps the column names), pandas for other libraries."""
    module = type(cls_or_model).__module__ if not isinstance(cls_or_model, type) else cls_or_model.__module__
    return X if module.startswith("sklearn") else X.to_pandas()


def call_trainer(fn: Any, X: Any, y: np.ndarray, params: Mapping[str, Any], seed: int, ctx: Any) -> Any:
    """A custom trainer gets X and y, and whichever of params, seed and ctx it names."""
    offered = {"params": dict(params), "seed": seed, "ctx": ctx}
    accepted = inspect.signature(fn).parameters
    model = fn(X, y, **{k: v for k, v in offered.items() if k in accepted})
    if model is None or not callable(getattr(model, "predict", None)):
        raise InvalidInput(
            f"trainer {fn.__module__}:{fn.__qualname__} returned {type(model).__name__}, not a fitted model",
            hint="return the fitted estimator (an object with predict)",
        )
    return model


def fit(
    train: pl.DataFrame,
    estimator: str = DEFAULT_ESTIMATOR,
    params: Mapping[str, Any] | None = None,
    target: str = "label",
    features: Sequence[str] | None = None,
    trainer: str | None = None,
    metric: str | None = None,
    validation: pl.DataFrame | None = None,
    ctx: Any = None,
) -> Any:
    """The estimator fitted on `train`; with `validation` and `metric`, its score is logged."""
    settings = {"estimator": estimator, "params": params, "target": target, "features": features}
    settings |= {"trainer": trainer, "metric": metric}
    train_schema = schema_of(train)
    schemas = {
        "train": train_schema,
        "validation": schema_of(validation) if validation is not None else None,
    }
    check_fit(settings, schemas)
    chosen = columns(train_schema, target, features, "train")
    X, y = matrices(train, target, chosen, "train")
    seed = int(getattr(ctx, "seed", 0) or 0)
    fixed = dict(params or {})
    if trainer is not None:
        model = call_trainer(trainer_function(trainer), X, y, fixed, seed, ctx)
        described = trainer
    else:
        cls = estimator_class(estimator)
        model = build(cls, fixed, seed)
        model.fit(as_input(cls, X), y)
        described = estimator
    if ctx is not None:
        prefix = f"{getattr(ctx, 'step_name', 'fit')}."
        ctx.log_params(
            {
                prefix + ("trainer" if trainer else "estimator"): described,
                **{prefix + k: v for k, v in sorted(fixed.items())},
            }
        )
        ctx.log_metric("train_rows", train.height)
        if validation is not None and metric is not None:
            Xv, yv = matrices(validation, target, chosen, "validation")
            ctx.log_metric(f"validation_{metric}", float(scorer(metric)(model, as_input(model, Xv), yv)))
    return model


fit.check = check_fit  # type: ignore[attr-defined]  # the preflight hook the pipeline engine reads
