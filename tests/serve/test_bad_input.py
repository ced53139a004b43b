"""`loopline serve` fed what no client should send: deep nesting, numbers past float64, non-UTF-8,
wrong shapes, over-long bodies: every answer a 4xx, none a 500, and none echoing the input."""

from __future__ import annotations

from collections import Counter

from fastapi.testclient import TestClient

from loopline.project import Project
from tests.serve.conftest import row

BODIES: list[bytes] = [
    b"[" * 100_000,
    b"{" * 100_000,
    b'{"rows": ' * 50_000,
    b"[" * 3000 + b"]" * 3000,
    b'{"sepal_length": ' + b"9" * 400 + b', "sepal_width": 1, "petal_length": 1, "petal_width": 1}',
    b'{"sepal_length": 1e999, "sepal_width": 1, "petal_length": 1, "petal_width": 1}',
    b'{"sepal_length": -Infinity, "sepal_width": 1, "petal_length": 1, "petal_width": 1}',
    b"\xff\xfe\xfd",
    b'{"sepal_length": "\xff"}',
    b"",
    b"null",
    b"[]",
    b"[[]]",
    b'{"rows": {}}',
    b'{"rows": [1, 2]}',
    b'"' + b"x" * 500_000 + b'"',
    b'{"sepal_length": "' + b"x" * 500_000 + b'"}',
    b"x" * 2_000_000,
]


def test_no_bad_body_is_a_500_or_echoed(project: Project) -> None:
    app = project.serving_app(
        "iris", flush_seconds=0.05, auth=False
    )  # bad bodies, not tokens: tests/serve/test_access.py has those
    statuses: Counter[int] = Counter()
    with TestClient(app) as client:
        assert client.post("/predict", json=row(1)).status_code == 200
        for path in ("/predict", "/feedback"):
            for body in BODIES:
                answer = client.post(path, content=body, headers={"content-type": "application/json"})
                statuses[answer.status_code] += 1
                assert 400 <= answer.status_code < 500, (path, body[:40], answer.text[:300])
                assert len(answer.content) < 3000, (path, body[:40], "echoed the input")
        huge = client.post("/predict", json=row(1) | {"sepal_length": 10**400})
        assert huge.status_code == 422 and huge.json()["fields"] == {
            "sepal_length": "the number is out of range"
        }
        assert client.get("/metrics").status_code == 200
    print(f"bad bodies sent to loopline serve: {sum(statuses.values())}; by status: {dict(statuses)}")
