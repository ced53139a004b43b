"""Every error loopline raises on purpose, in one tree.

  LooplineError        base; carries `where` and `hint`: what was wrong, where, what to do  exit 1, HTTP 500
   +-- InvalidInput    the user's input is wrong (path, param, value)                       exit 2, HTTP 422
   |    +-- ConfigError   loopline.yaml or a step declaration is malformed                  exit 2, HTTP 500
   |    +-- RowsRejected  a request's rows do not fit the model signature (serve/inputs.py) exit 2, HTTP 422
   +-- NotFound        a named thing does not exist                                         exit 2, HTTP 404
   +-- Conflict        it exists already, or the reference is ambiguous                     exit 2, HTTP 409
   +-- Unauthorized    no token, or a token nobody holds                                    exit 2, HTTP 401
   +-- Forbidden       a valid token whose role may not do this                             exit 2, HTTP 403
   +-- TooManyRequests too many failed sign-ins from one client: wait, then retry           exit 1, HTTP 429
   +-- Integrity       stored bytes do not match their hash                                 exit 1, HTTP 500
   +-- StorageError    the metadata database or blob store failed                           exit 1, HTTP 503
   +-- StepFailed      a user's step raised; the run is marked failed                       exit 1, HTTP 500
   +-- CheckFailed     a check said no (reproduce mismatch, gate)                           exit 1, HTTP 409

The exit codes are cli/commands.py's EXIT_CODES, the statuses server/errors.py's STATUS (a
ConfigError on the server is its own loopline.yaml, which no client can fix); each table is read
most specific class first, and tests/core/test_errors.py checks both against this drawing. A
class defined elsewhere (RowsRejected carries the rejected fields) still hangs here.

Foreign exceptions are mapped at the boundary with ``raise ... from exc``. The one exception
outside the tree, store/metadata/peek.py's Unsure, is control flow that never leaves Project
(it means "ask the full store").
"""

from __future__ import annotations


class LooplineError(Exception):
    """Base of all loopline errors."""

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
    pass


class ConfigError(InvalidInput):
    pass


class NotFound(LooplineError):
    pass


class Conflict(LooplineError):
    pass


class Unauthorized(LooplineError):
    """No token, or a token no annotator holds."""


class Forbidden(LooplineError):
    """A valid token whose role may not do this."""


class TooManyRequests(LooplineError):
    """Too many failed attempts from one client in a short time: wait, then try again."""


class Integrity(LooplineError):
    pass


class StorageError(LooplineError):
    pass


class StepFailed(LooplineError):
    pass


class CheckFailed(LooplineError):
    pass


__all__ = [
    "CheckFailed",
    "ConfigError",
    "Conflict",
    "Forbidden",
    "Integrity",
    "InvalidInput",
    "LooplineError",
    "NotFound",
    "StepFailed",
    "StorageError",
    "TooManyRequests",
    "Unauthorized",
]
