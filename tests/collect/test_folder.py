"""The folder source on real files: one item per file stored once by content, image sizes from
real PNG and JPEG headers, an unchanged folder collected without reading a byte of it, corrupt
images kept, media filters, and no reading outside the root."""

from __future__ import annotations

import json
import os
from pathlib import Path

import polars as pl
import pytest
from PIL import Image

from loopline.core.hashing import hash_file
from loopline.project import Project
from tests.collect.conftest import LocalProject
from tests.conftest import cli

INBOX = """\
  pics:
    type: folder
    root: inbox
"""


def _image(path: Path, size: tuple[int, int], fmt: str, color: str = "red") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path, fmt)
    return path


@pytest.fixture
def inbox(local_project) -> LocalProject:  # type: ignore[no-untyped-def]
    lp = local_project(INBOX)
    _image(lp.root / "inbox" / "cats" / "a.png", (32, 20), "PNG")
    _image(lp.root / "inbox" / "b.jpg", (17, 40), "JPEG", "blue")
    (lp.root / "inbox" / "notes.txt").write_text("hello")
    (lp.root / "inbox" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (lp.root / "inbox" / ".hidden").write_text("skipped")
    return lp


def test_first_collect_builds_a_manifest_with_sizes_and_provenance(inbox: LocalProject) -> None:
    run = inbox.collect()
    blobs = inbox.load("pics")
    manifest = blobs.manifest().sort("path")
    assert manifest["path"].to_list() == ["b.jpg", "broken.png", "cats/a.png", "notes.txt"]
    assert manifest["media_type"].to_list() == ["image/jpeg", "image/png", "image/png", "text/plain"]
    assert manifest.select("width", "height").rows() == [(17, 40), (None, None), (32, 20), (None, None)]
    assert manifest["_item_id"].to_list() == manifest["blob"].to_list()
    assert manifest["blob"][2] == hash_file(inbox.root / "inbox" / "cats" / "a.png")
    assert manifest["size"][3] == 5
    assert manifest["_origin"].to_list() == [
        "inbox/b.jpg",
        "inbox/broken.png",
        "inbox/cats/a.png",
        "inbox/notes.txt",
    ]
    assert set(manifest["_source"]) == {"pics"} and set(manifest["_run_id"]) == {run.id}
    assert manifest.schema["_collected_at"] == pl.Datetime("us", "UTC")
    assert blobs.read("notes.txt") == b"hello"  # stored by content in the blob store
    figures = inbox.figures["pics"]
    assert (figures["files_seen"], figures["files_new"], figures["images_unreadable"]) == (4, 4, 1)


def test_unchanged_folder_reads_no_content_and_adds_no_version(inbox: LocalProject) -> None:
    inbox.collect()
    inbox.collect()
    figures = inbox.figures["pics"]
    assert (figures["files_hashed"], figures["files_new"], figures["added"]) == (0, 0, 0)
    listing = json.loads(cli("datasets", "--json", cwd=inbox.root, check=True).stdout)
    assert {d["name"]: d["versions"] for d in listing}["pics"] == 1


def test_new_files_add_only_themselves_and_known_contents_are_not_duplicated(inbox: LocalProject) -> None:
    first = inbox.collect()
    _image(inbox.root / "inbox" / "c.png", (8, 9), "PNG", "green")
    (inbox.root / "inbox" / "copy-of-notes.txt").write_text("hello")  # a known content, new path
    second = inbox.collect()
    figures = inbox.figures["pics"]
    assert (figures["files_hashed"], figures["added"], figures["items"]) == (2, 1, 5)
    manifest = inbox.load("pics").manifest()
    assert "copy-of-notes.txt" not in manifest["path"].to_list()
    new = manifest.filter(pl.col("path") == "c.png")
    assert new.select("width", "height").row(0) == (8, 9) and new["_run_id"][0] == second.id
    assert set(manifest.filter(pl.col("path") != "c.png")["_run_id"]) == {first.id}  # provenance kept
    assert inbox.versions("pics") == 2
    diff = json.loads(cli("diff", "pics@1", "pics@2", "--json", cwd=inbox.root, check=True).stdout)
    assert (diff["added"], diff["removed"], diff["sample"]["added"]) == (1, 0, ["c.png"])
    assert "collect.pics" in cli("lineage", "pics", cwd=inbox.root, check=True).stdout


def test_media_filter_and_glob(local_project) -> None:  # type: ignore[no-untyped-def]
    lp = local_project(
        INBOX + "    media: [image]\n  texts:\n    type: folder\n    root: inbox\n    glob: '**/*.txt'\n"
    )
    _image(lp.root / "inbox" / "a.png", (3, 4), "PNG")
    (lp.root / "inbox" / "sub").mkdir()
    (lp.root / "inbox" / "sub" / "n.txt").write_text("x")
    (lp.root / "inbox" / "top.txt").write_text("y")
    lp.collect()
    assert [e.path for e in lp.load("pics")] == ["a.png"]
    assert [e.path for e in lp.load("texts")] == ["sub/n.txt", "top.txt"]


def test_symlinks_leaving_the_root_are_refused(tmp_path: Path, local_project) -> None:  # type: ignore[no-untyped-def]
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key.txt").write_text("do not collect")
    lp = local_project(INBOX)
    (lp.root / "inbox").mkdir()
    (lp.root / "inbox" / "ok.txt").write_text("fine")
    (lp.root / "inbox" / "key.txt").symlink_to(secret / "key.txt")
    (lp.root / "inbox" / "out").symlink_to(secret, target_is_directory=True)
    (lp.root / "inbox" / "dangling").symlink_to(tmp_path / "nothing-here")
    lp.collect()
    blobs = lp.load("pics")
    assert [e.path for e in blobs] == ["ok.txt"]
    assert lp.figures["pics"]["files_refused"] == 3
    refused = lp.load("pics_quarantine")
    assert set(refused["_origin"]) == {"inbox/key.txt", "inbox/out", "inbox/dangling"}
    project = Project.open(lp.root)
    try:
        assert not project.blobs.exists(hash_file(secret / "key.txt"))  # never copied in
    finally:
        project.close()


def test_root_symlinked_out_or_dotdot_glob_is_a_config_error(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.txt").write_text("x")
    lp = LocalProject(tmp_path / "p")
    lp.declare(INBOX)
    (lp.root / "inbox").symlink_to(outside, target_is_directory=True)
    result = cli("collect", cwd=lp.root)
    assert result.returncode == 2 and "outside the project" in result.stderr
    assert "loopline.yaml:3" in result.stderr
    os.unlink(lp.root / "inbox")
    (lp.root / "inbox").mkdir()
    lp.declare(INBOX + "    glob: '../../outside/*'\n")
    result = cli("collect", cwd=lp.root)
    assert result.returncode == 2 and "leaves the root" in result.stderr
    lp.declare(INBOX + "    media: [pictures]\n")
    result = cli("collect", cwd=lp.root)
    assert result.returncode == 2 and "media" in result.stderr
