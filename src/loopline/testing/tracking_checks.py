"""Checks of experiment tracking: experiments, tracked runs, params, tags, metrics and search."""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopline.core.errors import Conflict, InvalidInput, NotFound
from loopline.core.experiments import RunFilter, RunOrder
from loopline.testing.expect import raises
from loopline.testing.samples import T0

if TYPE_CHECKING:
    from loopline.testing.stores import MetadataStores

NOUN = "tracking"


def check_experiments_are_unique_by_name(s: MetadataStores) -> None:
    """create_experiment of an existing name is a Conflict; ensure_experiment returns the existing one."""
    tracking = s.meta.tracking
    made = tracking.create_experiment("churn", tags={"team": "a"})
    assert tracking.get_experiment(made.id).name == "churn"
    assert tracking.get_experiment_by_name("churn").tags == {"team": "a"}
    raises(Conflict, tracking.create_experiment, "churn")
    assert tracking.ensure_experiment("churn").id == made.id
    other = tracking.ensure_experiment("fraud")
    assert other.id != made.id
    assert [e.name for e in tracking.list_experiments()] == ["churn", "fraud"]
    raises(NotFound, tracking.get_experiment_by_name, "nope")
    raises(InvalidInput, tracking.create_experiment, "")


def check_params_are_logged_once_and_tags_overwritten(s: MetadataStores) -> None:
    """A param logged again with the same value is fine, with another a Conflict; a tag is
    overwritten; get_run shows params, tags and the latest metric values."""
    tracking = s.meta.tracking
    exp = tracking.create_experiment("e")
    run = tracking.create_run(exp.id, name="first", run_id="r-1", started_at=T0)
    tracking.log_params(run.id, {"C": 1.0})
    tracking.log_params(run.id, {"C": 1.0})
    raises(Conflict, tracking.log_params, run.id, {"C": 2.0})
    tracking.set_tags(run.id, {"stage": "dev"})
    tracking.set_tags(run.id, {"stage": "prod"})
    tracking.log_metric(run.id, "f1", 0.5, step=0, timestamp=1.0)
    tracking.log_metric(run.id, "f1", 0.7, step=1, timestamp=2.0)
    got = tracking.get_run(run.id)
    assert (got.params, got.tags, got.metrics) == ({"C": "1.0"}, {"stage": "prod"}, {"f1": 0.7}), got
    assert [(p.value, p.step) for p in tracking.metric_history(run.id, "f1")] == [(0.5, 0), (0.7, 1)]
    tracking.delete_tag(run.id, "stage")
    assert tracking.get_run(run.id).tags == {}
    raises(NotFound, tracking.delete_tag, run.id, "stage")


def check_a_refused_log_batch_writes_nothing(s: MetadataStores) -> None:
    """log_batch is all or nothing: a conflicting param keeps its metrics and tags out too."""
    tracking = s.meta.tracking
    run = tracking.create_run(tracking.create_experiment("e").id, run_id="r-1", started_at=T0)
    tracking.log_params(run.id, {"C": 1})
    raises(Conflict, tracking.log_batch, run.id, [("loss", 0.1, 0, 1.0)], {"C": 2}, {"note": "x"})
    got = tracking.get_run(run.id)
    assert (got.metrics, got.tags) == ({}, {}), f"a refused batch left {got.metrics} and {got.tags}"
    assert tracking.metric_history(run.id, "loss") == []


def check_unknown_runs_are_not_found(s: MetadataStores) -> None:
    """Writing to or reading a run that does not exist is NotFound; a bad status is InvalidInput."""
    tracking = s.meta.tracking
    raises(NotFound, tracking.get_run, "nope")
    raises(NotFound, tracking.log_batch, "nope", [("loss", 0.1, 0, 1.0)])
    raises(NotFound, tracking.update_run, "nope", status="succeeded")
    raises(NotFound, tracking.create_run, 999)
    run = tracking.create_run(tracking.create_experiment("e").id, run_id="r-1", started_at=T0)
    raises(InvalidInput, tracking.update_run, run.id, status="sleeping")
    tracking.update_run(run.id, status="succeeded")
    done = tracking.get_run(run.id)
    assert done.status == "succeeded" and done.finished_at is not None, "a final status stamps the end"


def check_search_runs_filters_orders_and_pages(s: MetadataStores) -> None:
    """search_runs keeps the runs matching every filter, in the order asked, one page at a time;
    count_runs counts them all."""
    tracking = s.meta.tracking
    exp = tracking.create_experiment("e")
    for n, f1 in enumerate([0.2, 0.9, 0.5, 0.7]):
        run = tracking.create_run(exp.id, run_id=f"r-{n}", started_at=T0)
        tracking.log_batch(run.id, [("f1", f1, 0, 1.0)], {"model": "tree" if n % 2 else "linear"})
    best = [RunOrder("metrics", "f1", descending=True)]
    found = tracking.search_runs(experiment_ids=[exp.id], order_by=best, limit=2)
    assert [r.id for r in found] == ["r-1", "r-3"], [r.id for r in found]
    assert [r.id for r in tracking.search_runs(order_by=best, limit=2, offset=2)] == ["r-2", "r-0"]
    high = [RunFilter("metrics", "f1", ">", 0.4)]
    assert sorted(r.id for r in tracking.search_runs(filters=high)) == ["r-1", "r-2", "r-3"]
    trees = [*high, RunFilter("params", "model", "=", "tree")]
    assert sorted(r.id for r in tracking.search_runs(filters=trees)) == ["r-1", "r-3"]
    assert tracking.count_runs(filters=high) == 3 and tracking.count_runs(experiment_ids=[exp.id]) == 4


CHECKS = (
    check_experiments_are_unique_by_name,
    check_params_are_logged_once_and_tags_overwritten,
    check_a_refused_log_batch_writes_nothing,
    check_unknown_runs_are_not_found,
    check_search_runs_filters_orders_and_pages,
)
