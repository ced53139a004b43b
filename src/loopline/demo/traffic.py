"""Production for the demo: the served model in a background uvicorn, and clients sending it
digit images one request at a time (as a phone app would), with the truth posted back later for
part of them, as users correct the app."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from loopline.demo.data import pixels_of
from loopline.demo.features import COLUMNS


@cache
def _targets() -> np.ndarray:
    from sklearn.datasets import load_digits

    return np.asarray(load_digits().target)


def true_digit(path: Path) -> str:
    """`digit-0123.png` and `digit-0123-s2.png` are scikit-learn's digit number 123."""
    return str(int(_targets()[int(path.stem.split("-")[1])]))


class Service:
    """A uvicorn server on a free port in a daemon thread; `stop()` shuts it down cleanly (the
    prediction log's last batch is flushed by the app's shutdown)."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True, name="demo-serve")
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the demo's model server did not start")
            time.sleep(0.02)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def wait_for_version(self, version: int, timeout: float = 30.0) -> bool:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if httpx.get(f"{self.url}/model").json().get("version") == version:
                return True
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)


@dataclass
class Traffic:
    sent: int = 0
    right: int = 0
    versions: Counter[int] = field(default_factory=Counter)
    feedback: int = 0

    @property
    def accuracy(self) -> float:
        return self.right / self.sent if self.sent else float("nan")


def send(url: str, images: Sequence[Path], *, feedback_share: float = 0.5, seed: int = 0) -> Traffic:
    """One POST /predict per image; then the truth for a share of them in one POST /feedback."""
    import httpx

    rng = np.random.default_rng(seed)
    out = Traffic()
    truths: list[dict[str, str]] = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for path in images:
            row = dict(zip(COLUMNS, pixels_of(path.read_bytes()).tolist(), strict=True))
            answer = client.post("/predict", json=row)
            answer.raise_for_status()
            body = answer.json()
            truth = true_digit(path)
            out.sent += 1
            out.right += str(body["prediction"]) == truth
            out.versions[int(body["version"])] += 1
            if rng.random() < feedback_share:
                truths.append({"request_id": body["request_id"], "truth": truth})
        if truths:
            client.post("/feedback", json=truths).raise_for_status()
            out.feedback = len(truths)
    return out


def wait_logged(project: Any, model: str, rows: int, timeout: float = 30.0) -> int:
    """Block until the prediction log holds `rows` predictions (it is written in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        held = project.predictions.read(model).height
        if held >= rows or time.monotonic() > deadline:
            return int(held)
        time.sleep(0.1)
