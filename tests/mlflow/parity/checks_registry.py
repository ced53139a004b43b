"""MLflow client checks: registry (see checks.py)."""

from __future__ import annotations

from checks import Context, check


@check(0)
def experiment_run_metric_round_trip(ctx: Context) -> None:
    """The calls that already worked: an experiment, a run, a metric read back."""
    exp = ctx.client.create_experiment(ctx.name("basics"))
    run = ctx.client.create_run(exp)
    ctx.client.log_metric(run.info.run_id, "loss", 0.5, step=1)
    history = ctx.client.get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(1, 0.5)], history
