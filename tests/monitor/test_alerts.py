"""Alert rules end to end on a real project: a webhook (a real HTTP server on a free port)
receives one JSON POST when a rule starts to hold, none while it keeps holding, one again after
it cleared; an undelivered alert is tried again; an empty window says so and alerts nothing."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from loopline.core.errors import ConfigError
from loopline.monitor import MonitorConfig, decide
from loopline.monitor.alerts import parse_rule
from tests.monitor.conftest import NOW, Setup, make_setup, sample


class Hook:
    """A webhook receiver: records each JSON body; answers `status`."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.status = 200
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                hook.received.append(json.loads(self.rfile.read(length)))
                self.send_response(hook.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    made = Hook()
    yield made
    made.close()


@pytest.fixture
def alerting(tmp_path: Path, store_url: str, hook: Hook) -> Iterator[Setup]:
    extra = f"""
monitor:
  alerts:
    - rule: drift_share > 0.1
      webhook: {hook.url}
      log: true
    - rule: estimated_accuracy < 0.5
      models: [another]
"""
    made = make_setup(tmp_path / "proj", extra, store=store_url)
    yield made
    made.project.close()


def hour(n: int) -> dict[str, Any]:
    start = NOW + timedelta(hours=n)
    return {"since": start, "until": start + timedelta(hours=1)}


def test_webhook_fires_once_per_episode(alerting: Setup, hook: Hook, caplog: pytest.LogCaptureFixture):
    project = alerting.project
    alerting.log(sample(400, 1, shift=1.5), start=NOW, prefix="a")  # hour 0: x1 moved
    alerting.log(sample(400, 2, shift=1.5), start=NOW + timedelta(hours=1), prefix="b")  # hour 1: still
    training = project.load("table").head(400)  # hour 2: back to what training saw
    alerting.log(training, start=NOW + timedelta(hours=2), prefix="c")
    alerting.log(sample(400, 4, shift=1.5), start=NOW + timedelta(hours=3), prefix="d")  # hour 3: again

    with caplog.at_level("WARNING", logger="loopline.monitor"):
        first = project.monitor("clf", **hour(0))
    assert first["drift"]["drifted"] and first["drift"]["share"] == pytest.approx(0.2)
    assert [a["rule"] for a in first["alerts"]] == ["drift_share > 0.1"]
    assert first["alerts"][0]["delivered"] is True
    assert len(hook.received) == 1
    body = hook.received[0]
    assert (
        body["model"] == "clf" and body["version"] == alerting.version and body["value"] == pytest.approx(0.2)
    )
    assert body["window"]["rows"] == 400
    assert any("drift_share > 0.1" in r.getMessage() for r in caplog.records)

    second = project.monitor("clf", **hour(1))
    assert second["alerts"] == [] and len(hook.received) == 1  # still holding: not re-sent
    assert [(a["rule"], a["action"]) for a in second["alert_states"]] == [("drift_share > 0.1", "hold")]

    third = project.monitor("clf", **hour(2))
    assert not third["drift"]["drifted"]
    assert third["alert_states"][0]["action"] == "clear"

    fourth = project.monitor("clf", **hour(3))
    assert len(fourth["alerts"]) == 1 and len(hook.received) == 2  # a new episode
    states = project.monitoring.store.alerts(["clf"])
    assert [(s["rule"], s["state"]) for s in states] == [("drift_share > 0.1", "firing")]


def test_an_undelivered_alert_is_tried_again(alerting: Setup, hook: Hook):
    alerting.log(sample(400, 1, shift=1.5), start=NOW)
    hook.status = 500
    first = alerting.project.monitor("clf", **hour(0))
    assert first["alerts"][0]["delivered"] is False
    hook.status = 200
    again = alerting.project.monitor("clf", **hour(0))
    assert again["alerts"][0]["delivered"] is True
    assert len(hook.received) == 2


def test_an_empty_window_says_so_and_alerts_nothing(alerting: Setup, hook: Hook):
    alerting.log(sample(400, 1, shift=1.5), start=NOW)
    empty = alerting.project.monitor("clf", **hour(5))
    assert empty["empty"] is True and empty["window"]["rows"] == 0
    assert "no predictions of clf" in empty["message"]
    assert empty["drift"] is None and empty["alerts"] == [] and empty["alert_states"] == []
    assert hook.received == []
    listed = alerting.project.monitor_reports("clf")
    assert listed[0]["rows"] == 0 and listed[0]["report_id"] == empty["report_id"]


def test_rules_and_their_mistakes():
    assert parse_rule("drift_share > 0.2") == ("drift_share", ">", 0.2)
    assert parse_rule(" accuracy<0.8 ") == ("accuracy", "<", 0.8)
    for bad in ("drift > 0.2", "accuracy < high", "accuracy"):
        with pytest.raises(ConfigError, match="METRIC OP NUMBER"):
            parse_rule(bad)
    with pytest.raises(ConfigError, match="webhook must be an http"):
        MonitorConfig.from_config({"alerts": [{"rule": "rows > 0", "webhook": "ftp://x"}]})
    with pytest.raises(ConfigError, match="correction"):
        MonitorConfig.from_config({"drift": {"correction": "hommel"}})
    with pytest.raises(ConfigError, match="unknown key"):
        MonitorConfig.from_config({"treshold": 1})
    config = MonitorConfig.from_config({"window": "24h", "alerts": ["accuracy < 0.8"]})
    assert config.window == timedelta(hours=24) and config.alerts[0].log is True
    assert [
        decide(h, p)
        for h, p in [(True, None), (True, "firing"), (False, "firing"), (False, "ok"), (None, "firing")]
    ] == [
        "fire",
        "hold",
        "clear",
        "quiet",
        "quiet",
    ]
