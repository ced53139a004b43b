"""The HTTP JSON source against a real local server (threaded http.server on 127.0.0.1): the four
pagination styles, retries (5xx, 429 with Retry-After, timeouts, garbage), the host and port
allow-list, private addresses and redirects, incremental state, and the secret never leaving the
environment nor its origin. The local server is a loopback address: the sources declare
`allow_private: true`, except where refusing it is the point."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import polars as pl
import pytest

from loopline.collect import CollectContext, httpfetch, parse_source
from loopline.collect import http as http_source
from loopline.core.errors import ConfigError, InvalidInput, StorageError
from tests.conftest import cli, write_project

TOKEN = "s3cr3t-T0KEN-do-not-leak-7f1c"


class Api:
    """A scripted JSON API. `faults` are answered (in order) before normal handling."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.items: list[dict[str, Any]] = [
            {
                "id": i,
                "name": f"item {i}",
                "updated_at": f"2026-01-0{i}",
                "user": {"id": i % 2, "tags": ["a"]},
            }
            for i in range(1, 6)
        ]
        self.hits: list[tuple[str, dict[str, str], dict[str, str]]] = []
        self.faults: deque[tuple[Any, ...]] = deque()
        self.redirect_to = ""
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                api.hits.append((parts.path, query, dict(self.headers)))
                if api.faults:
                    fault = api.faults.popleft()
                    if fault[0] == "sleep":
                        time.sleep(fault[1])
                    else:
                        status, headers, body = fault
                        body = body.replace("{auth}", self.headers.get("Authorization", ""))
                        return self.reply(status, body, headers)
                status, body, headers = api.route(parts.path, query, dict(self.headers))
                self.reply(status, body, headers)

            def reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(data)

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def route(self, path: str, q: dict[str, str], headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        items = [i for i in self.items if "since" not in q or i["updated_at"] > q["since"]]
        if path == "/plain":
            return 200, items, {}
        if path == "/page":
            size = int(q.get("size", 2))
            start = (int(q["page"]) - 1) * size
            return 200, {"data": {"items": items[start : start + size]}}, {}
        if path == "/offset":
            start, limit = int(q["offset"]), int(q["limit"])
            return 200, {"data": {"items": items[start : start + limit]}}, {}
        if path == "/cursor":
            start = int(q.get("cursor", "c0")[1:])
            nxt = f"c{start + 2}" if start + 2 < len(items) else None
            return 200, {"data": {"items": items[start : start + 2]}, "meta": {"next": nxt}}, {}
        if path == "/link":
            p = int(q.get("p", 1))
            link = {"Link": f'</link?p={p + 1}>; rel="next", </link?p=1>; rel="first"'}
            return 200, items[(p - 1) * 2 : p * 2], link if p * 2 < len(items) else {}
        if path == "/secure":
            if headers.get("Authorization") != f"Bearer {TOKEN}":
                return 401, {"error": "no token"}, {}
            return 200, items, {}
        if path == "/redirect-in":
            return 302, "", {"Location": "/plain"}
        if path == "/redirect-out":
            return 302, "", {"Location": self.redirect_to}
        return 404, {"error": "unknown"}, {}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def api() -> Iterator[Api]:
    server = Api()
    yield server
    server.close()


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Backoff and Retry-After waits are recorded, not slept."""
    seen: list[float] = []
    monkeypatch.setattr(httpfetch, "pause", seen.append)
    return seen


def ctx(tmp_path: Path, state: dict[str, Any] | None = None, seen: set[str] | None = None) -> CollectContext:
    return CollectContext(tmp_path, state or {}, None, None, "run-1", datetime.now(UTC), seen or set())  # type: ignore[arg-type]


def collect(tmp_path: Path, decl: dict[str, Any], state: dict[str, Any] | None = None, key: Any = None):
    """Read a source declared with `allow_private: true` (the server is on loopback) unless decl says."""
    decl = {"allow_private": True, **decl}
    spec = parse_source("api", {"type": "http", **decl, **({"key": key} if key else {})})
    return http_source.read(spec, ctx(tmp_path, state))


# -- pagination -----------------------------------------------------------------------------------

PAGINATIONS = {
    "page": ("/page", {"type": "page", "param": "page", "size_param": "size", "size": 2}, 3),
    "offset": ("/offset", {"type": "offset", "param": "offset", "limit_param": "limit", "limit": 2}, 3),
    "cursor": ("/cursor", {"type": "cursor", "cursor_path": "meta.next", "param": "cursor"}, 3),
    "link": ("/link", {"type": "link"}, 3),
}


@pytest.mark.parametrize("style", list(PAGINATIONS))
def test_every_pagination_style_reads_all_records_once(api: Api, tmp_path: Path, style: str) -> None:
    path, pagination, pages = PAGINATIONS[style]
    records = None if style == "link" else "data.items"
    decl = {"url": api.url + path + "?src=t", "pagination": pagination, "records": records}
    batch = collect(tmp_path, {**decl, "params": {"q": "x"}})
    assert batch.table is not None
    first_query = api.hits[0][1]
    assert (first_query.get("src"), first_query.get("q")) == ("t", "x")  # the url's own query is kept
    assert batch.table["id"].to_list() == [1, 2, 3, 4, 5]
    assert batch.report["pages"] == pages and batch.report["rows"] == 5 and batch.report["retries"] == 0
    origins = batch.table["_origin"].to_list()
    assert origins[0].startswith(api.url + path) and origins[0].endswith("#page 1")
    assert origins[-1].endswith("#page 3")
    assert batch.table["_item_id"].n_unique() == 5 and set(batch.table["_source"]) == {"api"}


def test_records_are_flattened_nested_objects_dotted_lists_json(api: Api, tmp_path: Path) -> None:
    api.items[0]["extra"] = {"deep": {"x": 1.5}}
    api.items[1]["name"] = 7  # mixed types in one column: every value JSON-encoded
    batch = collect(tmp_path, {"url": api.url + "/plain"})
    table = batch.table
    assert table is not None
    assert table.schema["id"] == pl.Int64 and table.schema["user.id"] == pl.Int64
    assert table["user.tags"][0] == '["a"]'
    assert table["extra.deep.x"].to_list()[:2] == [1.5, None]
    assert table["name"].to_list()[:2] == ['"item 1"', "7"]


def test_cursor_state_resumes_from_the_last_page(api: Api, tmp_path: Path) -> None:
    decl = {
        "url": api.url + "/cursor",
        "records": "data.items",
        "pagination": {"type": "cursor", "cursor_path": "meta.next", "resume": True},
    }
    first = collect(tmp_path, decl)
    assert first.state == {"cursor": "c4"}
    api.items.append({"id": 6, "name": "item 6", "updated_at": "2026-01-06"})
    api.hits.clear()
    second = collect(tmp_path, decl, state=first.state)
    assert [h[1].get("cursor") for h in api.hits] == ["c4"]  # one request, from the saved cursor
    assert second.table is not None and second.table["id"].to_list() == [5, 6]


def test_watermark_is_sent_and_advanced(api: Api, tmp_path: Path) -> None:
    decl = {"url": api.url + "/plain", "watermark": {"field": "updated_at", "param": "since"}}
    first = collect(tmp_path, decl)
    assert first.state == {"watermark": "2026-01-05"} and "since" not in api.hits[0][1]
    second = collect(tmp_path, decl, state=first.state)
    assert api.hits[-1][1]["since"] == "2026-01-05"
    assert second.table is not None and second.table.height == 0
    assert second.state == {"watermark": "2026-01-05"}


def test_non_object_and_keyless_records_go_to_quarantine(api: Api, tmp_path: Path) -> None:
    api.items[1:2] = [42, {"name": "no id"}]  # type: ignore[list-item]
    batch = collect(tmp_path, {"url": api.url + "/plain"}, key=["id"])
    assert batch.table is not None and batch.table["id"].to_list() == [1, 3, 4, 5]
    q = batch.quarantine
    assert q is not None and q["_line"].to_list() == [2, 3]
    assert "not an object" in q["_reason"][0] and "'id'" in q["_reason"][1]
    assert q["_raw"].to_list() == ["42", '{"name": "no id"}']


def test_max_pages_guard(api: Api, tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="max_pages=2"):
        collect(tmp_path, {"url": api.url + "/link", "pagination": "link", "max_pages": 2})


# -- retries -------------------------------------------------------------------------------------


def test_5xx_then_success_is_retried_with_exponential_backoff(
    api: Api, tmp_path: Path, waits: list[float]
) -> None:
    api.faults.extend([(500, {}, "boom"), (503, {}, "busy"), (502, {}, "bad")])
    batch = collect(tmp_path, {"url": api.url + "/plain", "backoff": 1.0})
    assert batch.table is not None and batch.table.height == 5
    assert batch.report["retries"] == 3 and batch.report["requests"] == 4
    # base * 2**attempt with +-50% jitter
    for attempt, wait in enumerate(waits):
        assert 0.5 * 2**attempt <= wait <= 1.5 * 2**attempt


def test_429_honours_retry_after(api: Api, tmp_path: Path, waits: list[float]) -> None:
    api.faults.extend([(429, {"Retry-After": "3"}, "slow down")])
    batch = collect(tmp_path, {"url": api.url + "/plain", "backoff": 0.01})
    assert waits == [3.0] and batch.report["retries"] == 1


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ((200, {}, "<html>not json</html>"), "not JSON"),
        ((200, {}, '{"data": {}}'), "no list of records at `data.items`"),
        ((500, {}, "oops"), "HTTP 500"),
    ],
)
def test_persistent_garbage_is_retried_then_reported(
    api: Api, tmp_path: Path, waits: list[float], fault: tuple[Any, ...], message: str
) -> None:
    api.faults.extend([fault] * 3)
    decl = {"url": api.url + "/page", "records": "data.items", "retries": 2, "pagination": {"type": "page"}}
    with pytest.raises(StorageError, match=message) as info:
        collect(tmp_path, decl)
    assert f"{api.url}/page?page=1 page 1" in str(info.value) and "after 3 attempt(s)" in str(info.value)
    assert len(waits) == 2 and len(api.hits) == 3


def test_timeout_is_retried(api: Api, tmp_path: Path, waits: list[float]) -> None:
    api.faults.append(("sleep", 1.0))
    batch = collect(tmp_path, {"url": api.url + "/plain", "timeout": 0.2})
    assert batch.report["retries"] == 1 and batch.table is not None and batch.table.height == 5
    api.faults.extend([("sleep", 1.0)] * 2)
    with pytest.raises(StorageError, match=r"no answer within 0.2s"):
        collect(tmp_path, {"url": api.url + "/plain", "timeout": 0.2, "retries": 1})


def test_rate_limit_spaces_requests(api: Api, tmp_path: Path) -> None:
    started = time.monotonic()
    batch = collect(tmp_path, {"url": api.url + "/link", "pagination": "link", "rate_limit": 20})
    assert batch.report["requests"] == 3
    assert time.monotonic() - started >= 2 / 20 * 0.9  # three requests: two gaps of 1/20 s


# -- safety --------------------------------------------------------------------------------------


def test_redirect_to_an_unlisted_host_is_refused_and_never_contacted(api: Api, tmp_path: Path) -> None:
    other = Api("127.0.0.2")
    try:
        api.redirect_to = other.url + "/plain"
        with pytest.raises(InvalidInput, match=r"refused http://127\.0\.0\.2:\d+/plain .*allow_hosts"):
            collect(tmp_path, {"url": api.url + "/redirect-out"})
        assert other.hits == []
        # listed, it is followed
        hosts = [api.url.removeprefix("http://"), other.url.removeprefix("http://")]
        batch = collect(tmp_path, {"url": api.url + "/redirect-out", "allow_hosts": hosts})
        assert batch.table is not None and batch.table.height == 5 and len(other.hits) == 1
    finally:
        other.close()


def test_redirect_to_the_same_host_is_followed(api: Api, tmp_path: Path) -> None:
    batch = collect(tmp_path, {"url": api.url + "/redirect-in"})
    assert batch.table is not None and batch.table.height == 5
    assert [h[0] for h in api.hits] == ["/redirect-in", "/plain"]
    assert batch.table["_origin"][0] == f"{api.url}/plain#page 1"


def _port(server: Api) -> int:
    return int(server.url.rsplit(":", 1)[1])


def test_the_allow_list_is_by_host_and_port(api: Api, tmp_path: Path) -> None:
    other = Api()  # the same host, another port
    try:
        api.redirect_to = other.url + "/plain"
        with pytest.raises(InvalidInput, match=rf"refused {other.url}/plain .*port {_port(other)} is not in"):
            collect(tmp_path, {"url": api.url + "/redirect-out"})
        assert other.hits == []
        # a bare host means the scheme's default port (80 here), not any port
        with pytest.raises(ConfigError, match=r"host and port of `url` \(127\.0\.0\.1:\d+\) are not in"):
            collect(tmp_path, {"url": api.url + "/plain", "allow_hosts": ["127.0.0.1"]})
        listed = {"allow_hosts": [f"127.0.0.1:{_port(api)}", f"127.0.0.1:{_port(other)}"]}
        batch = collect(tmp_path, {"url": api.url + "/redirect-out", **listed})
        assert batch.table is not None and batch.table.height == 5 and len(other.hits) == 1
    finally:
        other.close()


def test_the_secret_is_never_sent_to_another_origin_on_a_redirect(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_TOKEN", TOKEN)
    other = Api()
    try:
        api.redirect_to = other.url + "/plain"
        auth = {"header": "Authorization", "env": "API_TOKEN", "prefix": "Bearer "}
        hosts = [f"127.0.0.1:{_port(api)}", f"127.0.0.1:{_port(other)}"]
        batch = collect(tmp_path, {"url": api.url + "/redirect-out", "allow_hosts": hosts, "auth": auth})
        assert batch.table is not None and batch.table.height == 5
        assert api.hits[0][2].get("Authorization") == f"Bearer {TOKEN}"
        assert [h[0] for h in other.hits] == ["/plain"] and "Authorization" not in other.hits[0][2]
        # within its origin, the secret follows the redirect
        collect(tmp_path, {"url": api.url + "/redirect-in", "auth": auth})
        assert [h[2].get("Authorization") for h in api.hits[-2:]] == [f"Bearer {TOKEN}"] * 2
    finally:
        other.close()


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "127.9.9.9", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
     "169.254.169.254", "[::1]", "[fe80::1]", "[fc00::1]", "[fd12::1]", "localhost", "0.0.0.0"],
)  # fmt: skip
def test_a_declared_private_address_is_a_config_error(host: str) -> None:
    for decl in (
        {"url": f"http://{host}/x"},
        {"url": "http://a.example/x", "allow_hosts": ["a.example", host]},
    ):
        with pytest.raises(ConfigError, match=r"private, loopback or link-local.*") as info:
            parse_source("api", {"type": "http", **decl})
        assert "allow_private: true" in info.value.render()
        parse_source("api", {"type": "http", **decl, "allow_private": True})  # declared: accepted


@pytest.mark.parametrize("host", ["93.184.215.14", "[2606:4700::1111]", "api.example.com"])
def test_a_public_address_needs_no_declaration(host: str) -> None:
    parse_source("api", {"type": "http", "url": f"https://{host}/x"})


def test_a_name_resolving_to_a_private_address_is_refused_and_never_contacted(
    api: Api, tmp_path: Path
) -> None:
    url = f"http://127.1:{_port(api)}/plain"  # a name for 127.0.0.1: only resolving it tells
    with pytest.raises(
        InvalidInput, match=r"127\.1 is a private, loopback or link-local address \(127\.0\.0\.1\)"
    ):
        collect(tmp_path, {"url": url, "allow_private": False})
    assert api.hits == []
    batch = collect(tmp_path, {"url": url, "allow_private": True})
    assert batch.table is not None and batch.table.height == 5


def test_a_redirect_to_a_private_address_is_refused(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 127.1 (this api) counts as public here, so the redirect's target is what gets checked
    real = httpfetch.private_address
    monkeypatch.setattr(httpfetch, "private_address", lambda host: None if host == "127.1" else real(host))
    other = Api("127.0.0.2")
    try:
        api.redirect_to = f"http://127.2:{_port(other)}/plain"  # a name for 127.0.0.2
        decl = {
            "url": f"http://127.1:{_port(api)}/redirect-out",
            "allow_hosts": [f"127.1:{_port(api)}", f"127.2:{_port(other)}"],
        }
        with pytest.raises(InvalidInput, match=r"refused http://127\.2:\d+/plain .*127\.0\.0\.2"):
            collect(tmp_path, {**decl, "allow_private": False})
        assert [h[0] for h in api.hits] == ["/redirect-out"] and other.hits == []
        batch = collect(tmp_path, {**decl, "allow_private": True})
        assert batch.table is not None and batch.table.height == 5 and len(other.hits) == 1
    finally:
        other.close()


@pytest.mark.parametrize(
    ("decl", "message"),
    [
        ({}, "needs `url`"),
        ({"url": "ftp://x/y"}, "not an http"),
        ({"url": "http://a.example/x", "allow_hosts": ["b.example"]}, "not in allow_hosts"),
        ({"url": "http://a.example:8080/x", "allow_hosts": ["a.example"]}, r"add \"a.example:8080\""),
        ({"url": "http://a.example/x", "allow_hosts": ["a.example:99999"]}, "optional :port"),
        ({"url": "http://a.example/x", "allow_hosts": ["http://a.example"]}, "optional :port"),
        ({"url": "http://a.example/x", "allow_private": "yes"}, "allow_private"),
        ({"url": "http://a.example/x", "auth": {"token": "abc"}}, "secret is never written"),
        ({"url": "http://a.example/x", "auth": {"header": "X-Key"}}, "auth.env"),
        ({"url": "http://a.example/x", "pagination": {"type": "scroll"}}, "unknown"),
        ({"url": "http://a.example/x", "pagination": {"type": "cursor"}}, "cursor_path"),
        ({"url": "http://a.example/x", "retries": -1}, "retries"),
        ({"url": "http://a.example/x", "timeout": 0}, "timeout"),
        ({"url": "http://a.example/x", "watermark": {"field": "t"}}, "watermark"),
        ({"url": "http://a.example/x", "pagesize": 3}, "unknown option `pagesize`"),
    ],
)
def test_bad_declarations_are_config_errors(decl: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        parse_source("api", {"type": "http", **decl})
    assert "'api'" in str(info.value)


# -- end to end through the CLI -------------------------------------------------------------------

SECURE = """
sources:
  api:
    type: http
    url: {url}/secure
    key: [id]
    auth: {{header: Authorization, env: API_TOKEN, prefix: "Bearer "}}
    retries: 1
    backoff: 0.01
    allow_private: true
"""


def _leaks(root: Path, *texts: str) -> list[str]:
    found = [f"output {i}" for i, t in enumerate(texts) if TOKEN in t]
    for path in root.rglob("*"):
        if path.is_file() and TOKEN.encode() in path.read_bytes():
            found.append(str(path))
    return found


def test_cli_collects_with_secret_then_nothing_new_then_fails_keeping_version(
    api: Api, tmp_path: Path
) -> None:
    write_project(tmp_path, SECURE.format(url=api.url))  # declares allow_private: the api is on loopback
    env = {"API_TOKEN": TOKEN}
    first = cli("collect", "api", "--json", cwd=tmp_path, env=env, check=True)
    data = json.loads(first.stdout)
    figures = {m["key"]: m["value"] for m in data["metrics"]}
    assert figures["added"] == 5 and figures["pages"] == 1 and figures["requests"] == 1
    assert all(h[2].get("Authorization") == f"Bearer {TOKEN}" for h in api.hits)
    # nothing new: no new version
    second = cli("collect", "api", cwd=tmp_path, env=env, check=True)
    assert "0 new item(s), 5 in all" in second.stdout
    versions = json.loads(cli("datasets", "--json", cwd=tmp_path, check=True).stdout)
    assert [(d["name"], d["version"]) for d in versions if d["name"] == "api"] == [("api", 1)]
    # lineage reaches the collect step
    lineage = json.loads(cli("lineage", "api", "--json", cwd=tmp_path, check=True).stdout)
    assert lineage["artifact"]["source"] == "step:collect.api"
    assert "made by step collect.api" in cli("lineage", "api", cwd=tmp_path, check=True).stdout
    # a server echoing the token in its 500s: the run fails (exit 1), the token is scrubbed
    api.items.append({"id": 9, "name": "late"})
    api.faults.extend([(500, {}, "upstream said {auth}")] * 2)
    failed = cli("collect", "api", "--json", cwd=tmp_path, env=env)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    (step,) = json.loads(failed.stdout)["steps"]
    assert step["status"] == "failed" and "HTTP 500 'upstream said Bearer ***'" in step["error"]
    latest = json.loads(cli("datasets", "--json", cwd=tmp_path, check=True).stdout)
    assert [d["version"] for d in latest if d["name"] == "api"] == [1]
    shown = cli("show", json.loads(failed.stdout)["run_id"], cwd=tmp_path, check=True)
    # without the variable: a clear error naming it, the token nowhere
    unset = cli("collect", "api", cwd=tmp_path, env={"API_TOKEN": ""})
    assert unset.returncode != 0 and "API_TOKEN is not set" in unset.stdout + unset.stderr
    outputs = [r.stdout + r.stderr for r in (first, second, failed, shown, unset)]
    assert _leaks(tmp_path, *outputs) == []
    assert "API_TOKEN" in (tmp_path / "loopline.yaml").read_text()
    # the recovered server: the new item is added as version 2
    third = cli("collect", "api", "--json", cwd=tmp_path, env=env, check=True)
    assert {m["key"]: m["value"] for m in json.loads(third.stdout)["metrics"]}["added"] == 1
    assert _leaks(tmp_path, third.stdout, third.stderr) == []


def test_cli_bad_declaration_exits_2(tmp_path: Path) -> None:
    write_project(
        tmp_path, "sources:\n  api:\n    type: http\n    url: http://x.example/\n    auth: {token: abc}\n"
    )
    result = cli("collect", cwd=tmp_path)
    assert result.returncode == 2 and "secret is never written" in result.stdout + result.stderr


def test_unused_port_is_a_connection_failure(tmp_path: Path, waits: list[float]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(StorageError, match="connection failed"):
        collect(tmp_path, {"url": f"http://127.0.0.1:{port}/x", "retries": 1})
