"""A Project's experiment tracking: the active run users log to (wiring/active_run.py) and the
searches, comparisons and histories over the tracking tables (store/metadata/experiments.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loopline.core.experiments import Experiment, MetricPoint, TrackedRun
    from loopline.project._stores import Stores
    from loopline.wiring.active_run import ActiveRun


class Experiments:
    def __init__(self, stores: Stores) -> None:
        self.stores = stores

    def start_run(self, experiment: str | None = None, name: str | None = None, **options: Any) -> ActiveRun:
        """A tracked run to log to: `with project.start_run("exp", "name") as run:`; options:
        tags, user, flush_every, flush_seconds."""
        from loopline.wiring.active_run import start_run

        return start_run(self.stores.meta.tracking, experiment, name, **options)

    def experiments(self) -> list[Experiment]:
        return self.stores.meta.tracking.list_experiments()

    def search_runs(
        self,
        filters: Sequence[str] = (),
        *,
        order_by: str | None = None,
        descending: bool | None = None,
        experiment: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[TrackedRun]:
        """Runs matching filters like `metrics.f1>0.9`, `params.C=1`, `tags.team=x`, sorted by
        `metrics.f1`, `params.C` or `start_time` (missing values last)."""
        from loopline.core.experiments import parse_filter, parse_order

        tracking = self.stores.meta.tracking
        self.stores.runner.mark_interrupted()
        return tracking.search_runs(
            experiment_ids=[tracking.get_experiment_by_name(experiment).id] if experiment else None,
            filters=[f for text in filters for f in parse_filter(text)],
            order_by=[parse_order(order_by, descending)] if order_by else [],
            limit=limit,
            offset=offset,
        )

    def tracked_run(self, run_id: str) -> TrackedRun:
        return self.stores.meta.tracking.get_run(run_id)

    def compare(self, run_a: str, run_b: str) -> dict[str, Any]:
        return self.stores.meta.tracking.compare(run_a, run_b)

    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        return self.stores.meta.tracking.metric_history(run_id, key)
