"""schemathesis over the server's OpenAPI description (the MLflow routes described in it too):
requests generated from every operation's schema, valid and invalid, sent with a manager's
token; no answer is a 5xx."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.python import asgi

from loopline.server import create_app
from tests.server.conftest import make_setup

EXAMPLES = 2  # per operation and mode (52 operations): about 200 requests


def test_no_generated_request_is_answered_5xx(tmp_path: Path) -> None:
    setup = make_setup(tmp_path / "proj")
    try:
        app = create_app(setup.project)
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        client = asgi.get_client(app)  # one client for every call (not one per request)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert any(op.path.startswith("/api/2.0/mlflow/") for op in operations)
        statuses: Counter[int] = Counter()
        failures: list[str] = []
        for op in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

                @given(op.as_strategy(mode))
                @settings(
                    max_examples=EXAMPLES,
                    deadline=None,
                    suppress_health_check=list(HealthCheck),
                    database=None,
                )
                def send(case: schemathesis.Case) -> None:
                    response = case.call(session=client, headers=setup.auth("mia"))
                    statuses[response.status_code] += 1
                    if response.status_code >= 500:
                        sent = f"{case.query} {str(case.body)[:150]}"
                        failures.append(f"{case.method} {case.formatted_path} {sent}: {response.text[:200]}")

                try:
                    send()
                except Unsatisfiable:  # nothing to make invalid (an operation without inputs)
                    assert mode is GenerationMode.NEGATIVE
        total = sum(statuses.values())
        print(f"schemathesis: {len(operations)} operations, {total} requests, by status {dict(statuses)}")
        assert not failures, f"{len(failures)} of {total} answers were 5xx:\n" + "\n".join(failures[:30])
    finally:
        setup.project.close()
