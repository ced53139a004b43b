"""Request body limits for both apps (`loopline server` and `loopline serve`), as a pure ASGI
middleware installed outermost, so a body over its route's limit is refused before any
authentication, parsing or handler runs.

A declared Content-Length over the limit is answered 413 at once, without reading a byte; a
chunked body is counted as the app reads it, and the read that crosses the limit ends the
request with the same 413 (whatever the app was doing with it). The 413 is a short JSON body:
MLflow's `{"error_code", "message"}` on MLflow routes, loopline's `{"error", "message", "hint"}`
elsewhere. Also here: `clip`, which every error handler uses so an answer never echoes a large
input back.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MiB = 1 << 20
GiB = 1 << 30
ECHO = 200  # characters of a client's value an error message may quote
MESSAGE = 1000  # characters of a whole error message
_MLFLOW = ("/api/2.0/mlflow", "/api/3.0/mlflow", "/ajax-api/")


def clip(text: str, limit: int = ECHO) -> str:
    """text, or its first `limit` characters and how many more there were."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


@dataclass
class BodyLimits:
    """The largest body each route takes, in bytes: the first rule whose method and path prefix
    match, else `default`. Change the fields (not the rules' order) to configure them."""

    default: int = MiB
    rules: list[tuple[str, str, int]] = field(default_factory=list)

    def limit_for(self, method: str, path: str) -> int:
        for rule_method, prefix, limit in self.rules:
            if rule_method == method and path.startswith(prefix):
                return limit
        return self.default


def server_limits(json_bytes: int = MiB, upload_bytes: int = 5 * GiB) -> BodyLimits:
    """`loopline server`: JSON and form routes take `json_bytes`; an MLflow artifact upload or
    one part of a multipart upload, each streamed to disk in bounded memory, takes
    `upload_bytes`, and so does a dataset file uploaded by a remote `loopline add`; a multipart
    upload's complete lists up to 10,000 parts with their URLs."""
    return BodyLimits(
        json_bytes,
        [
            ("PUT", "/api/2.0/mlflow-artifacts/artifacts/", upload_bytes),
            ("PUT", "/api/2.0/mlflow-artifacts/mpu/parts/", upload_bytes),
            ("POST", "/api/2.0/mlflow-artifacts/mpu/complete/", max(json_bytes, 8 * MiB)),
            # `loopline add` on a remote project: one table file, streamed to a temp file
            ("POST", "/api/v1/datasets/", upload_bytes),
        ],
    )


class _TooLarge(Exception):
    """Raised from receive() once a streamed body crosses its limit."""


def too_large_body(path: str, limit: int, length: int | None) -> bytes:
    told = f"the body has {length} bytes" if length is not None else "the body is larger"
    message = f"{told}; {path} takes at most {limit} bytes"
    if path.startswith(_MLFLOW):
        return json.dumps({"error_code": "INVALID_PARAMETER_VALUE", "message": message}).encode()
    hint = "send less per request (split a batch into several)"
    return json.dumps({"error": "too_large", "message": message, "hint": hint}).encode()


class BodyLimit:
    """ASGI middleware enforcing `limits` on every HTTP request."""

    def __init__(
        self, app: ASGIApp, limits: BodyLimits, refused: Callable[[str], None] | None = None
    ) -> None:
        self.app = app
        self.limits = limits
        self.refused = refused  # told the path of each refused request (the serving metrics)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        limit = self.limits.limit_for(str(scope.get("method", "GET")), path)
        length = _content_length(scope)
        if length is not None and length > limit:
            await self._refuse(send, path, limit, length)
            return
        seen = 0
        crossed = False
        started = False

        async def counting_receive() -> Message:
            nonlocal seen, crossed
            if crossed:
                raise _TooLarge
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    crossed = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if crossed:  # whatever the app answers to a cut body, the client gets the 413
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not crossed:
                raise
        if crossed and not started:
            await self._refuse(send, path, limit, None)

    async def _refuse(self, send: Send, path: str, limit: int, length: int | None) -> None:
        if self.refused is not None:
            self.refused(path)
        body = too_large_body(path, limit, length)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None
