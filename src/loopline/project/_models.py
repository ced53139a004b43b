"""The Project facade's model side: registry, MLflow's extras, serving, the loop and monitoring."""

from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopline.core.settings import STATE_DIR
from loopline.project._stores import Stores
from loopline.store.metadata import peek

_TABLE_FILES = (".csv", ".parquet", ".jsonl", ".ndjson")  # `drift` reads these as files

if TYPE_CHECKING:
    from datetime import datetime

    from loopline.pipeline.monitoring import Monitoring
    from loopline.registry import ModelEvent, ModelVersion, RegisteredModel, Registry, VersionRef
    from loopline.store.metadata.mlflow import MlflowStore
    from loopline.store.predictions import PredictionLog


class ModelsFacade(Stores):
    """Mixed into Project (loopline.project), whose stores it uses."""

    # -- serve: the prediction log and serving (loopline.serve) ---------------------------------
    @cached_property
    def predictions(self) -> PredictionLog:
        """Served predictions and their ground truth (serve writes, monitor reads)."""
        from loopline.store.predictions import PredictionLog

        return PredictionLog(self.meta, self.blobs)

    def serving_app(self, model: str | None = None, alias: str = "production", **options: Any) -> Any:
        """The ASGI app serving a registered model (the only one when model is None) and
        following its alias; predictions go to `predictions`. options: canary, canary_share,
        shadow, max_body_bytes, poll_seconds, flush_seconds, log_predictions."""
        from loopline.serve.wiring import build_serving_app

        log = self.predictions if options.pop("log_predictions", True) else None
        spool = self.root / STATE_DIR / "spool" / "predictions"
        return build_serving_app(self.registry, log, spool, model, alias, **options)

    def score(self, model: str, dataset_ref: str, alias: str | None = None, **options: Any) -> dict[str, Any]:
        """Score a dataset with a registered model (the alias's version; production, else the
        latest) into a table artifact; options: output, executor, partitions, dask_address, keys."""
        from loopline.pipeline.scoring import score_dataset

        dataset = self.resolve(dataset_ref)
        return score_dataset(self.runner, self.registry, model, dataset, ref=alias, **options)

    # -- registry: model versions, aliases, promotion policy (loopline.registry) -----------------
    @cached_property
    def registry(self) -> Registry:
        from loopline.registry import Policy, Registry

        policy = Policy.from_config(self.file.registry, self.file.where("registry"))
        return Registry(self.meta, self.blobs, policy, self.settings.user)

    def register(
        self,
        name: str,
        artifact_ref: str,
        *,
        run_id: str | None = None,
        evaluation: str | None = None,
        **details: Any,
    ) -> ModelVersion:
        """The model artifact as version N+1 of name. The source run defaults to the run whose
        step made the artifact; gates_passed and the gate
        report come from `evaluation` (an evaluate step's report) or else from the latest
        evaluate step that read the model (loopline.pipeline.evaluation.gate_result); the metrics
        default to what the steps that made or read the model logged in that run; details:
        metrics, signature, description, gates_passed, gate_report, card, reason."""
        from loopline.pipeline.evaluation import gate_result

        art = self.resolve(artifact_ref)
        if "gates_passed" not in details:
            gated = gate_result(self.meta, self.blobs, art, self.resolve(evaluation) if evaluation else None)
            if gated is not None:
                details["gates_passed"], details["gate_report"] = gated
        made_by = self.meta.producers(art.id)
        run_id = self.meta.get_run(run_id).id if run_id else (made_by[0].run_id if made_by else None)
        if "metrics" not in details and run_id:  # what the steps that made or read the model logged
            about = {s.name for s in made_by} | {s.name for s in self.meta.consumers(art.id)}
            details["metrics"] = {
                m["key"]: m["value"] for m in self.meta.metrics(run_id) if m["step_name"] in about
            }
        if "signature" not in details and made_by:
            tables = self.meta.get_artifacts(list(made_by[0].inputs.values())).values()
            schema = {k: v for t in tables if t.kind == "table" for k, v in (t.schema or {}).items()}
            details["table_schema"] = schema
        version = self.registry.register(name, art, run_id=run_id, **details)
        try:  # the reference monitoring compares with, made once from the training table
            self.monitoring.profile_registered(version, made_by[0] if made_by else None)
        except Exception as exc:  # the version is registered; monitoring will ask for a profile
            logging.getLogger("loopline.monitor").warning("no reference profile for %s: %s", name, exc)
        return version

    def models(self) -> list[RegisteredModel]:
        found = peek.list_models(self.settings.store_url) if self._peeking() else None
        return self.registry.models() if found is None else found

    def model(self, name: str, ref: VersionRef = None) -> ModelVersion:
        """A version by number or alias (the latest when ref is None)."""
        return self.registry.resolve(name, ref)

    def load_model(self, name: str, ref: VersionRef = "production") -> Any:
        return self.registry.load(name, ref)

    def promote(self, name: str, version: int, alias: str, reason: str = "") -> dict[str, Any]:
        return self.registry.promote(name, version, alias, reason)

    def approve(self, name: str, version: int, alias: str, reason: str = "") -> ModelEvent:
        return self.registry.approve(name, version, alias, reason)

    def rollback(self, name: str, alias: str = "production", reason: str = "") -> dict[str, Any]:
        return self.registry.rollback(name, alias, reason)

    def model_history(self, name: str) -> list[ModelEvent]:
        return self.registry.history(name)

    @cached_property
    def mlflow(self) -> MlflowStore:
        """What the MLflow REST API keeps beyond tracking and the registry (server/mlflow/)."""
        from loopline.store.metadata.mlflow import MlflowStore

        return MlflowStore(self.meta)

    # -- the loop (pipeline/loop.py) ------------------------------------------------------------
    def loop_turn(self, since: datetime | None = None) -> dict[str, Any]:
        """One turn by the `loop:` policy: watch, collect, queue, label, retrain, gate, promote."""
        from loopline.pipeline.loop import LoopPolicy, turn

        return turn(self, LoopPolicy.parse(self.file.loop, self.file.where), since=since)

    # -- monitor: drift, quality, performance, alerts (pipeline/monitoring.py) ----------------
    @cached_property
    def monitoring(self) -> Monitoring:
        from loopline.monitor import MonitorConfig
        from loopline.pipeline.monitoring import Monitoring

        config = MonitorConfig.from_config(self.file.monitor, self.file.where("monitor"))
        return Monitoring(self.meta, self.blobs, self.registry, lambda: self.predictions, config)

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
            table = self.resolve(reference)
            version = self.monitoring.version(model, alias)
            self.monitoring.profile_table(version, self.load(table.id), source_id=table.id, target=None)
        data = Path(data) if isinstance(data, str) else data
        return self.monitoring.run(model, alias=alias, since=since, until=until, data=data)

    def drift(
        self, reference: str | Path, current: str | Path, columns: list[str] | None = None
    ) -> dict[str, Any]:
        """Data-only drift (no model): `current` against `reference`, each a dataset
        (NAME, NAME@VERSION, an artifact id) or a .csv/.parquet/.jsonl file; the drift tests,
        threshold and report of `monitor` (loopline.yaml's `monitor:`), not stored."""
        from loopline.monitor.report import data_drift_report
        from loopline.pipeline.monitoring import finite

        frames = [self._table_of(ref) for ref in (reference, current)]
        names = (str(reference), str(current))
        report = data_drift_report(*frames, names=names, columns=columns, config=self.monitoring.config)
        return finite(report)

    def _table_of(self, ref: str | Path) -> Any:
        """A table from a file path (when it is a file) or a dataset reference."""
        import polars as pl

        from loopline.core.errors import InvalidInput
        from loopline.pipeline.monitoring import read_window_file

        path = Path(ref)
        if isinstance(ref, Path) or path.is_file() or path.suffix.lower() in _TABLE_FILES:
            return read_window_file(path)
        value = self.load(ref)
        if not isinstance(value, pl.DataFrame):
            raise InvalidInput(f"{ref} is not a table", hint="compare two tables (datasets or files)")
        return value

    def monitor_fleet(self, *, executor: str = "local", **window: Any) -> list[dict[str, Any]]:
        """Monitor every model in the prediction log (executor local or dask); window: alias,
        since, until."""
        from functools import partial

        from loopline.pipeline.monitoring import fleet

        reopen = partial(type(self).open, self.root)  # type: ignore[attr-defined]
        return fleet(self.predictions.models(), reopen, executor=executor, **window)

    def monitor_reports(self, model: str | None = None, *, limit: int = 100) -> list[dict[str, Any]]:
        return [row.to_json() for row in self.monitoring.store.reports(model, limit)]

    def monitor_report(self, report_id: str) -> dict[str, Any]:
        """A stored monitoring report by id (or a prefix of at least 6 characters)."""
        return self.monitoring.report(report_id)
