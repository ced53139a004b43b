"""Every error loopline raises on purpose, in one tree.

    LooplineError        base; carries `where` and `hint`: what was wrong, where, what to do
     +-- InvalidInput    the user's input is wrong (path, param, value)     exit 2, HTTP 400/422
     |    +-- ConfigError  loopline.yaml or a step declaration is malformed  exit 2
     +-- NotFound        a named thing does not exist                       exit 2, HTTP 404
     +-- Conflict        it exists already, or the reference is ambiguous   exit 2, HTTP 409
     +-- Integrity       stored bytes do not match their hash               exit 1
     +-- StorageError    the metadata database or blob store failed         exit 1, HTTP 503
     +-- StepFailed      a user's step raised; the run is marked failed     exit 1
     +-- CheckFailed     a check said no (reproduce mismatch, gate)         exit 1

Foreign exceptions are mapped at the boundary with ``raise ... from exc``.
"""

from __future__ import annotations


class LooplineError(Exception):
    """Base of all loopline errors."""

    exit_code = 1

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None) -> None:
        self.message = message
        self.where = where
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class InvalidInput(LooplineError):
    exit_code = 2


class ConfigError(InvalidInput):
    pass


class NotFound(LooplineError):
    exit_code = 2


class Conflict(LooplineError):
    exit_code = 2


class Integrity(LooplineError):
    exit_code = 1


class StorageError(LooplineError):
    exit_code = 1


class StepFailed(LooplineError):
    exit_code = 1


class CheckFailed(LooplineError):
    exit_code = 1


__all__ = [
    "CheckFailed",
    "ConfigError",
    "Conflict",
    "Integrity",
    "InvalidInput",
    "LooplineError",
    "NotFound",
    "StepFailed",
    "StorageError",
]
