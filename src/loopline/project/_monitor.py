"""A Project's monitoring: reference profiles, monitoring runs over the prediction log or a file,
data-only drift, the fleet, and the stored reports (wiring/monitor.py holds the logic)."""

from __future__ import annotations

import threading
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

_TABLE_FILES = (".csv", ".parquet", ".jsonl", ".ndjson")  # `drift` reads these as files
_POINTS_KEPT = 5000  # timeline points kept in memory (about 1 KB each, more with many features)
_TEST_FIELDS = ("name", "test", "statistic", "p_value", "p_adjusted", "psi", "drifted")
_ALERT_FIELDS = ("rule", "value", "state", "at", "delivered")

if TYPE_CHECKING:
    from loopline.core.types import Artifact, StepRun
    from loopline.project._stores import Stores
    from loopline.registry import ModelVersion
    from loopline.store.metadata.monitor import ReportRow
    from loopline.wiring.monitor import Monitoring


class Monitor:
    def __init__(self, stores: Stores) -> None:
        self.stores = stores
        self._points: dict[str, dict[str, Any]] = {}  # report id -> point_of(report), oldest first
        self._lock = threading.Lock()

    @cached_property
    def monitoring(self) -> Monitoring:
        from loopline.monitor import MonitorConfig
        from loopline.wiring.monitor import Monitoring

        stores = self.stores
        config = MonitorConfig.from_config(stores.file.monitor, stores.file.where("monitor"))
        return Monitoring(stores.meta, stores.blobs, stores.registry, lambda: stores.predictions, config)

    def profile_registered(self, version: ModelVersion, made_by: StepRun | None) -> Artifact | None:
        return self.monitoring.profile_registered(version, made_by)

    def monitor(
        self,
        model: str,
        *,
        alias: str | None = "production",
        since: datetime | None = None,
        until: datetime | None = None,
        data: Any = None,
        reference: str | None = None,
    ) -> dict[str, Any]:
        """A monitoring report of the model at alias over a window of its prediction log (or of
        `data`: a DataFrame or a .parquet/.csv path), stored as an artifact; alerts fired.
        `reference`: a table to profile as the version's reference first."""
        if reference is not None:
            table = self.stores.resolve(reference)
            version = self.monitoring.version(model, alias)
            self.monitoring.profile_table(
                version, self.stores.load(table.id), source_id=table.id, target=None
            )
        data = Path(data) if isinstance(data, str) else data
        return self.monitoring.run(model, alias=alias, since=since, until=until, data=data)

    def drift(
        self, reference: str | Path, current: str | Path, columns: list[str] | None = None
    ) -> dict[str, Any]:
        """Data-only drift (no model): `current` against `reference`, each a dataset
        (NAME, NAME@VERSION, an artifact id) or a .csv/.parquet/.jsonl file; the drift tests,
        threshold and report of `monitor` (loopline.yaml's `monitor:`), not stored."""
        from loopline.monitor.report import data_drift_report
        from loopline.wiring.monitor import finite

        frames = [self._table_of(ref) for ref in (reference, current)]
        names = (str(reference), str(current))
        report = data_drift_report(*frames, names=names, columns=columns, config=self.monitoring.config)
        return finite(report)

    def _table_of(self, ref: str | Path) -> Any:
        """A table from a file path (when it is a file) or a dataset reference."""
        import polars as pl

        from loopline.core.errors import InvalidInput
        from loopline.wiring.monitor import read_window_file

        path = Path(ref)
        if isinstance(ref, Path) or path.is_file() or path.suffix.lower() in _TABLE_FILES:
            return read_window_file(path)
        value = self.stores.load(ref)
        if not isinstance(value, pl.DataFrame):
            raise InvalidInput(f"{ref} is not a table", hint="compare two tables (datasets or files)")
        return value

    def monitor_fleet(self, *, executor: str = "local", **options: Any) -> list[dict[str, Any]]:
        """Monitor every model in the prediction log (executor local or dask); options: alias,
        since, until, and for dask: workers (the LocalCluster's size, or the number of chunks
        for a cluster by address) and dask_address. Dask workers open the stores by URL, never
        this folder."""
        from loopline.wiring.cluster import StoreUrls
        from loopline.wiring.monitor import fleet

        models = self.stores.predictions.models()
        urls = StoreUrls.of(self.stores.settings)
        return fleet(models, self.monitoring, urls, executor=executor, **options)

    def monitor_reports(
        self, model: str | None = None, *, limit: int = 100, offset: int = 0
    ) -> list[dict[str, Any]]:
        """Stored reports' summaries (api.monitoring.ReportSummary), newest first."""
        return [row.to_json() for row in self.monitoring.store.reports(model, limit, offset)]

    def monitor_models(self, *, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        """One page of the models with reports, by name: each one's latest report as a timeline
        point, its number of reports and its recent drift shares (api.monitoring.ModelMonitoring).
        One report's JSON is read per model listed, and only once: reports never change."""
        store = self.monitoring.store
        latest = store.latest_per_model(offset, limit)
        trends = store.recent_shares([row.model for row, _ in latest])
        return [
            {"model": row.model, "reports": n, "latest": self._point(row), "trend": trends[row.model]}
            for row, n in latest
        ]

    def monitor_timeline(
        self,
        model: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 200,
    ) -> dict[str, Any]:
        """A model's last `limit` reports in [since, until) (by window end), oldest first, as
        points of drift per feature, performance and alerts (api.monitoring.ModelTimeline)."""
        from loopline.core.errors import NotFound

        store = self.monitoring.store
        rows = store.timeline(model, since, until, limit)
        if not rows and not store.reports(model, 1):
            raise NotFound(
                f"no monitoring reports of {model!r}", hint=f"`loopline monitor {model}` writes one"
            )
        points = [self._point(row) for row in rows]
        features = sorted({f["name"] for point in points for f in point["features"]})
        return {"model": model, "features": features, "points": points}

    def _point(self, row: ReportRow) -> dict[str, Any]:
        with self._lock:
            found = self._points.get(row.artifact_id)
        if found is None:
            found = point_of(row.to_json(), self.monitoring.report(row.artifact_id))
            with self._lock:
                self._points[row.artifact_id] = found
                while len(self._points) > _POINTS_KEPT:
                    del self._points[next(iter(self._points))]
        return found

    def monitor_report(self, report_id: str) -> dict[str, Any]:
        """A stored monitoring report by id (or a prefix of at least 6 characters)."""
        return self.monitoring.report(report_id)


def point_of(summary: dict[str, Any], report: dict[str, Any]) -> dict[str, Any]:
    """The numbers of one report a chart over time needs (api.monitoring.TimelinePoint)."""
    drift = report.get("drift") or {}
    performance = report.get("performance") or {}
    metrics = {
        k: float(v)
        for k, v in performance.items()
        if k != "labelled" and isinstance(v, int | float) and not isinstance(v, bool)
    }
    prediction = report.get("prediction_drift")
    return {
        "report": summary,
        "at": summary["until"] or summary["created_at"],
        "empty": bool(report.get("empty")),
        "features": [_test(c) for c in drift.get("columns") or []],
        "prediction_drift": _test(prediction) if prediction else None,
        "performance": metrics or None,
        "labelled": performance.get("labelled"),
        "estimated_accuracy": (report.get("estimated_performance") or {}).get("accuracy"),
        "fired": [{k: a.get(k) for k in _ALERT_FIELDS} for a in report.get("alerts") or []],
    }


def _test(column: dict[str, Any]) -> dict[str, Any]:
    return {k: column.get(k) for k in _TEST_FIELDS}
