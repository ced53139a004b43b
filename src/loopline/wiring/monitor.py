"""Monitoring wired to the stores: the reference profile made when a model is registered, a
monitoring run (window from the prediction log or a file, report artifact, alerts with their
de-duplication state), and the fleet (every logged model, in this process or on Dask workers
that open the stores by URL, never the project's folder).

The statistics are loopline.monitor's pure functions; this module only reads and writes."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopline.core.errors import InvalidInput, LooplineError, NotFound
from loopline.monitor import MonitorConfig, Profile, build_profile, build_report
from loopline.monitor.alerts import decide, deliver, evaluate, report_metrics
from loopline.store.artifacts import load_table, load_value, save_json
from loopline.store.metadata.monitor import MonitoringStore

if TYPE_CHECKING:
    import polars as pl

    from loopline.core.types import Artifact, StepRun
    from loopline.registry import ModelVersion, Policy, Registry
    from loopline.store.blobs import BlobStore
    from loopline.store.metadata import MetadataStore
    from loopline.store.predictions import PredictionLog
    from loopline.wiring.cluster import StoreUrls

log = logging.getLogger("loopline.monitor")
TARGET_PARAMS = ("target", "label", "label_column")


def finite(value: Any) -> Any:
    """The report as strict JSON: a NaN or infinity (a degenerate statistic) becomes null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def read_window_file(path: Path) -> pl.DataFrame:
    """An Evidently-style "current" dataset from a Parquet, CSV or JSON Lines file."""
    import polars as pl

    if not path.is_file():
        raise InvalidInput(
            f"no file {path}", hint="give a .parquet, .csv or .jsonl file (or a dataset NAME[@VERSION])"
        )
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pl.read_parquet(path)
        if suffix == ".csv":
            return pl.read_csv(path, try_parse_dates=True)
        if suffix in (".jsonl", ".ndjson"):
            return pl.read_ndjson(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InvalidInput(
            f"cannot read {path}: {exc}", hint="is it a valid Parquet, CSV or JSON Lines file?"
        ) from exc
    raise InvalidInput(f"cannot tell the format of {path}", hint="give a .parquet, .csv or .jsonl file")


class Monitoring:
    def __init__(
        self,
        meta: MetadataStore,
        blobs: BlobStore,
        registry: Registry,
        predictions: Callable[[], PredictionLog],
        config: MonitorConfig,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.meta = meta
        self.blobs = blobs
        self.registry = registry
        self._predictions = predictions
        self.config = config
        self.store = MonitoringStore(meta)
        self.clock = clock or (lambda: datetime.now(UTC))

    # -- reference profiles --------------------------------------------------------------------
    def profile_table(
        self, version: ModelVersion, table: pl.DataFrame, *, source_id: str | None, target: str | None
    ) -> Artifact:
        """Profile a training table for a model version and record it (replacing any before)."""
        inputs = list((version.signature or {}).get("inputs") or {})
        features = [c for c in inputs if c in table.columns] or [
            c for c in table.columns if c != target and not c.startswith("_")
        ]
        if not features:
            raise InvalidInput(
                f"the reference table has none of {version.name}'s inputs ({', '.join(inputs)})",
                hint="give the table the model was trained on",
            )
        label = target if target and target in table.columns else None
        profile = build_profile(
            table,
            features,
            prediction=table[label] if label else None,
            source={"table": source_id, "label": label},
        )
        art = save_json(self.blobs, finite(profile.to_json()))
        self.store.put_profile(version.name, version.version, art, source_id)
        log.info(
            "profiled %s rows of %s for %s version %s", table.height, source_id, version.name, version.version
        )
        return art

    def profile_registered(self, version: ModelVersion, made_by: StepRun | None) -> Artifact | None:
        """At registration: profile the training table the model came from (via lineage), once.
        A model with no recorded training table gets no profile; monitoring then asks for one."""
        if made_by is None:
            return None
        tables = [
            a for a in self.meta.get_artifacts(list(made_by.inputs.values())).values() if a.kind == "table"
        ]
        inputs = set((version.signature or {}).get("inputs") or {})
        by_name = {name: aid for name, aid in made_by.inputs.items()}
        tables.sort(key=lambda a: (a.id != by_name.get("train"), -len(inputs & set(a.schema or {}))))
        if not tables:
            return None
        target = next(
            (made_by.params[k] for k in TARGET_PARAMS if isinstance(made_by.params.get(k), str)), None
        )
        source = tables[0]
        if target is None:
            rest = [c for c in (source.schema or {}) if c not in inputs and not c.startswith("_")]
            target = rest[0] if len(rest) == 1 and inputs else None
        return self.profile_table(version, load_table(self.blobs, source), source_id=source.id, target=target)

    def profile(self, model: str, version: int) -> Profile:
        return Profile.from_json(load_value(self.blobs, self.store.profile(model, version)))

    # -- one monitoring run --------------------------------------------------------------------
    def run(
        self,
        model: str,
        *,
        alias: str | None = "production",
        since: datetime | None = None,
        until: datetime | None = None,
        data: pl.DataFrame | Path | None = None,
        alerts: bool = True,
    ) -> dict[str, Any]:
        version = self.version(model, alias)
        profile = self.profile(model, version.version)
        truth = None
        if data is not None:
            frame = read_window_file(data) if isinstance(data, Path) else data
            source = str(data) if isinstance(data, Path) else "frame"
        else:
            until = until or self.clock()
            if since is None and self.config.window is not None:
                since = until - self.config.window
            if since is not None and since >= until:
                raise InvalidInput(
                    f"the window starts ({since}) after it ends ({until})", hint="swap --since and --until"
                )
            log_ = self._predictions()
            frame = log_.read(model, since=since, until=until, version=version.version)
            truth = log_.read_truth(model) if frame.height else None
            source = "prediction log"
        inputs = list((version.signature or {}).get("inputs") or profile.columns)
        report = build_report(
            profile,
            frame,
            model=model,
            version=version.version,
            config=self.config,
            truth=truth,
            since=since,
            until=until,
            features=inputs,
        )
        report["window"]["source"] = source
        report["created_at"] = self.clock().isoformat()
        report["alerts"], report["alert_states"] = self._alerts(report) if alerts else ([], [])
        report = finite(report)
        art = save_json(self.blobs, report)
        self.store.add_report(art, report)
        report["report_id"] = art.id
        return report

    def version(self, model: str, alias: str | None) -> ModelVersion:
        try:
            return self.registry.resolve(model, alias)
        except NotFound as exc:
            if alias in (None, "latest"):
                raise
            self.registry.resolve(model)  # an unknown model says so
            raise NotFound(
                f"{model} has no version at alias {alias!r}",
                hint=f"promote one (`loopline promote {model} N --alias {alias}`) or pass --alias latest",
            ) from exc

    def _alerts(self, report: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Fire the rules that newly hold; an empty window evaluates none."""
        if report["empty"]:
            return [], []
        model = report["model"]
        metrics = report_metrics(report)
        states = self.store.alert_states(model)
        fired: list[dict[str, Any]] = []
        seen: list[dict[str, Any]] = []
        for rule in self.config.alerts:
            if not rule.applies_to(model):
                continue
            holds, value = evaluate(rule, metrics)
            action = decide(holds, states.get(rule.text))
            seen.append({"rule": rule.text, "value": value, "action": action})
            if action == "fire":
                payload = {
                    "rule": rule.text,
                    "model": model,
                    "version": report["version"],
                    "value": value,
                    "state": "firing",
                    "window": report["window"],
                    "at": report["created_at"],
                }
                delivered = deliver(rule, payload)
                fired.append(payload | {"delivered": delivered})
                if delivered:  # an undelivered alert is tried again next run
                    self.store.set_alert_state(model, rule.text, "firing", value, sent=True)
            elif action == "clear":
                log.info("monitor alert %s for %s cleared (value %s)", rule.text, model, value)
                self.store.set_alert_state(model, rule.text, "ok", value, sent=False)
        return fired, seen

    # -- reports for the CLI and the server ----------------------------------------------------
    def report(self, report_id: str) -> dict[str, Any]:
        art = self.store.report_artifact(report_id)
        report: dict[str, Any] = load_value(self.blobs, art)
        report["report_id"] = art.id
        return report


@dataclass(frozen=True)
class FleetTask:
    """What a Dask worker monitors its share of the fleet with: the stores by URL and the
    settings of loopline.yaml it needs (the monitor section, the registry policy), read here so
    the worker never opens the project's folder."""

    stores: StoreUrls
    config: MonitorConfig
    policy: Policy


def fleet(
    models: Sequence[str],
    monitoring: Monitoring,
    stores: StoreUrls,
    *,
    executor: str = "local",
    workers: int = 2,
    dask_address: str | None = None,
    alias: str | None = "production",
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[dict[str, Any]]:
    """Monitor every model: here with `monitoring`, or on Dask, where each worker opens the
    stores from their URLs. Each model's outcome is a summary, or its error: one model's trouble
    stops no other."""
    if executor not in ("local", "dask"):
        raise InvalidInput(f"unknown executor {executor!r}", hint="use local or dask")
    if workers < 1:
        raise InvalidInput(f"--workers {workers}: a fleet needs at least one worker", hint="--workers 2")
    if executor == "local":
        return monitor_models(monitoring, models, alias, since, until)
    if dask_address:  # before connecting: a cluster by address may share no disk with us
        stores.check_reachable(dask_address)
    chunks = [c for c in (list(models[i::workers]) for i in range(workers)) if c]
    if not chunks:
        return []
    from distributed import Client, LocalCluster

    cluster = None
    if not dask_address:
        cluster = LocalCluster(
            n_workers=min(workers, len(chunks)),
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=40,
        )
    client = Client(dask_address or cluster)
    task = FleetTask(stores, monitoring.config, monitoring.registry.policy)
    try:
        futures = [client.submit(monitor_chunk, task, c, alias, since, until, pure=False) for c in chunks]
        return [row for part in client.gather(futures) for row in part]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def monitor_chunk(
    task: FleetTask,
    models: Sequence[str],
    alias: str | None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[dict[str, Any]]:
    """On a worker: open the stores by URL, monitor these models, close the database."""
    from loopline.registry import Registry
    from loopline.store.predictions import PredictionLog

    meta, blobs = task.stores.meta(), task.stores.blobs()
    try:
        registry = Registry(meta, blobs, task.policy, task.stores.user)
        predictions = PredictionLog(meta, blobs)
        monitoring = Monitoring(meta, blobs, registry, lambda: predictions, task.config)
        return monitor_models(monitoring, models, alias, since, until)
    finally:
        meta.close()


def monitor_models(
    monitoring: Monitoring,
    models: Sequence[str],
    alias: str | None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for model in models:
        try:
            report = monitoring.run(model, alias=alias, since=since, until=until)
        except LooplineError as exc:
            out.append({"model": model, "error": exc.message})
            continue
        drift = report["drift"] or {}
        out.append(
            {
                "model": model,
                "version": report["version"],
                "rows": report["window"]["rows"],
                "drift_share": drift.get("share"),
                "drifted": bool(drift.get("drifted")),
                "alerts": len(report["alerts"]),
                "report_id": report["report_id"],
            }
        )
    return out
