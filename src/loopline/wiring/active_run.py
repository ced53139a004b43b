"""An active tracking run outside pipeline steps: `with project.start_run(...) as run:`.

Metric values are buffered and written in batches (every `flush_every` values, after
`flush_seconds`, and on exit), so one `log_metric` call per value costs a list append, not a
transaction. Params and tags are written at once, with what is buffered, so a conflicting param
fails at the call that logged it.
"""

from __future__ import annotations

import getpass
import threading
import time
from collections.abc import Mapping, Sequence
from contextvars import Token
from typing import TYPE_CHECKING, Any

from loopline.core.experiments import TrackedRun, check_metric
from loopline.core.recording import Recorder, bind, unbind

if TYPE_CHECKING:
    from loopline.store.metadata.experiments import TrackingStore

FLUSH_EVERY = 1000
FLUSH_SECONDS = 2.0


def current_user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (containers)
        return None


class ActiveRun:
    """A tracked run being logged to; ends `succeeded`, or `failed` when its block raises."""

    def __init__(
        self,
        store: TrackingStore,
        run: TrackedRun,
        *,
        flush_every: int = FLUSH_EVERY,
        flush_seconds: float = FLUSH_SECONDS,
        on_end: Any = None,
    ) -> None:
        self.store = store
        self.run = run
        self.flush_every = max(1, flush_every)
        self.flush_seconds = flush_seconds
        self._buffer: list[tuple[str, float, int, float]] = []
        self._steps: dict[str, int] = {}
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()
        self._token: Token[Recorder | None] | None = None
        self._on_end = on_end
        self.ended = False

    @property
    def id(self) -> str:
        return self.run.id

    # -- logging ------------------------------------------------------------------------------
    def log_metric(
        self, key: str, value: float, step: int | None = None, timestamp: float | None = None
    ) -> None:
        now = time.time() if timestamp is None else timestamp
        with self._lock:
            if step is None:
                step = self._steps.get(key, 0)
            key, number, step = check_metric(key, value, step)
            self._steps[key] = step + 1
            self._buffer.append((key, number, step, now))
            due = len(self._buffer) >= self.flush_every or (
                time.monotonic() - self._last_flush >= self.flush_seconds
            )
        if due:
            self.flush()

    def log_metrics(self, values: Mapping[str, float], step: int | None = None) -> None:
        for key, value in values.items():
            self.log_metric(key, value, step)

    def log_params(self, values: Mapping[str, Any]) -> None:
        self._write(params=values)

    def set_tags(self, values: Mapping[str, Any]) -> None:
        self._write(tags=values)

    def log_batch(
        self,
        metrics: Sequence[tuple[str, float, int, float]] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        """The batch API: (key, value, step, timestamp) rows, params and tags in one transaction."""
        self._write(metrics, params, tags)

    def _write(
        self,
        metrics: Sequence[tuple[str, float, int, float]] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        with self._lock:
            pending, self._buffer = self._buffer, []
            self._last_flush = time.monotonic()
        try:
            self.store.log_batch(self.run.id, [*pending, *metrics], params, tags)
        except BaseException:
            with self._lock:  # nothing written: keep the buffered values for the next try
                self._buffer[:0] = pending
            raise

    def flush(self) -> None:
        self._write()

    # -- lifetime -----------------------------------------------------------------------------
    def end(self, status: str = "succeeded") -> None:
        if self.ended:
            return
        try:
            self.flush()
        finally:
            self.ended = True
            self.store.update_run(self.run.id, status=status)
            if self._on_end is not None:
                self._on_end()

    def __enter__(self) -> ActiveRun:
        self._token = bind(self)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if self._token is not None:
            unbind(self._token)
            self._token = None
        if kind is KeyboardInterrupt:
            self.end("killed")
        else:
            self.end("failed" if kind is not None else "succeeded")


def start_run(
    store: TrackingStore,
    experiment: str | None = None,
    name: str | None = None,
    *,
    tags: Mapping[str, Any] | None = None,
    user: str | None = None,
    flush_every: int = FLUSH_EVERY,
    flush_seconds: float = FLUSH_SECONDS,
    on_end: Any = None,
) -> ActiveRun:
    from loopline.store.metadata.experiments import DEFAULT_EXPERIMENT

    found = store.ensure_experiment(experiment or DEFAULT_EXPERIMENT)
    run = store.create_run(found.id, name=name, user=user or current_user(), tags=tags)
    return ActiveRun(store, run, flush_every=flush_every, flush_seconds=flush_seconds, on_end=on_end)
