"""Fetching for the HTTP source: the checks of httphosts.py on every request, manual redirects,
retries with backoff, a rate limit and the four pagination styles. Kept apart from the declaration
and the frame building so each part stays readable; everything here raises loopline errors with
the secret scrubbed."""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from loopline.collect.httphosts import (
    Origin,
    allow_list,
    allowed,
    origin,
    private_address,
    show_host,
    show_origin,
)
from loopline.collect.spec import SourceSpec
from loopline.core.errors import InvalidInput, StorageError

log = logging.getLogger("loopline.collect.http")

PAGINATION = {
    "page": {"type", "param", "size_param", "size", "start"},
    "offset": {"type", "param", "limit_param", "limit"},
    "cursor": {"type", "param", "cursor_path", "resume"},
    "link": {"type"},
    "none": {"type"},
}
REDIRECTS = {301, 302, 303, 307, 308}
MAX_REDIRECTS = 5
MISSING = object()


def pause(seconds: float) -> None:
    """Every wait (backoff, Retry-After, rate limit) goes through here, so tests can observe it."""
    if seconds > 0:
        time.sleep(seconds)


def pagination(spec: SourceSpec) -> dict[str, Any]:
    raw = spec.option("pagination") or "none"
    decl = {"type": raw} if isinstance(raw, str) else raw
    kind = decl.get("type") if isinstance(decl, Mapping) else None
    if kind not in PAGINATION:
        raise spec.fail(f"`pagination` type {kind!r} is unknown", hint=f"one of {', '.join(PAGINATION)}")
    extra = sorted(set(decl) - PAGINATION[kind])
    if extra:
        raise spec.fail(
            f"`pagination` of type {kind} takes no `{extra[0]}`", hint=", ".join(sorted(PAGINATION[kind]))
        )
    defaults: dict[str, Any] = {
        "page": {"param": "page", "start": 1},
        "offset": {"param": "offset", "limit_param": "limit", "limit": 100},
        "cursor": {"param": "cursor", "resume": False},
    }.get(kind, {})
    merged = {**defaults, **decl}
    if kind == "cursor" and not isinstance(merged.get("cursor_path"), str):
        raise spec.fail("cursor pagination needs `cursor_path`", hint="e.g. cursor_path: meta.next")
    for number in ("size", "start", "limit"):
        value = merged.get(number)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise spec.fail(f"`pagination.{number}` must be a whole number")
    return merged


# -- fetching ----------------------------------------------------------------------------------


@dataclass
class Figures:
    pages: int = 0
    requests: int = 0
    retries: int = 0
    waited_s: float = 0.0


@dataclass
class Fetcher:
    """One GET with the safety rules (allowed hosts, manual redirects) and the retry policy."""

    spec: SourceSpec
    client: httpx.Client
    headers: dict[str, str]
    secret: str | None
    figures: Figures = field(default_factory=Figures)
    _next_slot: float = 0.0

    def scrub(self, text: str) -> str:
        return text.replace(self.secret, "***") if self.secret else text

    def fail(self, message: str, hint: str | None = None) -> StorageError:
        return StorageError(
            self.scrub(f"source {self.spec.name!r}: {message}"), where=self.spec.where, hint=hint
        )

    def _throttle(self) -> None:
        rate = self.spec.option("rate_limit")
        if not rate:
            return
        now = time.monotonic()
        wait = self._next_slot - now
        pause(wait)
        self.figures.waited_s += max(wait, 0.0)
        self._next_slot = max(now, self._next_slot) + 1.0 / rate  # a bucket of one token

    @property
    def home(self) -> Origin:
        """The origin of `url`: the only one the secret is ever sent to."""
        return origin(httpx.URL(self.spec.option("url")))

    def _headers(self, target: httpx.URL) -> dict[str, str]:
        """The headers for target: without the auth header when target is another origin (a
        redirect or a next-page link elsewhere), so the secret never leaves its origin."""
        auth = self.spec.option("auth")
        if not auth or origin(target) == self.home:
            return self.headers
        name = str(auth.get("header", "Authorization")).lower()
        return {k: v for k, v in self.headers.items() if k.lower() != name}

    def refuse(self, target: httpx.URL, page: int, why: str, hint: str) -> InvalidInput:
        message = f"source {self.spec.name!r}: refused {target} (page {page}): {why}"
        return InvalidInput(self.scrub(message), where=self.spec.where, hint=hint)

    def _check(self, target: httpx.URL, page: int) -> None:
        """Refuse what the declaration does not allow, before any byte is sent to it."""
        hosts = self.spec.option("allow_hosts")
        rules = allow_list(httpx.URL(self.spec.option("url")), hosts)
        if target.scheme not in ("http", "https") or not allowed(target, rules):
            listed = hosts if hosts is not None else [show_host(h, p) for h, p in rules]
            _, host, port = origin(target)
            raise self.refuse(
                target,
                page,
                f"host {host!r} port {port} is not in allow_hosts {listed}",
                "add the host (and port, as host:port) to allow_hosts only if you trust it",
            )
        if self.spec.option("allow_private"):
            return
        address = private_address(target.host)
        if address is not None:
            raise self.refuse(
                target,
                page,
                f"{target.host} is a private, loopback or link-local address"
                + (f" ({address})" if address != target.host else ""),
                "declare `allow_private: true` on the source only if it is meant to reach one",
            )

    def _send(self, url: str, params: Mapping[str, Any], page: int) -> httpx.Response:
        target = httpx.URL(url).copy_merge_params(dict(params))  # keeps the url's own query
        for _ in range(MAX_REDIRECTS + 1):
            self._check(target, page)
            self._throttle()
            self.figures.requests += 1
            log.info("source %s: GET %s (page %d)", self.spec.name, target, page)
            response = self.client.get(target, headers=self._headers(target))
            if response.status_code not in REDIRECTS or "location" not in response.headers:
                return response
            target = target.join(response.headers["location"])
        raise self.fail(f"{url} page {page}: more than {MAX_REDIRECTS} redirects")

    def get(self, url: str, params: Mapping[str, Any], page: int) -> tuple[Any, httpx.Response]:
        """The JSON body and response of one page, retried on 5xx, 429, timeouts and garbage."""
        shown = httpx.URL(url).copy_merge_params(dict(params))
        attempts = int(self.spec.option("retries", 4)) + 1
        base = float(self.spec.option("backoff", 0.5))
        cap = float(self.spec.option("max_backoff", 30.0))
        for attempt in range(attempts):
            retry_after: float | None = None
            try:
                response = self._send(url, params, page)
            except httpx.TimeoutException as exc:
                problem = f"no answer within {self.spec.option('timeout', 30)}s ({type(exc).__name__})"
            except httpx.TransportError as exc:
                problem = f"connection failed ({type(exc).__name__}: {exc})"
            else:
                where = f"{response.url} page {page}"
                if response.status_code == 429 or response.status_code >= 500:
                    problem = f"HTTP {response.status_code} {_snippet(response.text)}"
                    retry_after = _retry_after(response.headers.get("retry-after"))
                elif response.status_code >= 400:
                    raise self.fail(
                        f"{where}: HTTP {response.status_code} {_snippet(response.text)}",
                        self._hint(response),
                    )
                else:
                    try:
                        body = response.json()
                    except ValueError:
                        problem = f"the answer is not JSON: {_snippet(response.text)}"
                    else:
                        if records_of(self.spec, body) is not MISSING:
                            self.figures.pages += 1
                            return body, response
                        at = self.spec.option("records") or "(the body)"
                        problem = f"the answer has no list of records at `{at}`"
            problem = self.scrub(problem)  # a server may echo the request's headers
            if attempt == attempts - 1:
                raise self.fail(
                    f"{shown} page {page}: {problem}, after {attempts} attempt(s)",
                    hint="the previous version stays current; check the API, or raise `retries`/`timeout`",
                )
            if retry_after is not None:
                delay = min(cap, retry_after)  # the server's word, within our patience
            else:
                delay = min(cap, base * 2**attempt) * random.uniform(0.5, 1.5)
            log.warning(
                "source %s: %s page %d: %s; retrying in %.2fs", self.spec.name, shown, page, problem, delay
            )
            self.figures.retries += 1
            self.figures.waited_s += delay
            pause(delay)
        raise AssertionError("unreachable")

    def _hint(self, response: httpx.Response) -> str:
        auth = self.spec.option("auth")
        if response.status_code not in (401, 403) or not auth:
            return "check `url` and `params`"
        if origin(response.url) != self.home:
            home = show_origin(self.home)
            return f"the secret in ${auth['env']} is sent only to {home}, the origin of `url`"
        return f"check the token in ${auth['env']}"


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _snippet(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return repr(text[:limit] + ("…" if len(text) > limit else ""))


def dig(body: Any, path: str | None) -> Any:
    if not path:
        return body
    for part in path.split("."):
        if isinstance(body, Mapping) and part in body:
            body = body[part]
        elif isinstance(body, list) and part.isdigit() and int(part) < len(body):
            body = body[int(part)]
        else:
            return MISSING
    return body


def records_of(spec: SourceSpec, body: Any) -> Any:
    found = dig(body, spec.option("records"))
    return found if isinstance(found, list) else MISSING


def pages(
    spec: SourceSpec, fetcher: Fetcher, params: dict[str, Any], state: Mapping[str, Any]
) -> Iterator[tuple[str, int, list[Any], str | None]]:
    """(origin url, page number, records, cursor used) for each page, following the pagination."""
    pag = pagination(spec)
    kind = pag["type"]
    url: str = spec.option("url")
    number, offset, cursor = pag.get("start", 1), 0, None
    if kind == "page":
        params[pag["param"]] = number
        if pag.get("size_param") and pag.get("size"):
            params[pag["size_param"]] = pag["size"]
    elif kind == "offset":
        params.update({pag["param"]: 0, pag["limit_param"]: pag["limit"]})
    elif kind == "cursor" and pag["resume"] and state.get("cursor"):
        cursor = state["cursor"]
        url, params = _cursor_request(url, params, pag["param"], cursor)
    max_pages = int(spec.option("max_pages", 1000))
    seen_cursors: set[str] = set()
    page = 0
    while True:
        page += 1
        if page > max_pages:
            raise fetcher.fail(
                f"{url}: more than max_pages={max_pages} pages", hint="raise `max_pages` if expected"
            )
        body, response = fetcher.get(url, params, page)
        records = records_of(spec, body)
        yield str(response.url), page, records, cursor
        if kind == "none":
            return
        if kind == "page":
            if not records or (pag.get("size") and len(records) < pag["size"]):
                return
            number += 1
            params[pag["param"]] = number
        elif kind == "offset":
            if not records or len(records) < pag["limit"]:
                return
            offset += len(records)
            params[pag["param"]] = offset
        elif kind == "cursor":
            value = dig(body, pag["cursor_path"])
            if value is MISSING or value in (None, "") or not isinstance(value, str | int):
                return
            if str(value) in seen_cursors:
                raise fetcher.fail(
                    f"{response.url} page {page}: the cursor {value!r} came back again (a loop)"
                )
            seen_cursors.add(str(value))
            cursor = str(value)
            url, params = _cursor_request(spec.option("url"), params, pag["param"], cursor)
        else:  # link
            nxt = response.links.get("next", {}).get("url")
            if not nxt:
                return
            url, params = str(response.url.join(nxt)), {}


def _cursor_request(base: str, params: dict[str, Any], param: str, cursor: str) -> tuple[str, dict[str, Any]]:
    """A cursor that is itself an address is followed as is; otherwise it is sent as `param`."""
    if cursor.startswith(("http://", "https://")):
        return cursor, {}
    return base, {**params, param: cursor}
