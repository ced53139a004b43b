"""The tracking store's contract, on SQLite and (with LOOPLINE_TEST_DATABASE_URL) PostgreSQL."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from loopline.core.errors import Conflict, InvalidInput, NotFound
from loopline.core.experiments import parse_filter, parse_order
from loopline.store.metadata import MetadataStore
from loopline.store.metadata.experiments import TrackingStore


@pytest.fixture
def tracking(store_url: str) -> Iterator[TrackingStore]:
    store = MetadataStore(store_url)
    try:
        yield store.tracking
    finally:
        store.close()


def test_experiments_create_get_list_and_conflict(tracking: TrackingStore):
    made = tracking.create_experiment("digits", tags={"team": "vision"})
    assert tracking.get_experiment_by_name("digits") == made
    assert tracking.get_experiment(made.id).tags == {"team": "vision"}
    with pytest.raises(Conflict):
        tracking.create_experiment("digits")
    assert tracking.ensure_experiment("digits").id == made.id
    other = tracking.ensure_experiment("text")
    tracking.create_run(other.id, name="r")
    listed = {e.name: e.runs for e in tracking.list_experiments()}
    assert listed == {"digits": 0, "text": 1}
    with pytest.raises(NotFound):
        tracking.get_experiment_by_name("nope")
    with pytest.raises(NotFound):
        tracking.create_run(999)


def test_run_lifecycle_name_user_status(tracking: TrackingStore):
    exp = tracking.ensure_experiment("e")
    run = tracking.create_run(exp.id, name="first", user="ada", tags={"k": 1})
    got = tracking.get_run(run.id)
    assert (got.name, got.user, got.status, got.tags, got.finished_at) == (
        "first",
        "ada",
        "running",
        {"k": "1"},
        None,
    )
    tracking.update_run(run.id, status="failed")
    got = tracking.get_run(run.id[:20])  # a unique prefix is enough
    assert got.status == "failed" and got.finished_at is not None
    with pytest.raises(InvalidInput):
        tracking.update_run(run.id, status="exploded")
    with pytest.raises(NotFound):
        tracking.update_run("no-such-run", status="succeeded")


def test_params_are_logged_once_and_a_different_value_conflicts_atomically(tracking: TrackingStore):
    run = tracking.create_run(tracking.ensure_experiment("e").id)
    tracking.log_params(run.id, {"C": 1.0, "solver": "lbfgs"})
    tracking.log_params(run.id, {"C": "1.0"})  # the same value again is fine (MLflow too)
    with pytest.raises(Conflict, match="'C'"):
        tracking.log_batch(run.id, [("f1", 0.5, 0, 1.0)], {"C": 2, "new": "x"}, {"t": "v"})
    got = tracking.get_run(run.id)
    assert got.params == {"C": "1.0", "solver": "lbfgs"}  # nothing of the refused batch was written
    assert got.metrics == {} and got.tags == {}
    assert tracking.metric_history(run.id, "f1") == []


def test_tags_overwrite_and_delete(tracking: TrackingStore):
    run = tracking.create_run(tracking.ensure_experiment("e").id)
    tracking.set_tags(run.id, {"a": "1", "b": "2"})
    tracking.set_tags(run.id, {"a": "3"})
    tracking.delete_tag(run.id, "b")
    assert tracking.get_run(run.id).tags == {"a": "3"}
    with pytest.raises(NotFound):
        tracking.delete_tag(run.id, "b")


def test_metric_history_and_latest_by_step_then_time(tracking: TrackingStore):
    run = tracking.create_run(tracking.ensure_experiment("e").id)
    tracking.log_batch(run.id, [("loss", 0.9, 0, 10.0), ("loss", 0.5, 2, 12.0), ("loss", 0.7, 1, 11.0)])
    assert tracking.get_run(run.id).metrics == {"loss": 0.5}  # step 2 is the latest, not the last logged
    tracking.log_batch(run.id, [("loss", 0.6, 1, 20.0)])  # an earlier step later: latest stays
    assert tracking.get_run(run.id).metrics == {"loss": 0.5}
    tracking.log_batch(run.id, [("loss", 0.4, 2, 30.0)])  # same step, newer time: replaces
    assert tracking.get_run(run.id).metrics == {"loss": 0.4}
    history = tracking.metric_history(run.id, "loss")
    assert [(p.step, p.value) for p in history] == [(0, 0.9), (1, 0.7), (1, 0.6), (2, 0.5), (2, 0.4)]
    tracking.log_metric(run.id, "inf", math.inf)
    assert tracking.get_run(run.id).metrics["inf"] == math.inf


def test_bad_metrics_are_refused_before_anything_is_written(tracking: TrackingStore):
    run = tracking.create_run(tracking.ensure_experiment("e").id)
    for bad in (
        [("x", float("nan"), 0, 1.0)],
        [("x", "high", 0, 1.0)],
        [("x", 1.0, 1.5, 1.0)],
        [("", 1.0, 0, 1.0)],
    ):
        with pytest.raises(InvalidInput):
            tracking.log_batch(run.id, [("ok", 1.0, 0, 1.0), *bad])
    assert tracking.get_run(run.id).metrics == {}
    with pytest.raises(NotFound):
        tracking.log_batch("missing-run", [("ok", 1.0, 0, 1.0)])


def test_a_large_batch_in_one_call(tracking: TrackingStore):
    run = tracking.create_run(tracking.ensure_experiment("e").id)
    values = [(f"m{i % 7}", float(i), i // 7, float(i)) for i in range(5000)]
    tracking.log_batch(run.id, values)
    got = tracking.get_run(run.id)
    assert got.metrics == {f"m{k}": float(max(i for i in range(5000) if i % 7 == k)) for k in range(7)}
    assert len(tracking.metric_history(run.id, "m3")) == len([i for i in range(5000) if i % 7 == 3])


@dataclass
class Child:
    name: str
    experiment: str
    status: str = "succeeded"
    metrics: list[tuple[str, float, int, float]] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


def test_child_runs_are_recorded_in_their_experiment_with_their_parent(tracking: TrackingStore):
    parent = tracking.create_run(tracking.ensure_experiment("pipeline").id)
    children = [
        Child(f"trial-{i}", "tune", metrics=[("f1", i / 10, 0, 1.0)], params={"C": str(i)}) for i in range(3)
    ]
    children[2].status = "failed"
    ids = tracking.record_child_runs(parent.id, children, step_name="tune")
    tune = tracking.get_experiment_by_name("tune")
    found = tracking.search_runs(experiment_ids=[tune.id], order_by=[parse_order("metrics.f1 desc")])
    assert [r.id for r in found] == ids[::-1]
    assert [r.status for r in found] == ["failed", "succeeded", "succeeded"]
    assert all(r.tags["loopline.parent_run"] == parent.id for r in found)
    by_parent = tracking.search_runs(filters=parse_filter(f"tags.loopline.parent_run = '{parent.id}'"))
    assert len(by_parent) == 3


def test_compare_puts_two_runs_side_by_side(tracking: TrackingStore):
    exp = tracking.ensure_experiment("e")
    a, b = tracking.create_run(exp.id, name="a"), tracking.create_run(exp.id, name="b")
    tracking.log_batch(a.id, [("f1", 0.5, 0, 1.0)], {"C": 1, "solver": "lbfgs"})
    tracking.log_batch(b.id, [("f1", 0.75, 0, 1.0), ("loss", 0.1, 0, 1.0)], {"C": 2, "solver": "lbfgs"})
    result = tracking.compare(a.id, b.id)
    assert result["a"]["name"] == "a" and result["b"]["name"] == "b"
    assert result["params"] == [
        {"key": "C", "a": "1", "b": "2", "same": False},
        {"key": "solver", "a": "lbfgs", "b": "lbfgs", "same": True},
    ]
    assert result["metrics"] == [
        {"key": "f1", "a": 0.5, "b": 0.75, "same": False, "delta": 0.25},
        {"key": "loss", "a": None, "b": 0.1, "same": False, "delta": None},
    ]


def test_filter_language(tracking: TrackingStore):
    assert parse_filter("metrics.f1>0.9 and params.C='1'") == [
        *parse_filter("metrics.f1 > 0.9"),
        *parse_filter("params.C=1"),
    ]
    assert parse_filter("attributes.status = 'running'")[0].key == "status"
    assert parse_order("metrics.f1 DESC").descending and not parse_order("start_time").descending
    for bad in ("params.C>1", "metrics.f1>high", "f1>0.9", "metrics.f1", "metrics.f1>", "tags.=x"):
        with pytest.raises(InvalidInput):
            parse_filter(bad)
