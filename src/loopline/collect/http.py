"""HTTP JSON API source (`type: http`): pages of JSON records fetched with httpx.

Why it is strict: a source runs unattended, so it contacts only the hosts and ports its
declaration lists (redirects are followed by hand and only to those), never a private, loopback
or link-local address unless it declares `allow_private: true` (httphosts.py), its secret lives in
an environment variable read at collect time (the declaration, the recorded step params, logs and
errors hold only the variable's *name*) and is sent only to the origin of `url`, and a flaky
server is retried with backoff before the collection fails, leaving the previous version current.

Records become table rows: nested objects are unnested into dotted columns (`user.name`), lists
are JSON-encoded strings, and a column whose values mix JSON types holds each value JSON-encoded.
An item's id is the hash of its declared key, or else of the record exactly as the API sent it
(canonical JSON), so a record seen before is never collected again whatever columns appear later.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

import httpx
import polars as pl

from loopline.collect import Batch, CollectContext
from loopline.collect.httpfetch import MISSING, Fetcher, dig, pages, pagination
from loopline.collect.httphosts import allow_list, allowed, origin, parse_host, private_literal, show_host
from loopline.collect.merge import ITEM_ID, unseen, with_provenance
from loopline.collect.spec import SourceSpec
from loopline.core.errors import InvalidInput
from loopline.core.hashing import hash_json

OPTIONS = {
    "url", "allow_hosts", "allow_private", "records", "pagination", "params", "auth", "retries", "backoff",
    "max_backoff", "timeout", "rate_limit", "max_pages", "watermark",
}  # fmt: skip
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# -- declaration -------------------------------------------------------------------------------


def validate(spec: SourceSpec) -> None:
    url = spec.require("url", "the API address, e.g. url: https://api.example.com/items")
    unknown = sorted(set(spec.options) - OPTIONS)
    if unknown:
        raise spec.fail(f"unknown option `{unknown[0]}`", hint=f"options are {', '.join(sorted(OPTIONS))}")
    try:
        parsed = httpx.URL(url) if isinstance(url, str) else None
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise spec.fail(f"`url` {url!r} is not an http(s) address", hint="e.g. https://api.example.com/items")
    _validate_hosts(spec, parsed)
    if spec.option("records") is not None and not isinstance(spec.option("records"), str):
        raise spec.fail("`records` must be a dotted path such as data.items")
    pagination(spec)
    params = spec.option("params", {})
    if not isinstance(params, Mapping) or not all(
        isinstance(v, str | int | float | bool) for v in params.values()
    ):
        raise spec.fail(
            "`params` must map query parameters to plain values", hint="e.g. params: {status: open}"
        )
    _validate_auth(spec)
    _validate_watermark(spec)
    _validate_numbers(spec)


def _validate_hosts(spec: SourceSpec, url: httpx.URL) -> None:
    """allow_hosts entries are `host` (the scheme's default port) or `host:port`; the url must be
    in them; a private, loopback or link-local address needs `allow_private: true`."""
    _, host, port = origin(url)
    example = show_host(host, url.port)
    example = example if url.port is None else f'"{example}"'
    hosts = spec.option("allow_hosts")
    well_formed = isinstance(hosts, list) and all(isinstance(h, str) and parse_host(h) for h in hosts)
    if hosts is not None and (not hosts or not well_formed):
        raise spec.fail(
            "`allow_hosts` must be a list of host names, each with an optional :port",
            hint=f"e.g. allow_hosts: [{example}] (a host alone means port 80 for http, 443 for https)",
        )
    if not allowed(url, allow_list(url, hosts)):
        raise spec.fail(
            f"the host and port of `url` ({show_host(host, port)}) are not in allow_hosts",
            hint=f"add {example} to allow_hosts",
        )
    private = spec.option("allow_private", False)
    if not isinstance(private, bool):
        raise spec.fail("`allow_private` must be true or false")
    if private:
        return
    for name in [host, *(rule[0] for rule in allow_list(url, hosts))]:
        if private_literal(name):
            raise spec.fail(
                f"{name} is a private, loopback or link-local address",
                hint="declare `allow_private: true` on the source only if it is meant to reach one",
            )


def _validate_numbers(spec: SourceSpec) -> None:
    # name: (whole numbers only, smallest allowed, zero allowed)
    rules = {
        "retries": (True, 0, True), "max_pages": (True, 1, True), "timeout": (False, 0, False),
        "backoff": (False, 0, True), "max_backoff": (False, 0, True), "rate_limit": (False, 0, False),
    }  # fmt: skip
    for name, (whole, low, zero) in rules.items():
        value = spec.option(name)
        if value is None:
            continue
        number = isinstance(value, int if whole else int | float) and not isinstance(value, bool)
        if not number or value < low or (value == 0 and not zero):
            kind = "whole number" if whole else "number"
            raise spec.fail(
                f"`{name}` must be a {kind} of at least {low}{'' if zero else ', not 0'}, not {value!r}"
            )


def _validate_auth(spec: SourceSpec) -> None:
    auth = spec.option("auth")
    if auth is None:
        return
    if not isinstance(auth, Mapping):
        raise spec.fail(
            "`auth` must be a mapping",
            hint="auth: {header: Authorization, env: API_TOKEN, prefix: 'Bearer '}",
        )
    extra = sorted(set(auth) - {"header", "env", "prefix"})
    if extra:
        raise spec.fail(
            f"`auth` takes no `{extra[0]}`: a secret is never written in loopline.yaml",
            hint="export the secret in an environment variable and name it: auth: {env: API_TOKEN}",
        )
    env = auth.get("env")
    if not isinstance(env, str) or not _ENV_NAME.match(env):
        raise spec.fail(
            "`auth.env` must name the environment variable holding the secret", hint="auth: {env: API_TOKEN}"
        )
    if not isinstance(auth.get("header", "Authorization"), str) or not isinstance(
        auth.get("prefix", ""), str
    ):
        raise spec.fail("`auth.header` and `auth.prefix` must be strings")


def _validate_watermark(spec: SourceSpec) -> None:
    mark = spec.option("watermark")
    if mark is None:
        return
    if (
        not isinstance(mark, Mapping)
        or not isinstance(mark.get("field"), str)
        or not isinstance(mark.get("param"), str)
    ):
        raise spec.fail(
            "`watermark` needs `field` and `param`", hint="watermark: {field: updated_at, param: since}"
        )


# -- records to a frame ------------------------------------------------------------------------


def _flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(_flatten(value, f"{name}."))
        elif isinstance(value, list | Mapping):
            out[name] = json.dumps(value, sort_keys=True, ensure_ascii=False)
        else:
            out[name] = value
    return out


def _column(values: list[Any]) -> pl.Series:
    present = {type(v) for v in values if v is not None}
    if present <= {bool}:
        return pl.Series(values, dtype=pl.Boolean)
    if present <= {int} and all(v is None or -(2**63) <= v < 2**63 for v in values):
        return pl.Series(values, dtype=pl.Int64)
    if present <= {int, float} and all(v is None or abs(v) < 2**53 for v in values):
        return pl.Series([None if v is None else float(v) for v in values], dtype=pl.Float64)
    if present <= {str}:
        return pl.Series(values, dtype=pl.String)
    return pl.Series([None if v is None else json.dumps(v) for v in values], dtype=pl.String)


def _frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    return pl.DataFrame({c: _column([row.get(c) for row in rows]) for c in columns}, height=len(rows))


def _canonical_id(record: Any) -> str:
    return hash_json(record)[:32]


def _later(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    try:
        return max(a, b)
    except TypeError:
        return max(a, b, key=str)


# -- the reader --------------------------------------------------------------------------------


def read(spec: SourceSpec, ctx: CollectContext) -> Batch:
    auth = spec.option("auth")
    headers = {"Accept": "application/json"}
    secret = None
    if auth:
        secret = os.environ.get(auth["env"])
        if not secret:
            raise InvalidInput(
                f"source {spec.name!r}: the environment variable {auth['env']} is not set",
                where=spec.where,
                hint=f"export {auth['env']}=... before collecting (it is never stored)",
            )
        headers[auth.get("header", "Authorization")] = auth.get("prefix", "") + secret
    params = {k: v for k, v in (spec.option("params") or {}).items()}
    mark = spec.option("watermark")
    watermark = ctx.state.get("watermark")
    if mark and watermark is not None:
        params[mark["param"]] = watermark
    timeout = httpx.Timeout(float(spec.option("timeout", 30.0)))
    rows: list[dict[str, Any]] = []
    raw: list[Any] = []
    origins: list[str] = []
    rejected: list[dict[str, Any]] = []
    cursor = ctx.state.get("cursor")
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        fetcher = Fetcher(spec, client, headers, secret)
        for origin_url, page, records, used_cursor in pages(spec, fetcher, params, ctx.state):
            origin = fetcher.scrub(f"{origin_url}#page {page}")
            cursor = used_cursor if used_cursor is not None else cursor
            for line, record in enumerate(records, start=1):
                problem = _reject(spec, record)
                if problem:
                    rejected.append(
                        {"_origin": origin, "_line": line, "_reason": problem, "_raw": json.dumps(record)}
                    )
                    continue
                value = dig(record, mark["field"]) if mark else None
                if value is not MISSING and value is not None:
                    watermark = _later(watermark, value)
                rows.append(_flatten(record))
                raw.append(record)
                origins.append(origin)
    table = _table(spec, ctx, rows, raw, origins)
    fresh = unseen(table, ctx.previous)
    quarantine = (
        pl.DataFrame(
            rejected,
            schema={"_origin": pl.String, "_line": pl.Int64, "_reason": pl.String, "_raw": pl.String},
        )
        if rejected
        else None
    )
    state: dict[str, Any] = {}
    if mark and watermark is not None:
        state["watermark"] = watermark
    if pagination(spec)["type"] == "cursor" and cursor is not None:
        state["cursor"] = cursor
    figures = fetcher.figures
    report = {
        "pages": figures.pages,
        "requests": figures.requests,
        "retries": figures.retries,
        "waited_s": round(figures.waited_s, 3),
        "rows": len(rows),
        "new": fresh,
        "rejected": len(rejected),
    }
    return Batch(table=table, quarantine=quarantine, state=state, report=report)


def _reject(spec: SourceSpec, record: Any) -> str | None:
    if not isinstance(record, Mapping):
        return f"record is a JSON {type(record).__name__}, not an object"
    missing = [k for k in spec.key if dig(record, k) in (MISSING, None)]
    if missing:
        return f"record has no value for key field {missing[0]!r}"
    return None


def _table(
    spec: SourceSpec, ctx: CollectContext, rows: list[dict[str, Any]], raw: list[Any], origins: list[str]
) -> pl.DataFrame:
    if not rows:
        return pl.DataFrame(
            schema={ITEM_ID: pl.String, "_source": pl.String, "_origin": pl.String,
                    "_collected_at": pl.Datetime("us", "UTC"), "_run_id": pl.String}
        )  # fmt: skip
    frame = with_provenance(
        _frame(rows),
        source=spec.name,
        origins=pl.Series(origins, dtype=pl.String),
        collected_at=ctx.collected_at,
        run_id=ctx.run_id,
        key=spec.key,
    )
    if spec.key:
        return frame
    return frame.with_columns(pl.Series(ITEM_ID, [_canonical_id(r) for r in raw], dtype=pl.String))
