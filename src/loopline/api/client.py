"""`loopline.Client(url, token)`: the REST API of a `loopline server` from Python.

    client = loopline.Client("http://127.0.0.1:8080", token)
    for run in client.runs(filter="metrics.accuracy > 0.9"):
        ...

Every call returns the loopline.api shapes the server sends (the CLI's `--json` shapes); errors
come back as the loopline errors the server raised (NotFound, Forbidden, …).
"""

from __future__ import annotations

from loopline.api.audit import AuditCalls
from loopline.api.data import DataCalls
from loopline.api.experiments import ExperimentCalls
from loopline.api.files import FileCalls
from loopline.api.labeling import LabelingCalls
from loopline.api.models import ModelCalls
from loopline.api.monitoring import MonitoringCalls
from loopline.api.pipeline import PipelineCalls


class Client(
    DataCalls,
    FileCalls,
    PipelineCalls,
    ExperimentCalls,
    ModelCalls,
    MonitoringCalls,
    LabelingCalls,
    AuditCalls,
):
    """One server, one token; use as a context manager or call close()."""

    def __enter__(self) -> Client:
        return self

    def whoami(self) -> dict[str, str]:
        """Who the token signs in as, `{"name", "role"}`: the cheapest call any signed-in user
        may make (GET /api/annotate/me), so `loopline login` checks a token with it."""
        found = self._request("GET", "/api/annotate/me", prefix="")
        if not isinstance(found, dict) or not isinstance(found.get("name"), str):
            from loopline.core.errors import StorageError

            raise StorageError(
                f"{self.url} answered GET /api/annotate/me without a user",
                hint="check that the URL is a loopline server's",
            )
        return {"name": found["name"], "role": str(found.get("role", ""))}
