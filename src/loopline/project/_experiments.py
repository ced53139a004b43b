"""A Project's experiment tracking: the active run users log to (wiring/active_run.py) and the
searches, comparisons and histories over the tracking tables (store/metadata/experiments.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loopline.core.experiments import Experiment, MetricPoint, TrackedRun
    from loopline.project._stores import Stores
    from loopline.wiring.active_run import ActiveRun


COMPARE_MOST = 10
MARK_EVERY = 5.0  # seconds between two scans for runs whose process died


def compare(runs: Sequence[TrackedRun]) -> dict[str, Any]:
    """Runs side by side (see Experiments.compare)."""

    def rows(maps: Sequence[Mapping[str, Any]], numeric: bool = False) -> list[dict[str, Any]]:
        out = []
        for key in sorted({k for m in maps for k in m}):
            values = [m.get(key) for m in maps]
            row: dict[str, Any] = {"key": key, "values": values, "same": all(v == values[0] for v in values)}
            if numeric:
                first = values[0]
                row["deltas"] = [v - first if v is not None and first is not None else None for v in values]
            out.append(row)
        return out

    heads = [{k: v for k, v in r.to_json().items() if k not in ("params", "metrics", "tags")} for r in runs]
    return {
        "runs": heads,
        "params": rows([r.params for r in runs]),
        "metrics": rows([r.metrics for r in runs], numeric=True),
        "tags": rows([r.tags for r in runs]),
    }


class Experiments:
    def __init__(self, stores: Stores) -> None:
        self.stores = stores
        self._marked_at: float | None = None

    def _mark_interrupted(self) -> None:
        """Runs of this host whose process died are marked before a search shows them, at most
        every MARK_EVERY seconds: a server answering many searches does not scan the runs table
        for running ones on each (at 30,000 runs that scan was most of a page's time)."""
        import time

        now = time.monotonic()
        if self._marked_at is None or now - self._marked_at >= MARK_EVERY:
            self._marked_at = now
            self.stores.runner.mark_interrupted()

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
        self._mark_interrupted()
        return tracking.search_runs(
            experiment_ids=[tracking.get_experiment_by_name(experiment).id] if experiment else None,
            filters=[f for text in filters for f in parse_filter(text)],
            order_by=[parse_order(order_by, descending)] if order_by else [],
            limit=limit,
            offset=offset,
        )

    def tracked_run(self, run_id: str) -> TrackedRun:
        return self.stores.meta.tracking.get_run(run_id)

    def compare(self, *run_ids: str) -> dict[str, Any]:
        """2 to 10 runs (ids or unique prefixes) side by side: `runs` (who and when), then every
        param, latest metric and tag any of them has, as `{key, values, same}` with `values[i]`
        run i's (None: it has none); a metric row's `deltas[i]` is values[i] - values[0]."""
        from loopline.core.errors import InvalidInput

        if not 2 <= len(run_ids) <= COMPARE_MOST:
            raise InvalidInput(
                f"compare takes 2 to {COMPARE_MOST} runs, not {len(run_ids)}",
                hint="give each run's id (or a unique prefix)",
            )
        tracking = self.stores.meta.tracking
        found = [tracking.get_run(run_id) for run_id in run_ids]
        if len({r.id for r in found}) < len(found):
            raise InvalidInput("a run is named twice in the comparison", hint="give each run once")
        return compare(found)

    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        return self.stores.meta.tracking.metric_history(run_id, key)
