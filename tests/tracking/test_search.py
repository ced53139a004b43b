"""Run search against a brute-force Python oracle on random runs (hypothesis), on both engines:
filters on params, metrics, tags and status; sort by a metric, a param or the start time with
missing values last; then newest first, then by id; limit and offset."""

from __future__ import annotations

import operator
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loopline.core.experiments import RunFilter, RunOrder, TrackedRun
from loopline.store.metadata import MetadataStore
from loopline.store.metadata.experiments import TrackingStore

OPS = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
NUMBERS = [0.0, 0.25, 0.5, 0.75, 1.0]
TEXTS = ["a1", "b2", "c3"]
BASE = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def tracking(store_url: str) -> Iterator[TrackingStore]:
    store = MetadataStore(store_url)
    try:
        yield store.tracking
    finally:
        store.close()


runs_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "offset": st.integers(0, 4),
            "status": st.sampled_from(["running", "succeeded", "failed"]),
            "params": st.dictionaries(st.sampled_from(["C", "solver"]), st.sampled_from(TEXTS)),
            "tags": st.dictionaries(st.sampled_from(["team"]), st.sampled_from(TEXTS)),
            "metrics": st.dictionaries(st.sampled_from(["f1", "loss"]), st.sampled_from(NUMBERS)),
        }
    ),
    min_size=0,
    max_size=12,
)
filter_strategy = st.one_of(
    st.builds(
        RunFilter,
        st.just("metrics"),
        st.sampled_from(["f1", "loss"]),
        st.sampled_from(list(OPS)),
        st.sampled_from(NUMBERS),
    ),
    st.builds(
        RunFilter,
        st.just("params"),
        st.sampled_from(["C", "solver"]),
        st.sampled_from(["=", "!="]),
        st.sampled_from(TEXTS),
    ),
    st.builds(
        RunFilter, st.just("tags"), st.just("team"), st.sampled_from(["=", "!="]), st.sampled_from(TEXTS)
    ),
    st.builds(
        RunFilter,
        st.just("attributes"),
        st.just("status"),
        st.sampled_from(["=", "!="]),
        st.sampled_from(["running", "failed"]),
    ),
)
order_strategy = st.one_of(
    st.none(),
    st.builds(RunOrder, st.just("metrics"), st.sampled_from(["f1", "loss"]), st.booleans()),
    st.builds(RunOrder, st.just("params"), st.just("C"), st.booleans()),
    st.builds(RunOrder, st.just("attributes"), st.just("started_at"), st.booleans()),
)


def value_of(run: TrackedRun, kind: str, key: str) -> Any:
    if kind == "attributes":
        return {"status": run.status, "started_at": run.started_at}[key]
    return getattr(run, kind).get(key)


def oracle(runs: list[TrackedRun], filters: list[RunFilter], order: RunOrder | None) -> list[str]:
    kept = [
        r
        for r in runs
        if all((v := value_of(r, f.kind, f.key)) is not None and OPS[f.op](v, f.value) for f in filters)
    ]
    kept.sort(key=lambda r: r.id)
    kept.sort(key=lambda r: r.started_at, reverse=True)
    if order is not None:
        present = [r for r in kept if value_of(r, order.kind, order.key) is not None]
        missing = [r for r in kept if value_of(r, order.kind, order.key) is None]
        present.sort(key=lambda r: value_of(r, order.kind, order.key), reverse=order.descending)
        kept = present + missing
    return [r.id for r in kept]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    specs=runs_strategy,
    filters=st.lists(filter_strategy, max_size=3),
    order=order_strategy,
    limit=st.integers(1, 15),
    offset=st.integers(0, 4),
)
def test_search_matches_the_oracle(tracking: TrackingStore, specs, filters, order, limit, offset):
    experiment = tracking.create_experiment(f"e-{uuid.uuid4().hex[:8]}")
    made = []
    for spec in specs:
        run = tracking.create_run(experiment.id, started_at=BASE + timedelta(seconds=spec["offset"]))
        metrics = [(k, v, 0, 1.0) for k, v in spec["metrics"].items()]
        tracking.log_batch(run.id, metrics, spec["params"], spec["tags"])
        if spec["status"] != "running":
            tracking.update_run(run.id, status=spec["status"])
        made.append(tracking.get_run(run.id))
    found = tracking.search_runs(
        experiment_ids=[experiment.id],
        filters=filters,
        order_by=[order] if order else [],
        limit=limit,
        offset=offset,
    )
    expected = oracle(made, filters, order)
    assert [r.id for r in found] == expected[offset : offset + limit]
    assert tracking.count_runs(experiment_ids=[experiment.id], filters=filters) == len(expected)
    for r in found:  # the page carries each run's params, tags and latest metrics
        assert r == next(m for m in made if m.id == r.id)


def test_a_page_larger_than_one_id_list_loads_every_run_whole(store_url: str) -> None:
    """A page of 520 runs (more than one IN list of 500 on SQLite; one array on PostgreSQL)
    comes back in order with each run's own params, tags and metrics; repeated and unknown ids
    in a load keep the order asked and drop the unknown."""
    from loopline.pipeline.step import ChildRun
    from loopline.store.metadata.mlflow import MlflowStore

    store = MetadataStore(store_url)
    try:
        tracking = store.tracking
        parent = tracking.create_run(tracking.ensure_experiment("big").id, name="sweep")
        start = BASE.timestamp()
        children = [
            ChildRun(
                name=f"t{i}",
                experiment="big",
                metrics=[("f1", i / 1000, 0, start + i)],
                params={"i": str(i)},
                tags={"team": f"t{i % 3}"},
                started_at=start + i,
            )
            for i in range(520)
        ]
        made = tracking.record_child_runs(parent.id, children, step_name="tune")
        found = tracking.search_runs(filters=[RunFilter("tags", "team", "!=", "x")], limit=2000)
        assert [r.id for r in found] == made[::-1]  # newest first
        for i, run in enumerate(reversed(found)):
            assert run.params == {"i": str(i)}
            assert run.tags["team"] == f"t{i % 3}"
            assert [(p.key, p.value) for p in run.points] == [("f1", i / 1000)]
        asked = [made[5], "no-such-run", made[510], made[5]]
        assert [r.id for r in MlflowStore(store).runs(asked)] == [made[5], made[510], made[5]]
    finally:
        store.close()
