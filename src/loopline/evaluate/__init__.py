"""Evaluate: metrics with bootstrap intervals, overall and per slice, and the gates a model must pass.

As a step in loopline.yaml (it may read the sealed test split: it is the final evaluation)::

    steps:
      evaluate:
        uses: loopline.evaluate:evaluate
        inputs: {model: model, test: test}        # optional: baseline: <a model artifact>
        params:
          target: label
          model_name: digits                     # the registered model no_regression looks up
          task: classification                   # or regression
          slices: [country, {column: age, bins: [0, 30, 60, 120]}]
          bootstrap: 1000                        # resamples; 0 for none
          seed: 0
          intended_use: "Ranking support tickets; not for decisions about people."
          gates:
            - {metric: accuracy, min: 0.9}
            - {metric: f1_macro, no_regression: production, tolerance: 0.01}
            - {metric: accuracy, max_slice_gap: 0.1}
        outputs: [evaluation]

Classification: accuracy, F1 macro and micro, ROC AUC (one-vs-rest, macro over the classes),
log loss, expected calibration error (15 equal-width confidence bins) and the confusion matrix;
regression: RMSE, MAE, R². The model predicts once; the intervals are percentile bootstrap
intervals computed from numpy index matrices (see `_metrics`). With a `baseline` model the
report holds its metrics too, from the same resamples, and no_regression gates compare with it.
Without a bound `baseline` input, the runner passes the version of the registered model
`model_name` at the gate's alias (`no_regression: production`) as the baseline; with nothing at
that alias yet (or no `model_name`), the gate passes and says there was nothing to compare with.
A failing gate fails the step (CheckFailed, `loopline run` exits 1) with the table of gates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from loopline.core.errors import ConfigError as _ConfigError
from loopline.core.errors import InvalidInput as _InvalidInput
from loopline.evaluate import _report
from loopline.evaluate._metrics import CLASSIFICATION, LOWER_IS_BETTER, REGRESSION
from loopline.evaluate._report import Slice
from loopline.evaluate.card import card_markdown, model_card
from loopline.evaluate.gates import Gate, check_gates, enforce, parse_gates, render_gates

__all__ = [
    "CLASSIFICATION",
    "LOWER_IS_BETTER",
    "REGRESSION",
    "Gate",
    "Slice",
    "card_markdown",
    "check",
    "check_gates",
    "enforce",
    "evaluate",
    "evaluation_report",
    "model_card",
    "parse_gates",
    "render_gates",
]


def _task(value: Any) -> str:
    if value not in _report.TASKS:
        raise _ConfigError(f"task must be one of {', '.join(_report.TASKS)}, got {value!r}")
    return str(value)


def _options(params: Mapping[str, Any]) -> tuple[str, list[Slice], list[Gate], int, int, float]:
    task = _task(params.get("task", "classification"))
    if not isinstance(params.get("target"), str):
        raise _ConfigError("`target` must name the label column", hint="add `target: label` to params")
    resamples, seed, level = params.get("bootstrap", 1000), params.get("seed", 0), params.get("level", 0.95)
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 0:
        raise _ConfigError(f"`bootstrap` must be a number of resamples (0 or more), got {resamples!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise _ConfigError(f"`seed` must be an integer, got {seed!r}")
    if isinstance(level, bool) or not isinstance(level, float | int) or not 0 < level < 1:
        raise _ConfigError(f"`level` must be between 0 and 1, got {level!r}")
    return (
        task,
        _report.parse_slices(params.get("slices")),
        parse_gates(params.get("gates"), task),
        resamples,
        seed,
        float(level),
    )


def check(params: Mapping[str, Any], schemas: Mapping[str, Mapping[str, str] | None]) -> None:
    """The preflight hook: params, and the target and slice columns against the test table."""
    _, slices, *_ = _options(params)
    schema = schemas.get("test")
    if schema is None:
        return
    for column, role in [(params["target"], "target"), *((s.column, "slice") for s in slices)]:
        if column not in schema:
            raise _ConfigError(
                f"{role} column {column!r} is not in the test table",
                hint=f"its columns are {', '.join(schema)}",
            )


def evaluation_report(
    model: Any,
    test: pl.DataFrame,
    *,
    target: str,
    task: str = "classification",
    slices: Sequence[Any] | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    gates: Sequence[Mapping[str, Any]] | None = None,
    features: Sequence[str] | None = None,
    intended_use: str | None = None,
    baseline: Any = None,
) -> dict[str, Any]:
    """The report, gates checked but not enforced (`report["passed"]` says)."""
    params = {"target": target, "task": task, "slices": slices, "bootstrap": bootstrap, "seed": seed}
    task, parsed, gate_list, resamples, seed, level = _options(params | {"level": level, "gates": gates})
    check(params, {"test": {c: str(t) for c, t in test.schema.items()}})
    if not hasattr(model, "predict"):
        raise _InvalidInput(f"the model input is a {type(model).__name__}, not a fitted estimator")
    out: dict[str, Any] = {"target": target, "model": type(model).__name__}
    out |= _report.report(
        _report.predict(model, test, target, task, features), test, parsed, resamples, seed, level
    )
    baseline_report = None
    if baseline is not None:
        baseline_report = _report.report(
            _report.predict(baseline, test, target, task, features), test, [], resamples, seed, level
        )
        out["baseline"] = {"model": type(baseline).__name__, "metrics": baseline_report["metrics"]}
    out["gates"] = check_gates(gate_list, out, baseline_report)
    out["passed"] = all(g["passed"] for g in out["gates"])
    out["intended_use"] = intended_use
    return out


def evaluate(
    model: Any,
    test: pl.DataFrame,
    target: str,
    task: str = "classification",
    slices: list[Any] | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    gates: list[Mapping[str, Any]] | None = None,
    features: list[str] | None = None,
    intended_use: str | None = None,
    baseline: Any = None,
    model_name: str | None = None,
    ctx: Any = None,
) -> dict[str, Any]:
    """The step: the report as a JSON artifact, or CheckFailed when a gate fails. The overall
    figures also go to the run's metrics (`loopline runs --metric accuracy`, the registry)."""
    out = evaluation_report(
        model,
        test,
        target=target,
        task=task,
        slices=slices,
        bootstrap=bootstrap,
        seed=seed,
        level=level,
        gates=gates,
        features=features,
        intended_use=intended_use,
        baseline=baseline,
    )
    if model_name is not None:
        out["model_name"] = model_name
    if ctx is not None:
        ctx.log_metrics({k: v["value"] for k, v in out["metrics"].items() if v["value"] is not None})
        record_gates = getattr(ctx, "record_gates", None)  # a step context; a tracked run has none
        if record_gates is not None:
            record_gates(out["gates"])
    enforce(out["gates"])
    return out


evaluate.check = check  # type: ignore[attr-defined]  # the preflight hook the pipeline engine reads
evaluate.reads_sealed = True  # type: ignore[attr-defined]  # a flag the pipeline engine reads
