"""One serving route at a time, mounted alone on a bare app: no lifespan, no alias follower, no
log writer, so what a test sees is that route's answer and nothing else's."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.testclient import TestClient

from loopline.core.errors import StorageError
from loopline.project import Project
from loopline.serve.app import ServingRoutes
from loopline.serve.deployment import ModelService
from loopline.serve.limits import BodyLimit, BodyLimits

from .conftest import row


def _alone(
    endpoint: Callable[[Request], Awaitable[Response]], path: str, method: str, limit: int | None = None
) -> TestClient:
    app = Starlette()
    app.add_route(path, endpoint, methods=[method])
    if limit is not None:  # the body limit is the app's outermost middleware, not the route's
        app.add_middleware(BodyLimit, limits=BodyLimits(limit))
    return TestClient(app)


def test_ready_answers_503_until_a_version_is_loaded_then_names_it(project: Project) -> None:
    service = ModelService(project.registry, "iris")
    routes = ServingRoutes(service)
    with _alone(routes.ready, "/ready", "GET") as client:
        before = client.get("/ready")
        assert before.status_code == 503
        assert before.json() == {"ready": False, "reason": "no version of iris loaded yet"}
        assert service.refresh() == ["primary"]  # load what production points at, no thread
        after = client.get("/ready")
    assert after.status_code == 200
    assert after.json() == {"ready": True, "model": "iris", "version": 1}


def test_feedback_parses_both_shapes_and_maps_a_storage_failure_to_503(project: Project) -> None:
    received: list[tuple[str, dict[str, Any]]] = []
    storage_up = True

    def post_truth(model: str, truths: Mapping[str, Any]) -> int:
        if not storage_up:
            raise StorageError("the metadata store is away", hint="try again")
        received.append((model, dict(truths)))
        return len(truths)

    routes = ServingRoutes(ModelService(project.registry, "iris"), post_truth=post_truth)
    with _alone(routes.feedback, "/feedback", "POST") as client:
        one = client.post("/feedback", json={"request_id": "a", "truth": 1})
        many = client.post("/feedback", json={"truths": {"b": 0, "c": 2}})
        bad = client.post("/feedback", json=[{"request_id": "d"}])
        storage_up = False
        away = client.post("/feedback", json={"request_id": "e", "truth": 1})
    assert (one.status_code, one.json()) == (200, {"model": "iris", "stored": 1})
    assert (many.status_code, many.json()) == (200, {"model": "iris", "stored": 2})
    assert received == [("iris", {"a": 1}), ("iris", {"b": 0, "c": 2})]
    assert bad.status_code == 422
    assert bad.json()["message"] == "feedback item 0 needs request_id and truth"
    rejected = routes.metrics.registry.get_sample_value(
        "loopline_serve_rejected_total", {"reason": "feedback"}
    )
    assert rejected == 1  # counted as a rejection
    assert (away.status_code, away.json()["error"]) == (503, "storage_unavailable")


def test_predict_alone_answers_from_the_loaded_version_and_refuses_a_body_over_the_limit(
    project: Project,
) -> None:
    from loopline.serve.app import ServeOptions

    service = ModelService(project.registry, "iris")
    service.refresh()
    routes = ServingRoutes(service, options=ServeOptions(max_body_bytes=200))
    with _alone(routes.predict, "/predict", "POST", limit=routes.max_body) as client:
        ok = client.post("/predict", json=row(3), headers={"X-Request-ID": "r-1"})
        big = client.post("/predict", json=[row(i) for i in range(20)])
    assert ok.status_code == 200
    assert ok.json()["request_id"] == "r-1"
    assert (ok.json()["model"], ok.json()["version"], ok.json()["variant"]) == ("iris", 1, "primary")
    assert ok.json()["prediction"] in (0, 1, 2)
    assert big.status_code == 413
    assert big.json()["error"] == "too_large"
