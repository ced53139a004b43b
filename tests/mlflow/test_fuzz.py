"""Every declared MLflow route fed wrong types, huge numbers, deep nesting, non-UTF-8 and broken
JSON, one field at a time over otherwise good requests (so the handlers get past the first
check): not one answer is a 5xx, which the MLflow client would retry for minutes."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from loopline.project import Project
from loopline.server import create_app
from loopline.server.mlflow.protocol import DECLARED, Declared
from tests.conftest import PG_URL, _postgres_schema_url


@pytest.fixture
def store_url(tmp_path: Path) -> Iterator[str]:
    """PostgreSQL when the tests have one (it refuses what SQLite takes: NUL in text, integers
    past 64 bits), else SQLite; the MLflow routes on SQLite are fuzzed by test_openapi_fuzz too."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'meta.db'}"
        return
    yield from _postgres_schema_url(PG_URL)


API = "/api/2.0/mlflow"
FILES = "/api/2.0/mlflow-artifacts/artifacts"
DEEP = 5000

BAD_VALUES: list[Any] = [
    2**63,
    -(2**63) - 1,
    10**400,
    -1,
    0,
    1e308,
    -1e308,
    1.5,
    True,
    None,
    "",
    "x" * 300,
    "NaN",
    "\u0000",
    {},
    [],
    [{}],
    [None],
    {"key": {}},
    [[[[[]]]]],
    {"a": {"b": {"c": {"d": [1, {"e": None}]}}}},
]
RAW_BODIES: list[bytes] = [
    b"[" * 100_000,
    b'{"a":' * DEEP,
    b"[" * DEEP + b"]" * DEEP,
    b"\xff\xfe\x00",
    b'{"name": "\xff\xfe"}',
    b"[]",
    b"null",
    b"1e999",
    b'"text"',
    b'{"filter": -1}',
    b'{"status": {}}',
    b'{"max_results": 9223372036854775808}',
    b'{"run_id": NaN}',
]
QUERY_VALUES = ["9223372036854775808", "-1", "1e308", "NaN", "", "x" * 300, "\u0000", "%ff", "[]"]


def admin_headers(project: Project) -> dict[str, str]:
    """A token of the strongest role there is (the server may require one)."""
    try:
        from tests.server.conftest import make_user  # type: ignore[attr-defined]
    except ImportError:
        token = project.annotator_add("fuzzer", "admin")[1]
    else:
        token = make_user(project, "fuzzer", "admin")
    return {"Authorization": f"Bearer {token}"}


def good_values(api: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    """An experiment, a run with a metric and a file, a logged model, a registered model: the
    values a well-formed request would carry, by field name."""

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = api.post(f"{API}/{path}", json=body, headers=headers)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    exp = post("experiments/create", {"name": "fuzz"})["experiment_id"]
    run = post("runs/create", {"experiment_id": exp, "start_time": 1})["run"]["info"]["run_id"]
    post("runs/log-metric", {"run_id": run, "key": "loss", "value": 1.0, "timestamp": 1, "step": 0})
    api.put(f"{FILES}/{exp}/{run}/artifacts/a.txt", content=b"hello", headers=headers)
    model = post("logged-models", {"experiment_id": exp})["model"]["info"]["model_id"]
    post("registered-models/create", {"name": "m"})
    metric = {"key": "loss", "value": 2.0, "timestamp": 2, "step": 1}
    return {
        "experiment_id": exp,
        "experiment_ids": [exp],
        "run_id": run,
        "run_uuid": run,
        "source_run_id": run,
        "model_id": model,
        "name": "m",
        "experiment_name": "fuzz",
        "key": "k",
        "value": "v",
        "version": "1",
        "alias": "champion",
        "path": "",
        "artifact_path": f"{exp}/{run}/artifacts/a.txt",
        "max_results": 10,
        "metrics": [metric],
        "params": [{"key": "p", "value": "1"}],
        "tags": [{"key": "t", "value": "1"}],
        "status": "FINISHED",
        "source": f"mlflow-artifacts:/{exp}/{run}/artifacts",
        "start_time": 1,
        "end_time": 2,
        "timestamp": 1,
        "step": 0,
        "filter": "",
        "order_by": [],
    }


def _url(route: Declared, good: dict[str, Any], overrides: dict[str, str] | None = None) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[0]
        return (overrides or {}).get(name, str(good.get(name, "x")))

    return re.sub(r"\{([^}]+)\}", fill, route.path)


def requests(good: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(method, url, httpx keyword arguments) of every bad request."""
    for route in DECLARED:
        fields = sorted(route.fields or ())
        base = {f: good.get(f, "x") for f in fields}
        params = re.findall(r"\{([^}:]+)", route.path)
        for name in params:
            for value in ("x" * 5000, "..", "%00", "9223372036854775808", "-1"):
                yield route.method, _url(route, good, {name: value}), {"json": base}
        if route.fields is None:
            yield route.method, _url(route, good), {"content": b"\xff" * 1000}
            continue
        if route.method in ("GET", "DELETE"):
            for field in fields:
                for value in QUERY_VALUES:
                    query = {k: str(v) for k, v in base.items() if not isinstance(v, list | dict)}
                    yield route.method, _url(route, good), {"params": {**query, field: value}}
            continue
        for field in fields:
            for value in BAD_VALUES:
                yield route.method, _url(route, good), {"json": {**base, field: value}}
            deep = ("[" * DEEP + "]" * DEEP).encode()
            body = json.dumps({**base, field: "DEEP"}).encode().replace(b'"DEEP"', deep)
            yield route.method, _url(route, good), {"content": body}
        for raw in RAW_BODIES:
            yield route.method, _url(route, good), {"content": raw}


@pytest.fixture
def fuzz_api(project: Project) -> Iterator[TestClient]:
    with TestClient(create_app(project), raise_server_exceptions=False) as client:
        yield client


def test_no_bad_request_is_answered_5xx(fuzz_api: TestClient, project: Project) -> None:
    headers = admin_headers(project)
    good = good_values(fuzz_api, headers)
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    for method, url, kwargs in requests(good):
        answer = fuzz_api.request(method, url, headers=headers, **kwargs)
        statuses[answer.status_code] += 1
        if answer.status_code >= 500:
            sent = str(kwargs)[:160]
            failures.append(f"{method} {url[:100]} {sent} -> {answer.status_code} {answer.text[:200]}")
        assert len(answer.content) < 20_000 or method == "GET", f"{method} {url} echoed a large input"
    sent = sum(statuses.values())
    print(f"fuzzed MLflow requests: {sent}; by status: {dict(sorted(statuses.items()))}")
    assert sent > 1000
    assert not failures, f"{len(failures)} of {sent} answers were 5xx:\n" + "\n".join(failures[:200])
