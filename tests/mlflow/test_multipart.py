"""MLflow's multipart artifact upload (server/mlflow/multipart.py) over HTTP: parts in any order,
a missing or changed part, part URLs bound to their upload, part and time, abort, re-complete,
roles checked at create and again on every part, and a cut-off part."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from loopline.project import Project
from loopline.server import create_app
from loopline.store.blobs_multipart import PartStaging, Upload
from tests.server.conftest import make_user

API = "/api/2.0/mlflow"
ART = "/api/2.0/mlflow-artifacts"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[TestClient, Project, dict[str, str]]]:
    project = Project.init(tmp_path / "proj")
    tokens = {role: make_user(project, f"user-{role}", role) for role in ("scientist", "viewer")}
    try:
        with TestClient(create_app(project)) as client:
            yield client, project, tokens
    finally:
        project.close()


def _auth(tokens: dict[str, str], role: str = "scientist") -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[role]}"}


def _folder(client: TestClient, tokens: dict[str, str]) -> str:
    exp = client.post(f"{API}/experiments/create", json={"name": "mpu"}, headers=_auth(tokens))
    run = client.post(
        f"{API}/runs/create", json={"experiment_id": exp.json()["experiment_id"]}, headers=_auth(tokens)
    )
    return f"{exp.json()['experiment_id']}/{run.json()['run']['info']['run_id']}/artifacts"


def _create(client: TestClient, tokens: dict[str, str], folder: str, parts: int) -> dict:
    made = client.post(
        f"{ART}/mpu/create/{folder}/data",
        json={"path": "/home/me/out/weights.bin", "num_parts": parts},
        headers=_auth(tokens),
    )
    assert made.status_code == 200, made.text
    return made.json()


def _put(client: TestClient, url: str, body: bytes) -> tuple[int, str]:
    """PUT a part as the MLflow client does: to the absolute URL, with no token."""
    split = urlsplit(url)
    answer = client.put(f"{split.path}?{split.query}", content=body)
    return answer.status_code, answer.headers.get("etag", answer.text)


def _complete(client: TestClient, tokens: dict[str, str], folder: str, upload: str, parts: list) -> object:
    body = {"path": "weights.bin", "upload_id": upload, "parts": parts}
    return client.post(f"{ART}/mpu/complete/{folder}/data", json=body, headers=_auth(tokens))


def _staged(project: Project) -> list[str]:
    root = project.root / ".loopline" / "multipart"
    return sorted(os.listdir(root)) if root.exists() else []


def test_parts_sent_in_any_order_complete_to_one_file_in_part_order(served) -> None:
    client, project, tokens = served
    folder = _folder(client, tokens)
    made = _create(client, tokens, folder, 3)
    urls = {c["part_number"]: c["url"] for c in made["credentials"]}
    assert sorted(urls) == [1, 2, 3] and all(u.startswith("http://testserver/") for u in urls.values())
    bodies = {1: b"a" * 300_000, 2: b"b" * 300_000, 3: b"tail"}
    etags = {}
    for n in (3, 1, 2):
        status, etags[n] = _put(client, urls[n], bodies[n])
        assert status == 200, etags[n]
    status, etags[2] = _put(client, urls[2], bodies[2])  # a part sent again replaces itself
    listed = [{"part_number": n, "etag": etags[n], "url": urls[n]} for n in (2, 3, 1)]
    done = _complete(client, tokens, folder, made["upload_id"], listed)
    assert done.status_code == 200, done.text
    got = client.get(f"{ART}/artifacts/{folder}/data/weights.bin", headers=_auth(tokens))
    assert got.content == bodies[1] + bodies[2] + bodies[3]
    listing = client.get(f"{ART}/artifacts", params={"path": f"{folder}/data"}, headers=_auth(tokens))
    assert listing.json() == {"files": [{"path": "weights.bin", "is_dir": False, "file_size": 600_004}]}
    assert _staged(project) == []  # the parts are gone once assembled
    again = _complete(client, tokens, folder, made["upload_id"], listed)
    assert again.status_code == 404 and again.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert "completed, aborted or has expired" in again.json()["message"]


def test_a_missing_or_changed_part_is_a_400_and_the_upload_can_still_finish(served) -> None:
    client, project, tokens = served
    folder = _folder(client, tokens)
    made = _create(client, tokens, folder, 3)
    urls = {c["part_number"]: c["url"] for c in made["credentials"]}
    etags = {n: _put(client, urls[n], bytes([n]) * 1000)[1] for n in (1, 3)}
    upload = made["upload_id"]
    all_three = [{"part_number": n, "etag": etags.get(n, "")} for n in (1, 2, 3)]
    never = _complete(client, tokens, folder, upload, all_three)
    assert never.status_code == 400 and "part 2" in never.json()["message"], never.text
    short = _complete(client, tokens, folder, upload, all_three[::2])
    assert short.status_code == 400 and "missing [2]" in short.json()["message"], short.text
    etags[2] = _put(client, urls[2], b"two")[1]
    wrong = [{"part_number": n, "etag": etags[4 - n]} for n in (1, 2, 3)]
    changed = _complete(client, tokens, folder, upload, wrong)
    assert changed.status_code == 400 and "ETag" in changed.json()["message"], changed.text
    twice = _complete(client, tokens, folder, upload, [*all_three, {"part_number": 1}])
    assert twice.status_code == 400 and "listed twice" in twice.json()["message"]
    assert project.mlflow.files_under(folder) == []  # nothing of a refused complete is kept
    right = [{"part_number": n, "etag": etags[n]} for n in (1, 2, 3)]
    assert _complete(client, tokens, folder, upload, right).status_code == 200
    got = client.get(f"{ART}/artifacts/{folder}/data/weights.bin", headers=_auth(tokens))
    assert got.content == b"\x01" * 1000 + b"two" + b"\x03" * 1000


def _upload(project: Project, upload_id: str) -> Upload:
    return PartStaging(project.root / ".loopline" / "multipart").get(upload_id)


def test_a_part_url_is_bound_to_its_upload_part_and_time(served) -> None:
    client, project, tokens = served
    folder = _folder(client, tokens)
    first, second = _create(client, tokens, folder, 2), _create(client, tokens, folder, 2)
    url = urlsplit(first["credentials"][0]["url"])
    query = parse_qs(url.query)
    other = urlsplit(second["credentials"][0]["url"])
    cases = {
        "tampered": f"{url.path}?expires={query['expires'][0]}&signature={'0' * 64}",
        "unsigned": url.path,
        "another part": f"{url.path[:-1]}2?{url.query}",  # part 1's URL used for part 2
        "another upload": f"{other.path}?{url.query}",  # first's signature on second's upload
    }
    for what, path in cases.items():
        answer = client.put(path, content=b"x", headers=_auth(tokens))  # a token does not help
        assert answer.status_code == 403, (what, answer.text)
        assert answer.json()["error_code"] == "PERMISSION_DENIED"
    upload = _upload(project, first["upload_id"])
    past = 1_000_000_000
    late = client.put(
        f"{url.path}?expires={past}&signature={PartStaging.sign(upload, 1, past)}", content=b"x"
    )
    assert late.status_code == 403 and "expired" in late.json()["message"]
    beyond = f"{url.path[:-1]}3?expires={query['expires'][0]}"
    beyond += f"&signature={PartStaging.sign(upload, 3, int(query['expires'][0]))}"
    assert client.put(beyond, content=b"x").status_code == 400  # upload has parts 1 and 2
    unknown = client.put(f"{ART}/mpu/parts/{'f' * 32}/1?{url.query}", content=b"x")
    assert unknown.status_code == 404
    assert PartStaging.parts(project.root / ".loopline" / "multipart" / first["upload_id"]) == {}


def test_abort_drops_the_parts_and_later_calls_find_nothing(served) -> None:
    client, project, tokens = served
    folder = _folder(client, tokens)
    made = _create(client, tokens, folder, 2)
    url = made["credentials"][0]["url"]
    assert _put(client, url, b"x" * 1000)[0] == 200
    body = {"path": "weights.bin", "upload_id": made["upload_id"]}
    wrong_path = client.post(f"{ART}/mpu/abort/{folder}/other", json=body, headers=_auth(tokens))
    assert wrong_path.status_code == 400 and "is of" in wrong_path.json()["message"]
    viewer = client.post(f"{ART}/mpu/abort/{folder}/data", json=body, headers=_auth(tokens, "viewer"))
    assert viewer.status_code == 403
    assert client.post(f"{ART}/mpu/abort/{folder}/data", json=body, headers=_auth(tokens)).status_code == 200
    assert _staged(project) == []
    assert _put(client, url, b"late")[0] == 404
    assert _complete(client, tokens, folder, made["upload_id"], [{"part_number": 1}]).status_code == 404
    assert client.post(f"{ART}/mpu/abort/{folder}/data", json=body, headers=_auth(tokens)).status_code == 404
    assert project.mlflow.files_under(folder) == []


def test_roles_are_checked_at_create_and_again_on_each_part(served) -> None:
    client, project, tokens = served
    folder = _folder(client, tokens)
    body = {"path": "weights.bin", "num_parts": 2}
    viewer = client.post(f"{ART}/mpu/create/{folder}", json=body, headers=_auth(tokens, "viewer"))
    assert viewer.status_code == 403 and viewer.json()["error_code"] == "PERMISSION_DENIED"
    nobody = client.post(f"{ART}/mpu/create/{folder}", json=body)
    assert nobody.status_code == 401
    not_a_run = client.post(f"{ART}/mpu/create/0/nope/artifacts", json=body, headers=_auth(tokens))
    assert not_a_run.status_code == 404
    for bad in ({"path": "w.bin", "num_parts": 0}, {"path": "w.bin", "num_parts": 10_001}, {"path": ".."}):
        refused = client.post(f"{ART}/mpu/create/{folder}", json=bad, headers=_auth(tokens))
        assert refused.status_code == 400, (bad, refused.text)
    made = _create(client, tokens, folder, 2)
    assert _put(client, made["credentials"][0]["url"], b"one")[0] == 200
    project.users_disable("user-scientist")
    status, said = _put(client, made["credentials"][1]["url"], b"two")
    assert status == 403 and "disabled" in said


def test_an_old_upload_is_gone_and_swept_by_the_next_create(served) -> None:
    client, project, tokens = served
    folder = _folder(client, tokens)
    old = _create(client, tokens, folder, 1)
    meta = project.root / ".loopline" / "multipart" / old["upload_id"] / "upload.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "created": 1_000_000_000.0}))
    assert _put(client, old["credentials"][0]["url"], b"x")[0] == 404
    new = _create(client, tokens, folder, 1)
    assert _staged(project) == [new["upload_id"]]


def test_a_part_changed_on_disk_fails_the_complete_and_leaves_no_blob(served) -> None:
    client, project, tokens = served
    folder = _folder(client, tokens)
    made = _create(client, tokens, folder, 2)
    urls = [c["url"] for c in made["credentials"]]
    etags = [_put(client, url, bytes([n]) * 500_000)[1] for n, url in enumerate(urls)]
    staged = project.root / ".loopline" / "multipart" / made["upload_id"]
    part = next(staged.glob("00002.*"))
    part.write_bytes(b"\xff" * 500_000)  # same size, other bytes: a torn or changed file
    before = set(project.blobs.digests())
    listed = [{"part_number": n + 1, "etag": etag} for n, etag in enumerate(etags)]
    failed = _complete(client, tokens, folder, made["upload_id"], listed)
    assert failed.status_code == 400 and "changed on disk" in failed.json()["message"], failed.text
    assert set(project.blobs.digests()) == before and project.mlflow.files_under(folder) == []
    assert _put(client, urls[1], b"\x01" * 500_000)[0] == 200  # sent again, it replaces the bad copy
    assert _complete(client, tokens, folder, made["upload_id"], listed).status_code == 200
    got = client.get(f"{ART}/artifacts/{folder}/data/weights.bin", headers=_auth(tokens))
    assert got.content == b"\x00" * 500_000 + b"\x01" * 500_000


def test_a_cut_off_part_leaves_no_part(tmp_path: Path) -> None:
    staging = PartStaging(tmp_path / "mpu")
    upload = staging.create("1/r/artifacts/w.bin", 2, "me", "local")

    def cut() -> Iterator[bytes]:
        yield b"x" * 100_000
        raise ConnectionResetError("the client went away")

    with pytest.raises(ConnectionResetError):
        staging.put_part(upload, 1, cut())
    assert os.listdir(tmp_path / "mpu" / upload.id) == ["upload.json"]


def test_server_info_says_multipart_uploads_are_enabled(served) -> None:
    client, _, _ = served
    info = client.get("/api/3.0/mlflow/server-info").json()
    assert info["multipart_uploads_enabled"] is True
    assert info["multipart_downloads_enabled"] is False  # downloads stream through the server
