"""The active run: whatever records (a step's context, a tracking run started with `start_run`)
is bound in a ContextVar, so the module-level `loopline.log_metric` reaches the right run from
any code the recorder's owner runs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any, Protocol

from loopline.core.errors import InvalidInput


class Recorder(Protocol):
    def log_metric(self, key: str, value: float, step: int | None = None) -> None: ...
    def log_metrics(self, values: Mapping[str, float], step: int | None = None) -> None: ...
    def log_params(self, values: Mapping[str, Any]) -> None: ...
    def set_tags(self, values: Mapping[str, Any]) -> None: ...


_ACTIVE: ContextVar[Recorder | None] = ContextVar("loopline_recorder", default=None)


def bind(recorder: Recorder) -> Token[Recorder | None]:
    return _ACTIVE.set(recorder)


def unbind(token: Token[Recorder | None]) -> None:
    _ACTIVE.reset(token)


@contextmanager
def recording(recorder: Recorder) -> Iterator[Recorder]:
    """Bind `recorder` as the target of `loopline.log_metric` & co. while the block runs."""
    token = _ACTIVE.set(recorder)
    try:
        yield recorder
    finally:
        _ACTIVE.reset(token)


def active() -> Recorder:
    found = _ACTIVE.get()
    if found is None:
        raise InvalidInput(
            "no active run to log to",
            hint="call this inside a step, or inside `with project.start_run(...)`",
        )
    return found


def log_metric(key: str, value: float, step: int | None = None) -> None:
    """Log one metric value to the active run (a step's, or `start_run`'s); buffered."""
    active().log_metric(key, value, step)


def log_metrics(values: Mapping[str, float], step: int | None = None) -> None:
    active().log_metrics(values, step)


def log_params(values: Mapping[str, Any]) -> None:
    """Log params once per run; logging a different value for a key is a Conflict."""
    active().log_params(values)


def set_tags(values: Mapping[str, Any]) -> None:
    active().set_tags(values)
