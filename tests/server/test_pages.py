"""Sign-in by cookie, the pages' escaping, blob serving and export, through the app in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from loopline.server import create_app
from tests.serve.conftest import register
from tests.server.conftest import Setup, make_setup, make_user

EVIL = "<script>alert(1)</script>"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + b"\x00" * 16


def signed_in(client: TestClient, setup: Setup, who: str) -> TestClient:
    response = client.post("/signin", data={"token": setup.tokens[who]}, follow_redirects=False)
    assert response.status_code == 303
    return client


def test_sign_in_sets_an_httponly_cookie_and_routes_by_role(client: TestClient, setup: Setup) -> None:
    assert client.get("/", follow_redirects=False).headers["location"] == "/signin"
    bad = client.post("/signin", data={"token": "nope"}, follow_redirects=False)
    assert bad.status_code == 401
    assert "unknown or no longer active" in bad.text
    good = client.post("/signin", data={"token": setup.tokens["alice"]}, follow_redirects=False)
    cookie = good.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert client.get("/", follow_redirects=False).headers["location"] == "/annotate"
    assert client.get("/annotate").status_code == 200
    assert client.get("/manage").status_code == 403
    client.post("/signout", follow_redirects=False)
    assert client.get("/annotate", follow_redirects=False).headers["location"] == "/signin"
    signed_in(client, setup, "mia")
    assert client.get("/").status_code == 200  # a maintainer reads the project: the home page
    assert client.get("/manage").status_code == 200
    assert client.get("/manage/nope").status_code == 404


def test_cookie_writes_need_the_page_header(client: TestClient, setup: Setup) -> None:
    signed_in(client, setup, "alice")
    task = client.get("/api/annotate/reviews/next").json()["task"]
    url = f"/api/annotate/reviews/tasks/{task['id']}"
    forged = client.post(url, json={"label": "positive"})  # what a cross-site form could send
    assert forged.status_code == 403
    assert setup.project.meta.annotations.annotations("reviews") == []
    ok = client.post(url, json={"label": "positive"}, headers={"X-Loopline-UI": "1"})
    assert ok.status_code == 201


def test_pages_escape_what_projects_hold(tmp_path: Path) -> None:
    setup = make_setup(tmp_path / "p", instructions=f"Read {EVIL} carefully")
    with TestClient(create_app(setup.project)) as client:
        signed_in(client, setup, "alice")
        for path in ("/annotate", "/annotate/reviews"):
            page = client.get(path).text
            assert EVIL not in page
            assert "Read &lt;script&gt;alert(1)&lt;/script&gt; carefully" in page
            assert "<script>" not in page.replace('<script src="/static/annotate.js" defer></script>', "")
        # the item itself reaches the page only as JSON, for textContent
        lease = client.get("/api/annotate/reviews/next").json()
        assert lease["task"]["item"]["kind"] == "text"
    setup.project.close()


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'


def pictures(setup: Setup, folder: Path) -> tuple[str, str]:
    """A labeling project `pics` on a blob set of a PNG and an SVG: their digests."""
    folder.mkdir()
    (folder / "a.png").write_bytes(PNG)
    (folder / "b.svg").write_bytes(SVG)
    setup.project.add(folder, "pics")
    setup.project.annotate_create("pics", "pics", ["ok", "bad"])
    return setup.project.blobs.put_bytes(PNG), setup.project.blobs.put_bytes(SVG)


def test_blobs_only_to_readers_of_an_object_that_holds_them(
    client: TestClient, setup: Setup, tmp_path: Path
) -> None:
    png, svg = pictures(setup, tmp_path / "pics")
    project = setup.project
    assert ("labeling", "pics") in project.meta.blob_holders(png)
    assert client.get(f"/blobs/{png}").status_code == 401
    auth = setup.auth("bob")
    image = client.get(f"/blobs/{png}", headers=auth)
    assert image.status_code == 200 and image.content == PNG
    assert image.headers["content-type"] == "image/png"
    other = client.get(f"/blobs/{svg}", headers=auth)
    assert other.headers["content-type"] == "application/octet-stream"
    assert other.headers["content-disposition"].startswith("attachment")
    assert client.get("/blobs/not-a-digest", headers=auth).status_code == 422
    assert client.get("/blobs/" + "0" * 64, headers=auth).status_code == 404
    unheld = project.blobs.put_bytes(b"in the store, held by nothing")
    assert client.get(f"/blobs/{unheld}", headers=setup.auth("mia")).status_code == 404

    # the table a split seals, and the production model: not for an annotator
    table = project.meta.get_version("reviews").blob
    register(project, "iris", 1.0)
    project.promote("iris", 1, "production")
    model = project.meta.get_version("iris_model").blob  # the registered version's artifact
    assert ("model", "iris") in project.meta.blob_holders(model)
    viewer = {"Authorization": f"Bearer {make_user(project, 'vera', 'viewer')}"}
    for digest in (table, model):
        refused = client.get(f"/blobs/{digest}", headers=auth)
        assert refused.status_code == 403 and digest.encode() not in refused.content
        assert client.get(f"/blobs/{digest}", headers=viewer).status_code == 200


def test_a_changed_blob_is_never_served(client: TestClient, setup: Setup, tmp_path: Path) -> None:
    digest, _ = pictures(setup, tmp_path / "pics")
    path = Path(setup.project.blobs.local_path(digest))
    path.chmod(0o644)
    path.write_bytes(PNG + b"tampered")
    response = client.get(f"/blobs/{digest}", headers=setup.auth("bob"))
    assert response.status_code == 500
    assert response.json()["error"] == "integrity"
    assert b"tampered" not in response.content


@pytest.mark.parametrize(("fmt", "suffix"), [("jsonl", ".jsonl"), ("csv", ".csv"), ("labelstudio", ".json")])
def test_export_for_managers(client: TestClient, setup: Setup, fmt: str, suffix: str) -> None:
    task = client.get("/api/annotate/reviews/next", headers=setup.auth("alice")).json()["task"]
    client.post(
        f"/api/annotate/reviews/tasks/{task['id']}", json={"label": "negative"}, headers=setup.auth("alice")
    )
    response = client.get(f"/api/annotate/reviews/export?format={fmt}", headers=setup.auth("mia"))
    assert response.status_code == 200
    assert response.headers["content-disposition"] == f'attachment; filename="reviews-annotations{suffix}"'
    assert "negative" in response.text and "alice" in response.text
    if fmt == "jsonl":
        rows = [json.loads(line) for line in response.text.splitlines()]
        assert [(r["item_id"], r["annotator"], r["label"]) for r in rows] == [
            (task["item_id"], "alice", "negative")
        ]
    assert client.get("/api/annotate/reviews/export?format=xml", headers=setup.auth("mia")).status_code == 422
