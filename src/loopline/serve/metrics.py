"""What `/metrics` shows (Prometheus text format), on a registry of the app's own, so two apps in
one process (tests, a future multi-model server) never mix their counts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

if TYPE_CHECKING:
    from loopline.serve.deployment import Deployment, ModelService
    from loopline.serve.recorder import PredictionRecorder

_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class ServingMetrics:
    def __init__(self, service: ModelService, recorder: PredictionRecorder | None) -> None:
        self.registry = reg = CollectorRegistry()
        self.requests = Counter(
            "loopline_serve_requests", "Answered prediction requests.", ["model", "variant"], registry=reg
        )
        self.rows = Counter("loopline_serve_rows", "Rows predicted.", ["model", "variant"], registry=reg)
        self.rejected = Counter(
            "loopline_serve_rejected",
            "Requests refused for bad input, by reason (missing, type, nan, too_large, bad_json, ...).",
            ["reason"],
            registry=reg,
        )
        self.latency = Histogram(
            "loopline_serve_latency_seconds",
            "Time from the body read to the answer.",
            ["model", "variant"],
            buckets=_BUCKETS,
            registry=reg,
        )
        self.version = Gauge(
            "loopline_serve_model_version", "Loaded version per role.", ["model", "role"], registry=reg
        )
        self.swaps = Counter("loopline_serve_swaps", "Versions swapped in.", ["model"], registry=reg)
        self.errors = Counter("loopline_serve_errors", "Valid requests the model failed on.", registry=reg)
        self.shadow_dropped = Counter(
            "loopline_serve_shadow_dropped", "Shadow predictions skipped (queue full).", registry=reg
        )
        self.shadow_errors = Counter(
            "loopline_serve_shadow_errors", "Shadow predictions that failed.", registry=reg
        )
        if recorder is not None:
            pending = Gauge("loopline_serve_log_pending", "Predictions not yet in the store.", registry=reg)
            pending.set_function(recorder.pending)
            spooled = Gauge("loopline_serve_log_spooled", "Predictions spooled to disk.", registry=reg)
            spooled.set_function(lambda: recorder.stats.spooled_rows)
            written = Gauge("loopline_serve_log_written", "Predictions written to the store.", registry=reg)
            written.set_function(lambda: recorder.stats.written_rows)
            failures = Gauge("loopline_serve_log_failures", "Failed writes of a batch.", registry=reg)
            failures.set_function(lambda: recorder.stats.failures)
        self._model = service.name
        self._bound: dict[str, tuple[Counter, Counter, Histogram]] = {}

    def observe(self, variant: str, rows: int, latency_ms: float) -> None:
        bound = self._bound.get(variant)
        if bound is None:
            bound = self._bound[variant] = (
                self.requests.labels(self._model, variant),
                self.rows.labels(self._model, variant),
                self.latency.labels(self._model, variant),
            )
        bound[0].inc()
        bound[1].inc(rows)
        bound[2].observe(latency_ms / 1000)

    def swapped(self, role: str, deployment: Deployment | None) -> None:
        self.version.labels(self._model, role).set(deployment.version if deployment else 0)
        self.swaps.labels(self._model).inc()

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
