"""A Project's monitoring: reference profiles, monitoring runs over the prediction log or a file,
data-only drift, the fleet, and the stored reports (wiring/monitor.py holds the logic)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

_TABLE_FILES = (".csv", ".parquet", ".jsonl", ".ndjson")  # `drift` reads these as files

if TYPE_CHECKING:
    from datetime import datetime

    from loopline.core.types import Artifact, StepRun
    from loopline.project._stores import Stores
    from loopline.registry import ModelVersion
    from loopline.wiring.monitor import Monitoring


class Monitor:
    def __init__(self, stores: Stores, opener: Callable[[], Any]) -> None:
        self.stores = stores
        self.opener = opener  # a picklable way to open this project again (in Dask's workers)

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

    def monitor_fleet(self, *, executor: str = "local", **window: Any) -> list[dict[str, Any]]:
        """Monitor every model in the prediction log (executor local or dask); window: alias,
        since, until."""
        from loopline.wiring.monitor import fleet

        return fleet(self.stores.predictions.models(), self.opener, executor=executor, **window)

    def monitor_reports(self, model: str | None = None, *, limit: int = 100) -> list[dict[str, Any]]:
        return [row.to_json() for row in self.monitoring.store.reports(model, limit)]

    def monitor_report(self, report_id: str) -> dict[str, Any]:
        """A stored monitoring report by id (or a prefix of at least 6 characters)."""
        return self.monitoring.report(report_id)
