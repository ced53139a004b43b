"""A project with a registered classifier (two versions) and a real uvicorn serving it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import uvicorn
from sklearn.linear_model import LogisticRegression

from loopline.project import Project
from loopline.store.models import save_model

FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
SIGNATURE = {"inputs": dict.fromkeys(FEATURES, "Float64"), "output": "Int64"}


def training_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(200, len(FEATURES)))
    y = (X[:, 0] + X[:, 2] > 0).astype(int) + (X[:, 1] > 1).astype(int)
    return X, y


def register(project: Project, name: str, C: float, *, signature: Any = SIGNATURE) -> int:
    X, y = training_data()
    art = save_model(project.blobs, LogisticRegression(C=C, max_iter=500).fit(X, y))
    project.meta.add_version(f"{name}_model", art, source="test")
    return project.registry.register(name, art, signature=signature).version


def wait_for(check: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll until check() is truthy (a deadline, not a sleep for correctness)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running(app: Any) -> Iterator[str]:
    """The app on a real uvicorn in a thread; yields its base URL; stops it (lifespan shutdown)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started or not thread.is_alive(), what="uvicorn to start")
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def served_project(root: Path, store_url: str) -> Project:
    """A project whose model iris has versions 1 and 2, production on 1."""
    root.mkdir()
    (root / "loopline.yaml").write_text(f"project:\n  store: '{store_url}'\nsteps: {{}}\n")
    proj = Project.init(root)
    register(proj, "iris", 1.0)
    register(proj, "iris", 0.01)
    proj.promote("iris", 1, "production")
    return proj


@pytest.fixture
def project(store_url: str, tmp_path: Path) -> Iterator[Project]:
    proj = served_project(tmp_path / "p", store_url)
    yield proj
    proj.close()


@pytest.fixture
def sqlite_project(tmp_path: Path) -> Iterator[Project]:
    """For what does not depend on the metadata engine (executors, the CLI's processes)."""
    proj = served_project(tmp_path / "p", f"sqlite:///{tmp_path / 'meta.db'}")
    yield proj
    proj.close()


def row(i: int = 0) -> dict[str, float]:
    return {name: float((i * 7 + k) % 5) / 2 - 1 for k, name in enumerate(FEATURES)}


class Load:
    """Client threads posting single rows until stopped; every answer is kept."""

    def __init__(self, url: str, threads: int = 2) -> None:
        self.url = url
        self.answers: list[tuple[int, str, int | None]] = []  # (status, request id, version)
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(t,), daemon=True) for t in range(threads)]

    def _run(self, t: int) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            i = 0
            while not self._stop.is_set():
                rid = f"t{t}-{i}"
                try:
                    r = client.post("/predict", json=row(i), headers={"X-Request-ID": rid})
                    version = r.json().get("version") if r.status_code == 200 else None
                    with self._lock:
                        self.answers.append((r.status_code, rid, version))
                except httpx.HTTPError as exc:
                    self.failures.append(f"{rid}: {exc!r}")
                i += 1

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def wait(self, check: Callable[[list[tuple[int, str, int | None]]], bool], what: str) -> None:
        wait_for(lambda: check(list(self.answers)), what=what)
