"""The HTTP part of `loopline.Client`: a token, an httpx client, and errors turned back into the
loopline errors the server raised (a 404 is NotFound with the server's message and hint).

Each area of loopline.api adds its calls as a mixin over `Transport` (`DataCalls`, …), so a call
sits beside the shapes it returns; loopline.api.client puts them together.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from loopline.core.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    LooplineError,
    NotFound,
    StorageError,
    TooManyRequests,
    Unauthorized,
)

if TYPE_CHECKING:
    import httpx

PREFIX = "/api/v1"

_BY_STATUS: dict[int, type[LooplineError]] = {
    400: InvalidInput,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: InvalidInput,
    422: InvalidInput,
    429: TooManyRequests,
    503: StorageError,
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

    def _request(self, method: str, path: str, params: Params | None = None, body: Any = None) -> Any:
        import httpx

        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(method, PREFIX + path, params=clean, json=body)
        except httpx.HTTPError as exc:
            raise StorageError(
                f"cannot reach the loopline server at {self.url}: {exc}",
                hint="check the URL and that `loopline server` runs there",
            ) from exc
        if response.status_code >= 400:
            raise _error(response)
        return response.json() if response.content else None

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
            query["page_token"] = token


def _error(response: httpx.Response) -> LooplineError:
    try:
        data = response.json()
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    message = str(data.get("message") or response.text[:500] or response.reason_phrase)
    hint = data.get("hint")
    kind = _BY_STATUS.get(response.status_code, LooplineError)
    where = f"{response.request.method} {response.request.url.path}"
    return kind(f"{where}: {response.status_code} {message}", hint=hint if isinstance(hint, str) else None)
