"""`loopline.Client`'s transport against a live `loopline server` (uvicorn on a loopback port):
a write goes through as the token's user, each refusal comes back as the loopline error the
server raised with its message and hint, an unreachable server is a StorageError naming the URL,
and paging follows next_page_token. `import loopline` loads no httpx (the CLI's start time)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import loopline
from loopline.api.transport import BY_CODE, Transport
from loopline.core.errors import (
    Forbidden,
    InvalidInput,
    LooplineError,
    NotFound,
    StorageError,
    Unauthorized,
)
from loopline.server import create_app
from loopline.server.errors import STATUS
from tests.monitor.conftest import make_setup
from tests.server.conftest import make_user
from tests.server.live import free_port, live_server


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    setup = make_setup(tmp_path_factory.mktemp("client") / "proj")  # clf v1 in production
    project = setup.project
    newer = project.register("clf", "model", reason="retrained").version
    tokens = {role: make_user(project, role, role) for role in ("approver", "viewer", "annotator")}
    with live_server(create_app(project)) as url:
        yield {"url": url, "tokens": tokens, "newer": newer, "project": project}
    project.close()


def approve_path(version: int, name: str = "clf") -> str:
    return f"/models/{name}/versions/{version}/approve"


def test_a_write_goes_through_as_the_tokens_user(served: dict[str, Any]) -> None:
    with loopline.Client(served["url"], served["tokens"]["approver"]) as client:
        event = client._post(approve_path(served["newer"]), {"alias": "production", "reason": "ok"})
    assert event["kind"] == "approve" and event["actor"] == "approver"
    assert event["version"] == served["newer"] and event["alias"] == "production"
    history = served["project"].model_history("clf")
    assert history[-1].actor == "approver" and history[-1].reason == "ok"


def test_refusals_come_back_as_the_servers_errors(served: dict[str, Any]) -> None:
    url, tokens = served["url"], served["tokens"]
    with loopline.Client(url, tokens["approver"]) as client:
        with pytest.raises(NotFound) as missing:
            client._post(approve_path(1, "nope"), {"alias": "production"})
        assert missing.value.message == "no registered model 'nope'"
        assert missing.value.where == "POST /api/v1/models/nope/versions/1/approve"
        assert missing.value.hint is not None and "loopline models" in missing.value.hint
        with pytest.raises(InvalidInput) as bad:
            client._post(approve_path(1), {"alias": ""})
        assert "alias" in bad.value.message and bad.value.hint == "see the API schema at /docs"
        with pytest.raises(NotFound) as unknown:
            client._get("/no-such-endpoint")
        assert unknown.value.message == "Not Found"
    with loopline.Client(url, tokens["viewer"]) as client, pytest.raises(Forbidden) as viewer:
        client._post(approve_path(1), {"alias": "production"})
    assert "viewer is a viewer; approving needs the approver or admin role" in viewer.value.message
    with loopline.Client(url) as client, pytest.raises(Unauthorized) as anonymous:
        client._post(approve_path(1), {"alias": "production"})
    assert "sign in first" in anonymous.value.message
    with loopline.Client(url, "not-a-token") as client, pytest.raises(Unauthorized):
        client._post(approve_path(1), {"alias": "production"})


def test_an_unreachable_server_is_a_storage_error_naming_it() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with loopline.Client(url + "/", "t", timeout=5) as client, pytest.raises(StorageError) as down:
        client._get("/models")
    assert f"cannot reach the loopline server at {url}:" in down.value.message
    assert "loopline server" in (down.value.hint or "")


def test_not_a_loopline_server_is_said_so(served: dict[str, Any]) -> None:
    def other(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/html"):
            return httpx.Response(200, text="<html>hello</html>", headers={"content-type": "text/html"})
        if request.url.path.endswith("/moved"):
            return httpx.Response(302, headers={"location": "https://sso.example/login"})
        return httpx.Response(502, text="Bad Gateway")

    with Transport("http://proxy.example", transport=httpx.MockTransport(other)) as client:
        with pytest.raises(StorageError, match="no JSON"):
            client._get("/html")
        with pytest.raises(StorageError, match=r"redirect to https://sso\.example/login"):
            client._get("/moved")
        with pytest.raises(StorageError) as gateway:
            client._get("/models")
    assert gateway.value.message == "502 Bad Gateway"


def test_paging_follows_the_token_and_keeps_the_filters() -> None:
    seen: list[dict[str, str]] = []
    pages = {None: ([1, 2], "p2"), "p2": ([3], "p3"), "p3": ([4, 5], None)}

    def server(request: httpx.Request) -> httpx.Response:
        query = dict(request.url.params)
        seen.append(query)
        items, token = pages[query.get("page_token")]
        return httpx.Response(200, json={"items": items, "next_page_token": token})

    with Transport("http://x", "tok", transport=httpx.MockTransport(server)) as client:
        found = list(client._pages("/runs", {"filter": "metrics.acc > 0.9", "limit": 2, "skip": None}))
    assert found == [1, 2, 3, 4, 5]
    assert [q.get("page_token") for q in seen] == [None, "p2", "p3"]
    assert all(q["filter"] == "metrics.acc > 0.9" and q["limit"] == "2" and "skip" not in q for q in seen)

    def stuck(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"items": [1], "next_page_token": "same"})

    with (
        Transport("http://x", transport=httpx.MockTransport(stuck)) as client,
        pytest.raises(StorageError, match="gave back the page token"),
    ):
        list(client._pages("/runs"))


def test_every_server_error_code_comes_back_as_its_class() -> None:
    for cls, (_, code) in STATUS.items():
        assert BY_CODE[code] is cls, code
    for cls, (status, code) in STATUS.items():
        body = {"error": code, "message": f"the {code}", "hint": "h"}

        def reply(request: httpx.Request, status: int = status, body: Any = body) -> httpx.Response:
            return httpx.Response(status, content=json.dumps(body))

        with (
            Transport("http://x", transport=httpx.MockTransport(reply)) as client,
            pytest.raises(LooplineError) as raised,
        ):
            client._get("/x")
        assert type(raised.value) is cls and raised.value.message == f"the {code}"


def test_import_loopline_loads_no_httpx() -> None:
    src = str(Path(loopline.__file__).resolve().parent.parent)
    code = (
        "import sys, loopline, loopline.api.client; "
        "assert 'httpx' not in sys.modules, 'httpx at import'; "
        "client = loopline.Client('http://127.0.0.1:1'); "
        "assert 'httpx' in sys.modules; client.close(); print(type(client).__module__)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": src}, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "loopline.api.client"
