"""`POST /predict` and friends on a real uvicorn: answers, bad input as 4xx counted in /metrics,
readiness, the model card, feedback, and every answered request in the prediction log."""

from __future__ import annotations

import re

import httpx
import pytest

from loopline.project import Project
from tests.serve.conftest import FEATURES, register, row, running, wait_for


def metric(text: str, name: str, **labels: str) -> float:
    """One sample of the Prometheus text format."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.match(r"^([a-z_]+)(?:\{(.*)\})? (\S+)$", line)
        if match and match[1] == name and ",".join(sorted((match[2] or "").split(","))) == wanted:
            return float(match[3])
    return 0.0


def test_predict_validates_answers_logs_and_counts(project: Project):
    app = project.serving_app("iris", flush_seconds=0.05, max_body_bytes=4096, auth=False)
    with running(app) as url, httpx.Client(base_url=url) as client:
        one = client.post("/predict", json=row(1), headers={"X-Request-ID": "req-1"})
        assert one.status_code == 200
        body = one.json()
        assert body["request_id"] == "req-1" and one.headers["x-request-id"] == "req-1"
        assert (body["model"], body["version"], body["variant"]) == ("iris", 1, "primary")
        assert body["prediction"] in (0, 1, 2) and 0.3 < body["confidence"] <= 1.0
        many = client.post("/predict", json={"rows": [row(i) for i in range(5)]}).json()
        assert len(many["predictions"]) == len(many["confidences"]) == 5
        assert many["request_ids"] == [f"{many['request_id']}/{i}" for i in range(5)]
        generated = client.post("/predict", json=[row(2)]).json()["request_id"]
        assert len(generated) == 32

        missing = client.post("/predict", json={"sepal_length": 1.0})
        assert missing.status_code == 422
        assert missing.json()["fields"] == {
            "sepal_width": "missing",
            "petal_length": "missing",
            "petal_width": "missing",
        }
        wrong = client.post("/predict", json=row(1) | {"petal_width": "wide"})
        assert wrong.status_code == 422 and "petal_width" in wrong.json()["message"]
        nan = client.post(
            "/predict",
            content=b'{"sepal_length": NaN, "sepal_width": 1, "petal_length": 1, "petal_width": 1}',
        )
        assert nan.status_code == 422 and nan.json()["fields"] == {
            "sepal_length": "NaN or infinity is not allowed"
        }
        null = client.post("/predict", json=row(1) | {"sepal_width": None})
        assert null.status_code == 422
        assert client.post("/predict", content=b'{"sepal_length": 1').status_code == 400
        assert client.post("/predict", json="a row").status_code == 422
        big = client.post("/predict", json={"rows": [row(i) for i in range(100)]})
        assert big.status_code == 413 and "4096" in big.json()["message"]

        def chunks():  # no Content-Length: the limit holds while reading
            for _ in range(10):
                yield b" " * 1000

        assert client.post("/predict", content=chunks()).status_code == 413

        text = client.get("/metrics").text
        assert metric(text, "loopline_serve_requests_total", model="iris", variant="primary") == 3
        assert metric(text, "loopline_serve_rows_total", model="iris", variant="primary") == 7
        assert metric(text, "loopline_serve_rejected_total", reason="missing") == 1
        assert metric(text, "loopline_serve_rejected_total", reason="type") == 1
        assert metric(text, "loopline_serve_rejected_total", reason="nan") == 2
        assert metric(text, "loopline_serve_rejected_total", reason="bad_json") == 1
        assert metric(text, "loopline_serve_rejected_total", reason="shape") == 1
        assert metric(text, "loopline_serve_rejected_total", reason="too_large") == 2
        assert metric(text, "loopline_serve_model_version", model="iris", role="primary") == 1
        assert metric(text, "loopline_serve_errors_total") == 0

        assert client.get("/health").json() == {"status": "ok"}
        assert client.get("/ready").json() == {"ready": True, "model": "iris", "version": 1}
        card = client.get("/model").json()
        assert (card["version"], card["alias"], card["card"]["version"]) == (1, "production", 1)
        assert list(card["primary"]["inputs"]) == list(FEATURES)

        assert client.post("/feedback", json={"request_id": "req-1", "truth": 2}).json()["stored"] == 1
        assert client.post("/feedback", json={"truths": {"x": 1, "y": 0}}).json()["stored"] == 2
        assert client.post("/feedback", json={"truth": 1}).status_code == 422
    log = project.predictions.read("iris")
    assert log.height == 7 and log["request_id"].n_unique() == 7
    first = log.filter(log["request_id"] == "req-1").row(0, named=True)
    assert first["sepal_length"] == row(1)["sepal_length"] and first["version"] == 1
    assert first["prediction"] == body["prediction"] and first["confidence"] == pytest.approx(
        body["confidence"]
    )
    truth = project.predictions.read_truth("iris")
    assert dict(zip(truth["request_id"], truth["truth"], strict=True)) == {"req-1": 2, "x": 1, "y": 0}


def test_not_ready_until_the_alias_exists_then_follows_it(project: Project):
    register(project, "fresh", 1.0)
    app = project.serving_app("fresh", poll_seconds=0.05, auth=False)
    with running(app) as url, httpx.Client(base_url=url) as client:
        assert client.get("/ready").status_code == 503
        refused = client.post("/predict", json=row(1))
        assert refused.status_code == 503 and refused.json()["error"] == "not_ready"
        project.promote("fresh", 1, "production")
        wait_for(lambda: client.get("/ready").status_code == 200, what="the service to load v1")
        assert client.post("/predict", json=row(1)).json()["version"] == 1


def test_serving_names_the_model_when_several_are_registered(project: Project):
    from loopline.core.errors import InvalidInput

    register(project, "other", 1.0)
    with pytest.raises(InvalidInput, match="say which one"):
        project.serving_app()
