"""The HTTP part of `loopline.Client`: a token, an httpx client, and errors turned back into the
loopline errors the server raised (a 404 is NotFound with the server's message and hint).

Each area of loopline.api adds its calls as a mixin over `Transport` (`DataCalls`, …), so a call
sits beside the shapes it returns; loopline.api.client puts them together.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from loopline.core.errors import (
    CheckFailed,
    ConfigError,
    Conflict,
    Forbidden,
    Integrity,
    InvalidInput,
    LooplineError,
    NotFound,
    StepFailed,
    StorageError,
    TooManyRequests,
    Unauthorized,
)

if TYPE_CHECKING:
    import httpx

PREFIX = "/api/v1"

# The server's error codes (server/errors.py STATUS), so a CheckFailed comes back a CheckFailed
# though it shares 409 with Conflict; a body without a known code falls back on its status.
BY_CODE: dict[str, type[LooplineError]] = {
    "unauthorized": Unauthorized,
    "forbidden": Forbidden,
    "too_many_requests": TooManyRequests,
    "invalid_input": InvalidInput,
    "bad_request": InvalidInput,
    "method_not_allowed": InvalidInput,
    "config_error": ConfigError,
    "not_found": NotFound,
    "conflict": Conflict,
    "check_failed": CheckFailed,
    "integrity": Integrity,
    "storage_unavailable": StorageError,
    "step_failed": StepFailed,
    "error": LooplineError,
}

_BY_STATUS: dict[int, type[LooplineError]] = {
    400: InvalidInput,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: InvalidInput,
    409: Conflict,
    413: InvalidInput,
    422: InvalidInput,
    429: TooManyRequests,
    502: StorageError,
    503: StorageError,
    504: StorageError,
}

Params = Mapping[str, Any]


class Transport:
    """Requests to one server as one principal (the token's user)."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        import httpx  # here, not at import: the CLI imports these shapes and must start fast

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url, headers=headers, timeout=timeout, transport=transport, follow_redirects=False
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _request(
        self, method: str, path: str, params: Params | None = None, body: Any = None, *, prefix: str = PREFIX
    ) -> Any:
        import httpx

        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(method, prefix + path, params=clean, json=body)
        except httpx.HTTPError as exc:
            raise StorageError(
                f"cannot reach the loopline server at {self.url}: {exc}",
                hint="check the URL and that `loopline server` runs there",
            ) from exc
        if response.status_code >= 400:
            raise _error(response)
        if response.status_code >= 300:  # the API never redirects: this is not a loopline server
            raise StorageError(
                f"{self.url} answered {method} {prefix}{path} with a redirect to "
                f"{response.headers.get('location', '?')}",
                hint="give the loopline server's own URL (not a proxy's sign-in page)",
            )
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise StorageError(
                f"{self.url} answered {method} {prefix}{path} with no JSON "
                f"({response.headers.get('content-type', 'no content type')})",
                hint="check that the URL is a loopline server's",
            ) from None

    def _get(self, path: str, params: Params | None = None) -> Any:
        return self._request("GET", path, params)

    def _post(self, path: str, body: Any = None, params: Params | None = None) -> Any:
        return self._request("POST", path, params, body if body is not None else {})

    def _pages(self, path: str, params: Params | None = None) -> Iterator[Any]:
        """Every item of a paged list endpoint, following next_page_token."""
        query = dict(params or {})
        while True:
            page = self._get(path, query)
            yield from page["items"]
            token = page.get("next_page_token")
            if not token:
                return
            if token == query.get("page_token"):  # a server that would page forever
                raise StorageError(f"GET {PREFIX}{path} gave back the page token it was sent")
            query["page_token"] = token


def _error(response: httpx.Response) -> LooplineError:
    """The loopline error of an error response: the server's message and hint as they were,
    where = the request (`GET /api/v1/models/x`)."""
    try:
        data = response.json()
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    status = response.status_code
    message = data.get("message")
    if not isinstance(message, str) or not message:
        message = f"{status} {response.text[:500].strip() or response.reason_phrase}"
    hint = data.get("hint")
    code = data.get("error")
    kind = BY_CODE.get(code) if isinstance(code, str) else None
    if kind is None:
        kind = _BY_STATUS.get(status, StorageError if status >= 500 else LooplineError)
    where = f"{response.request.method} {response.request.url.path}"
    return kind(message, where=where, hint=hint if isinstance(hint, str) else None)
