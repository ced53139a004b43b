"""The serving app: `POST /predict`, `POST /feedback`, `/health`, `/ready`, `/metrics`, `/model`,
each behind serve/access.py's SERVE_RULES (tokens of the project's users; /health and /ready open).

`/predict` is a plain Starlette route: it reads the body once, parses it with orjson, checks the
rows against the signature into a NumPy array and calls the model; no pydantic model and no
DataFrame per request (measured by benchmarks/serving.py). Whatever the caller sends wrong
(malformed JSON, a missing field, a wrong type, NaN the model cannot read, a body over the
limit) is a 4xx naming the reason and counted in `/metrics`; a 500 means loopline's own fault.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from loopline.core.errors import InvalidInput, LooplineError, StorageError, Unauthorized
from loopline.serve.access import SERVE_RULES, Guard, Identities, token_authenticator
from loopline.serve.deployment import Deployment, ModelService
from loopline.serve.inputs import InputSpec, RowsRejected, parse_json
from loopline.serve.limits import MESSAGE, BodyLimit, BodyLimits, clip
from loopline.serve.metrics import ServingMetrics
from loopline.serve.recorder import PredictionRecorder

log = logging.getLogger(__name__)

PostTruth = Callable[[str, Mapping[str, Any]], int]
_THREADPOOL_ROWS = 64  # above this a predict leaves the event loop
_SHADOW_QUEUE = 10_000


@dataclass
class ServeOptions:
    max_body_bytes: int = 1_048_576
    log_features: bool = True


def _json(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def _error(status: int, code: str, message: str, fields: Mapping[str, str] | None = None) -> Response:
    body: dict[str, Any] = {"error": code, "message": clip(message, MESSAGE), "hint": None}
    if fields:
        body["fields"] = dict(fields)
        body["hint"] = "GET /model lists the inputs and their types"
    return _json(body, status)


class _Shadow:
    """The shadow candidate answers off the request path, in its own thread, into the log."""

    def __init__(self, service: ModelService, recorder: PredictionRecorder | None, metrics: ServingMetrics):
        self.service = service
        self.recorder = recorder
        self.metrics = metrics
        self.queue: deque[tuple[list[str], Any, list[Mapping[str, Any]], float, InputSpec]] = deque()
        self.wake = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="loopline-shadow", daemon=True)

    def submit(
        self, ids: list[str], matrix: Any, rows: list[Mapping[str, Any]], at: float, spec: InputSpec
    ) -> None:
        if len(self.queue) >= _SHADOW_QUEUE:
            self.metrics.shadow_dropped.inc()
            return
        self.queue.append((ids, matrix, rows, at, spec))
        self.wake.set()

    def _run(self) -> None:
        while not self.stop.is_set() or self.queue:
            if not self.queue:
                self.wake.wait(0.2)
                self.wake.clear()
                continue
            ids, matrix, rows, at, spec = self.queue.popleft()
            shadow = self.service.shadow
            if shadow is None:
                continue
            try:
                start = time.perf_counter()
                if shadow.spec != spec:  # the candidate reads other inputs: its own matrix
                    matrix = shadow.spec.matrix(rows)
                predictions, confidence = shadow.predict(matrix)
                latency = (time.perf_counter() - start) * 1000
            except Exception as exc:  # a candidate's failure never touches the callers
                self.metrics.shadow_errors.inc()
                log.debug("shadow %s v%d failed: %s", shadow.name, shadow.version, exc)
                continue
            if self.recorder is not None:
                for i, rid in enumerate(ids):
                    self.recorder.submit(
                        _record(
                            shadow, "shadow", rid, at, latency, predictions[i], confidence, i, rows, matrix
                        )
                    )


def _record(
    dep: Deployment,
    variant: str,
    rid: str,
    at: float,
    latency_ms: float,
    prediction: Any,
    confidence: list[float] | None,
    i: int,
    rows: list[Mapping[str, Any]],
    matrix: Any,
) -> dict[str, Any]:
    return {
        "request_id": rid,
        "model": dep.name,
        "version": dep.version,
        "variant": variant,
        "at": at,
        "latency_ms": latency_ms,
        "prediction": prediction,
        "confidence": None if confidence is None else confidence[i],
        **_features(dep, matrix, rows, i),
    }


def _features(dep: Deployment, matrix: Any, rows: list[Mapping[str, Any]], i: int) -> dict[str, Any]:
    """A numeric row as it reached the model (no dict per request); other rows by name."""
    if type(matrix) is np.ndarray:
        return {"feature_names": dep.spec.names, "feature_values": matrix[i]}
    return {"features": dep.spec.features(rows[i])}


class ServingRoutes:
    """The serving app's routes, as methods over the parts they share (the model service, the
    prediction recorder, the feedback writer, the metrics, the shadow thread), so that one route
    can be mounted on a bare app and tested alone; create_serving_app mounts them all."""

    def __init__(
        self,
        service: ModelService,
        recorder: PredictionRecorder | None = None,
        post_truth: PostTruth | None = None,
        options: ServeOptions | None = None,
        metrics: ServingMetrics | None = None,
    ) -> None:
        self.service = service
        self.recorder = recorder
        self.post_truth = post_truth
        self.max_body = (options or ServeOptions()).max_body_bytes
        self.metrics = metrics or ServingMetrics(service, recorder)
        self.shadow = _Shadow(service, recorder, self.metrics)

    def table(self) -> list[tuple[str, Callable[[Request], Awaitable[Response]], str]]:
        """(path, endpoint, method) of every route."""
        return [
            ("/predict", self.predict, "POST"),
            ("/feedback", self.feedback, "POST"),
            ("/health", self.health, "GET"),
            ("/ready", self.ready, "GET"),
            ("/model", self.model, "GET"),
            ("/metrics", self.metrics_page, "GET"),
        ]

    def _reject(self, exc: RowsRejected | None, status: int, code: str, message: str) -> Response:
        reason = exc.reason if exc is not None else code
        self.metrics.rejected.labels(reason).inc()
        return _error(
            status, "invalid_input" if status == 422 else code, message, exc.fields if exc else None
        )

    async def predict(self, request: Request) -> Response:
        at = time.time()
        start = time.perf_counter()
        try:  # the body limit is BodyLimit's, installed outermost
            payload = parse_json(await request.body())
        except InvalidInput as exc:
            return self._reject(None, 400, "bad_json", exc.message)
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex
        if len(rid) > 100:
            return self._reject(None, 400, "bad_request_id", "X-Request-ID is longer than 100 characters")
        service = self.service
        dep, variant = service.route(rid)
        if dep is None:
            return _error(503, "not_ready", f"no version of {service.name} is loaded yet")
        try:
            rows, single = dep.spec.rows_of(payload)
            matrix = dep.spec.matrix(rows)
        except RowsRejected as exc:
            return self._reject(exc, exc.status, exc.reason, exc.message)
        try:
            if len(rows) > _THREADPOOL_ROWS:
                predictions, confidence = await run_in_threadpool(dep.predict, matrix)
            else:
                predictions, confidence = dep.predict(matrix)
        except (ValueError, TypeError) as exc:  # the model refused values the signature allowed
            return self._reject(
                None, 422, "model_refused", f"{dep.name} v{dep.version} cannot read the input: {exc}"
            )
        except Exception:
            log.exception("%s v%d failed on a valid request", dep.name, dep.version)
            self.metrics.errors.inc()
            return _error(500, "model_failed", f"{dep.name} v{dep.version} failed; see the server log")
        latency = (time.perf_counter() - start) * 1000
        ids = [rid] if single else [f"{rid}/{i}" for i in range(len(rows))]
        if self.recorder is not None:
            for i, row_id in enumerate(ids):
                self.recorder.submit(
                    _record(dep, variant, row_id, at, latency, predictions[i], confidence, i, rows, matrix)
                )
        if service.shadow is not None:
            self.shadow.submit(ids, matrix, rows, at, dep.spec)
        self.metrics.observe(variant, len(rows), latency)
        out: dict[str, Any] = {
            "request_id": rid,
            "model": dep.name,
            "version": dep.version,
            "variant": variant,
        }
        if single:
            out["prediction"] = predictions[0]
            out["confidence"] = None if confidence is None else confidence[0]
        else:
            out["request_ids"] = ids
            out["predictions"] = predictions
            out["confidences"] = confidence
        return _json(out, headers={"x-request-id": rid})

    async def feedback(self, request: Request) -> Response:
        if self.post_truth is None:
            return _error(404, "not_found", "this service keeps no prediction log")
        try:
            truths = _truths(parse_json(await request.body()))
        except InvalidInput as exc:
            self.metrics.rejected.labels("feedback").inc()
            return _error(422, "invalid_input", exc.message)
        try:
            stored = await run_in_threadpool(self.post_truth, self.service.name, truths)
        except StorageError as exc:
            return _error(503, "storage_unavailable", exc.message)
        except LooplineError as exc:
            return _error(422, "invalid_input", exc.message)
        return _json({"model": self.service.name, "stored": stored})

    async def health(self, _request: Request) -> Response:
        return _json({"status": "ok"})

    async def ready(self, _request: Request) -> Response:
        dep = self.service.primary
        if dep is None:
            return _json({"ready": False, "reason": f"no version of {self.service.name} loaded yet"}, 503)
        return _json({"ready": True, "model": dep.name, "version": dep.version})

    async def model(self, _request: Request) -> Response:
        service = self.service
        dep = service.primary
        info = service.describe()
        info["card"] = dep.card if dep is not None else None
        info["version"] = dep.version if dep is not None else None
        info["alias"] = service.aliases["primary"]
        return _json(info)

    async def metrics_page(self, _request: Request) -> Response:
        data, content_type = self.metrics.render()
        return Response(data, media_type=content_type)

    @asynccontextmanager
    async def lifespan(self, _app: FastAPI) -> AsyncIterator[None]:
        """Start the log writer, the alias follower and the shadow thread; stop them in reverse,
        the queued predictions written or spooled whatever else failed."""
        import polars  # noqa: F401  imported before any thread: scikit-learn looks it up in
        import sklearn  # sys.modules on each predict, and a half-imported one raised there

        sklearn.set_config(assume_finite=True)  # inputs are checked finite here already
        service, recorder, shadow = self.service, self.recorder, self.shadow
        if recorder is not None:
            recorder.start()
        await run_in_threadpool(service.start)
        shadow.thread.start()
        try:
            yield
        finally:
            try:
                service.close()
                shadow.stop.set()
                shadow.wake.set()
                shadow.thread.join(10)
            finally:  # whatever else failed, the queued predictions are written or spooled
                if recorder is not None:
                    await run_in_threadpool(recorder.close)


def _refuse(_request: Request, exc: LooplineError) -> Response:
    status, code = (401, "unauthorized") if isinstance(exc, Unauthorized) else (403, "forbidden")
    response = _error(status, code, exc.message)
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def create_serving_app(
    service: ModelService,
    recorder: PredictionRecorder | None = None,
    post_truth: PostTruth | None = None,
    options: ServeOptions | None = None,
    tokens: Identities | None = None,
) -> FastAPI:
    """The app for one model; its lifespan starts and stops the alias follower, the log writer
    and the shadow thread. Every route is behind SERVE_RULES, callers named by `tokens` (None:
    auth off, every caller the local admin)."""
    routes = ServingRoutes(service, recorder, post_truth, options)
    service.on_swap = routes.metrics.swapped
    app = FastAPI(title=f"loopline serve: {service.name}", lifespan=routes.lifespan)
    for path, endpoint, method in routes.table():
        app.add_route(path, endpoint, methods=[method])
    app.add_middleware(
        Guard,
        routes=app.router.routes,
        rules=SERVE_RULES,
        authenticate=token_authenticator(tokens),
        refuse=_refuse,
    )
    too_large = routes.metrics.rejected.labels("too_large")
    app.add_middleware(BodyLimit, limits=BodyLimits(routes.max_body), refused=lambda _: too_large.inc())
    app.state.metrics = routes.metrics
    app.state.service = service
    app.state.recorder = recorder
    return app


def _truths(payload: Any) -> dict[str, Any]:
    """`{request_id, truth}`, `[{request_id, truth}, ...]` or `{"truths": {request_id: truth}}`."""
    if isinstance(payload, dict) and isinstance(payload.get("truths"), dict):
        return {str(k): v for k, v in payload["truths"].items()}
    items = payload if isinstance(payload, list) else [payload]
    out: dict[str, Any] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "request_id" not in item or "truth" not in item:
            raise InvalidInput(f"feedback item {i} needs request_id and truth")
        out[str(item["request_id"])] = item["truth"]
    if not out:
        raise InvalidInput("no feedback items")
    return out
