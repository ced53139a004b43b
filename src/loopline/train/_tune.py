"""Hyperparameter search with Optuna on the train and validation splits.

Reproducible by construction: the TPE sampler is seeded from the step's seed (itself from the
step's fingerprint) and every estimator gets `random_state` from the same seed; so `loopline
reproduce` refits the same best model, byte for byte. With `n_jobs: N` trials run N at a time in
threads, still reproducibly: Optuna's own `optimize(n_jobs=N)` lets each thread ask the sampler
and the pruner whenever it happens to be free, so which trials they have seen finished depends
on timing. Here a batch of N trials is asked, and their params drawn, one after the other in
trial-number order; the batch is evaluated in parallel; its trials are told in trial-number
order once all are done. The median pruner decides from completed trials only, and none
completes while a batch runs, so every decision is the same on every run. (Batches of N are not
the same search as one trial at a time: `n_jobs` is part of the step's params and fingerprint.)
A `timeout` trades reproducibility away (how many trials finish depends on the clock): bound by
`n_trials`.

Pruning (Optuna's MedianPruner) needs values along the way: with `epochs:` an estimator that has
`partial_fit` reports its validation score after each epoch; with `cv: K` a trial fits K models
on K folds of train, reports the running mean of their validation scores after each, and is cut
short when that falls below the median of earlier trials at the same fold.

Every trial is a child run of the pipeline run (params, the metric over epochs or folds, its
state), in the experiment named by `experiment:` (default: the step's name).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import polars as pl

from loopline.core.errors import ConfigError, InvalidInput
from loopline.train._fit import as_input, matrices, schema_of
from loopline.train._spec import (
    DEFAULT_ESTIMATOR,
    Dimension,
    build,
    check_params,
    columns,
    estimator_class,
    parse_space,
    scorer,
)


def _default_metric(cls: type) -> str:
    from sklearn.base import is_regressor

    try:
        return "r2" if is_regressor(cls()) else "accuracy"
    except Exception:  # an estimator that cannot be built without arguments
        return "accuracy"


def check_tune(params: Mapping[str, Any], schemas: Mapping[str, Mapping[str, str] | None]) -> None:
    """The preflight hook of `tune`: estimator, space, fixed params, metric, budget, columns."""
    path = params.get("estimator", DEFAULT_ESTIMATOR)
    cls = estimator_class(path)
    if "space" not in params:
        raise ConfigError(
            "tune needs a search space",
            hint="e.g. `space: {C: {type: float, low: 0.001, high: 10, log: true}}`",
        )
    parse_space(params["space"], cls, path)
    fixed = params.get("params") or {}
    if not isinstance(fixed, Mapping):
        raise ConfigError("params must map estimator params to values")
    check_params(cls, path, list(fixed), "params")
    overlap = set(fixed) & set(params["space"])
    if overlap:
        raise ConfigError(f"{sorted(overlap)} are both fixed in params and searched in space")
    scorer(params.get("metric") or _default_metric(cls))
    for key, low in (("n_trials", 1), ("n_jobs", 1), ("cv", 2), ("epochs", 1)):
        value = params.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
            raise ConfigError(f"{key} must be a whole number of at least {low}, got {value!r}")
    timeout = params.get("timeout")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
    ):
        raise ConfigError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if params.get("epochs") is not None and not callable(getattr(cls, "partial_fit", None)):
        raise ConfigError(
            f"epochs needs an estimator with partial_fit; {path} has none",
            hint="drop `epochs:` and use `cv: 3` to prune by folds",
        )
    if params.get("epochs") is not None and params.get("cv") is not None:
        raise ConfigError("use either `epochs:` or `cv:`, not both")
    target = params.get("target", "label")
    for slot in ("train", "validation"):
        schema = schemas.get(slot)
        if schema is not None:
            columns(schema, target, params.get("features"), slot)


class _Trial:
    """Fits and scores one set of params, reporting intermediate values to Optuna and the run."""

    def __init__(
        self, cls: type, seed: int, score: Any, data: tuple[Any, ...], mode: tuple[str, int]
    ) -> None:
        self.cls, self.seed, self.score = cls, seed, score
        self.Xt, self.yt, self.Xv, self.yv = data
        self.mode, self.rounds = mode

    def fit_epochs(self, values: Mapping[str, Any], report: Any) -> tuple[Any, float]:
        model = build(self.cls, values, self.seed)
        extra = {"classes": np.unique(self.yt)} if _is_classifier(model) else {}
        score = float("nan")
        for epoch in range(self.rounds):
            model.partial_fit(self.Xt, self.yt, **extra)
            score = float(self.score(model, self.Xv, self.yv))
            report(score, epoch)
        return model, score

    def fit_folds(self, values: Mapping[str, Any], report: Any) -> float:
        from sklearn.model_selection import KFold, StratifiedKFold

        folds = (StratifiedKFold if _is_classifier(build(self.cls, values, self.seed)) else KFold)(
            self.rounds, shuffle=True, random_state=self.seed
        )
        scores: list[float] = []
        for k, (rows, _) in enumerate(folds.split(self.Xt, self.yt)):
            model = build(self.cls, values, self.seed).fit(self.Xt[rows], self.yt[rows])
            scores.append(float(self.score(model, self.Xv, self.yv)))
            report(float(np.mean(scores)), k)
        return float(np.mean(scores))

    def fit_once(self, values: Mapping[str, Any], report: Any) -> float:
        model = build(self.cls, values, self.seed).fit(self.Xt, self.yt)
        score = float(self.score(model, self.Xv, self.yv))
        report(score, 0)
        return score

    def run(self, values: Mapping[str, Any], report: Any) -> float:
        if self.mode == "epochs":
            return self.fit_epochs(values, report)[1]
        if self.mode == "cv":
            return self.fit_folds(values, report)
        return self.fit_once(values, report)


# What a finished trial tells the study: its state (None: complete, or failed if the value is
# NaN), its value, and the error of a failed trial.
_Outcome = tuple[Any, float | None, str | None]


def _optimize(
    study: Any,
    start: Callable[[Any], tuple[dict[str, Any], Any]],
    evaluate: Callable[[Any, dict[str, Any], Any], _Outcome],
    n_trials: int,
    n_jobs: int,
    timeout: float | None,
) -> list[str]:
    """Run the search in batches of `n_jobs` trials (see the module docstring for why batches);
    the errors of failed trials, in trial order."""
    deadline = None if timeout is None else time.monotonic() + timeout
    errors: list[str] = []
    with ThreadPoolExecutor(max_workers=n_jobs, thread_name_prefix="loopline-tune") as pool:
        while len(study.trials) < n_trials and (deadline is None or time.monotonic() < deadline):
            asked = [study.ask() for _ in range(min(n_jobs, n_trials - len(study.trials)))]
            batch = [(trial, *start(trial)) for trial in asked]
            outcomes = list(pool.map(lambda job: evaluate(*job), batch))  # in trial order
            for (trial, _, _), (state, value, error) in zip(batch, outcomes, strict=True):
                if error:
                    errors.append(error)
                study.tell(trial, value, state=state)
    return errors


def _is_classifier(model: Any) -> bool:
    from sklearn.base import is_classifier

    return bool(is_classifier(model))


def tune(
    train: pl.DataFrame,
    validation: pl.DataFrame,
    space: Mapping[str, Any],
    estimator: str = DEFAULT_ESTIMATOR,
    params: Mapping[str, Any] | None = None,
    target: str = "label",
    features: Sequence[str] | None = None,
    metric: str | None = None,
    n_trials: int = 20,
    n_jobs: int = 1,
    timeout: float | None = None,
    pruning: bool = True,
    cv: int | None = None,
    epochs: int | None = None,
    experiment: str | None = None,
    ctx: Any = None,
) -> dict[str, Any]:
    """{"model": the best params refitted on train, "report": best params, value and every trial}."""
    import optuna

    settings: dict[str, Any] = {"space": space, "estimator": estimator, "params": params, "target": target}
    settings |= {"features": features, "metric": metric, "n_trials": n_trials, "timeout": timeout}
    settings |= {"n_jobs": n_jobs, "cv": cv, "epochs": epochs}
    check_tune(settings, {"train": schema_of(train), "validation": schema_of(validation)})
    cls = estimator_class(estimator)
    # Drawn in name order: the sampler's random stream is consumed param by param, and the
    # order of a mapping is not part of the step (the recorded params come back sorted).
    dims: list[Dimension] = sorted(parse_space(space, cls, estimator), key=lambda d: d.name)
    metric = metric or _default_metric(cls)
    score = scorer(metric)
    chosen = columns(schema_of(train), target, features, "train")
    Xt_frame, yt = matrices(train, target, chosen, "train")
    Xv_frame, yv = matrices(validation, target, chosen, "validation")
    seed = int(getattr(ctx, "seed", 0) or 0)
    fixed = dict(params or {})
    mode = ("epochs", epochs) if epochs else ("cv", cv) if cv else ("once", 1)
    trial_runner = _Trial(cls, seed, score, (Xt_frame.to_numpy(), yt, Xv_frame.to_numpy(), yv), mode)
    child_run = getattr(ctx, "child_run", None)
    where = experiment or getattr(ctx, "step_name", None) or "tune"
    state = optuna.trial.TrialState

    def start(trial: optuna.Trial) -> tuple[dict[str, Any], Any]:
        """Draw a trial's params and open its child run: in the calling thread, in trial order."""
        values = {**fixed, **{d.name: d.suggest(trial) for d in dims}}
        child = child_run(f"trial-{trial.number}", where) if child_run else None
        if child is not None:
            child.log_params({d.name: values[d.name] for d in dims})
            child.set_tags({"optuna.trial": trial.number})
        return values, child

    def evaluate(trial: optuna.Trial, values: dict[str, Any], child: Any) -> _Outcome:
        """Fit and score one trial (in a worker thread); what to tell the study about it."""

        def report(value: float, step: int) -> None:
            if child is not None:
                child.log_metric(metric, value, step)
            trial.report(value, step)
            if pruning and trial.should_prune():
                raise optuna.TrialPruned()

        try:
            return None, trial_runner.run(values, report), None
        except optuna.TrialPruned:
            if child is not None:
                child.set_tags({"optuna.state": "pruned"})
            return state.PRUNED, None, None
        except Exception as exc:  # a bad combination of params: record it, try the next
            if child is not None:
                child.status = "failed"
                child.set_tags({"optuna.state": "failed", "error": f"{type(exc).__name__}: {exc}"[:500]})
            return state.FAIL, None, f"trial {trial.number} {values}: {type(exc).__name__}: {exc}"

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(
            direction="maximize",
            sampler=optuna.samplers.TPESampler(seed=seed),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=3) if pruning else optuna.pruners.NopPruner(),
        )
        errors = _optimize(study, start, evaluate, n_trials, n_jobs, timeout)
    finally:
        optuna.logging.set_verbosity(level)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise InvalidInput(
            f"no trial of {len(study.trials)} finished; the first error: {errors[0] if errors else 'none'}",
            hint="check the search space against the estimator's allowed combinations",
        )
    best = study.best_trial
    assert best.value is not None, "optuna's best trial is a complete one, so it has a value"
    values = {**fixed, **best.params}
    if mode[0] == "epochs":
        model, _ = _Trial(cls, seed, score, (Xt_frame, yt, Xv_frame, yv), mode).fit_epochs(
            values, lambda v, s: None
        )
    else:
        model = build(cls, values, seed).fit(as_input(cls, Xt_frame), yt)
    refit = float(score(model, as_input(model, Xv_frame), yv))
    trials = [
        {
            "number": t.number,
            "state": t.state.name.lower(),
            "value": t.value,
            "params": t.params,
            "intermediate": [t.intermediate_values[k] for k in sorted(t.intermediate_values)],
        }
        for t in study.trials
    ]
    report_out = {
        "estimator": estimator,
        "metric": metric,
        "direction": "maximize",
        "best_value": best.value,
        "best_params": best.params,
        "best_trial": best.number,
        "refit_validation": refit,
        "n_trials": len(study.trials),
        "complete": len(complete),
        "pruned": sum(t["state"] == "pruned" for t in trials),
        "failed": sum(t["state"] == "fail" for t in trials),
        "seed": seed,
        "n_jobs": n_jobs,
        "trials": trials,
    }
    if ctx is not None:
        prefix = f"{getattr(ctx, 'step_name', 'tune')}."
        ctx.log_params(
            {f"{prefix}estimator": estimator, **{prefix + k: v for k, v in sorted(values.items())}}
        )
        ctx.log_metrics(
            {f"best_{metric}": float(best.value), f"validation_{metric}": refit, "trials": len(trials)}
        )
    return {"model": model, "report": report_out}


tune.check = check_tune  # type: ignore[attr-defined]  # the preflight hook the pipeline engine reads
