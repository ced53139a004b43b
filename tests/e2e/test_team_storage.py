"""Team storage from the command line, on moto's S3 server: a project whose blobs are in a bucket
(init, add, run, checkout, fsck), and push / pull between a local project and a remote store,
resumed after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import s3fs

from loopline.store.blobs import open_blob_store
from tests.conftest import BIN, cli, write_project

STEPS = """
import polars as pl

def double(rows):
    return rows.with_columns(d=pl.col("i") * 2)
"""

PIPELINE = """
steps:
  double:
    uses: steps:double
    inputs: {rows: numbers}
    outputs: [doubled]
"""


def _objects(s3_url: str, endpoint: str) -> list[str]:
    """The loose blob objects under s3_url (not the packs)."""
    fs = s3fs.S3FileSystem(endpoint_url=endpoint, skip_instance_cache=True, use_listings_cache=False)
    root = s3_url.removeprefix("s3://")
    return [p for p in fs.find(root) if len(p.rsplit("/", 1)[-1]) == 64]


def _blobs(s3_url: str, tmp_path: Path) -> list[str]:
    """Every blob key the store at s3_url holds, loose or packed."""
    return list(open_blob_store(s3_url, cache=tmp_path / "reader-cache").digests())


def test_a_project_with_blobs_on_s3_runs_the_loop(tmp_path: Path, s3_url: str, s3_endpoint: str) -> None:
    project = tmp_path / "p"
    cli("init", str(project), "--blobs", s3_url, cwd=tmp_path, check=True)
    (project / "steps.py").write_text(STEPS)
    config = (project / "loopline.yaml").read_text()
    (project / "loopline.yaml").write_text(config.replace("steps: {}\n", PIPELINE.lstrip()))
    (tmp_path / "numbers.csv").write_text("i\n1\n2\n3\n")
    cli("add", str(tmp_path / "numbers.csv"), "--name", "numbers", cwd=project, check=True)
    run = json.loads(cli("run", "--json", cwd=project, check=True).stdout)
    assert run["status"] == "succeeded"
    assert not list((project / ".loopline").glob("blobs/??/*")), "blobs were written to the project folder"
    assert len(_blobs(s3_url, tmp_path)) >= 3  # the CSV as added, its table, the output
    fsck = json.loads(cli("fsck", "--json", cwd=project, check=True).stdout)
    assert fsck["ok"] and fsck["blobs_checked"] >= 3
    out = tmp_path / "out"
    cli("checkout", "numbers", str(out), cwd=project, check=True)
    assert (out / "numbers.csv").read_text() == "i\n1\n2\n3\n"


def test_init_refuses_a_missing_bucket_and_writes_nothing(tmp_path: Path, s3_endpoint: str) -> None:
    result = cli("init", str(tmp_path / "p"), "--blobs", "s3://not-a-bucket-yet/blobs", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "not-a-bucket-yet" in result.stderr and "aws s3 mb" in result.stderr
    assert not (tmp_path / "p" / "loopline.yaml").exists()


def _folder_of(tmp_path: Path, small: int, large: int) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    for n in range(small):
        (data / f"s{n:04d}.txt").write_bytes(f"small file {n}\n".encode() * 20)
    for n in range(large):
        (data / f"l{n}.bin").write_bytes(os.urandom(6 << 20))
    return data


def test_push_then_pull_into_an_empty_project(tmp_path: Path, s3_url: str, s3_endpoint: str) -> None:
    alice = write_project(tmp_path / "alice", "steps: {}\n")
    cli("init", cwd=alice, check=True)
    data = _folder_of(tmp_path, small=40, large=1)
    cli("add", str(data), "--name", "images", cwd=alice, check=True)
    pushed = json.loads(cli("push", "--remote", s3_url, "--json", cwd=alice, check=True).stdout)
    assert pushed["ok"] and pushed["copied"] == pushed["referenced"] == 42  # 41 files and the manifest
    assert len(_blobs(s3_url, tmp_path)) == 42
    assert len(_objects(s3_url, s3_endpoint)) == 1, "the small files were not sent in a pack"
    again = json.loads(cli("push", "--remote", s3_url, "--json", cwd=alice, check=True).stdout)
    assert (again["copied"], again["already"]) == (0, 42), "a second push sent blobs again"

    # Bob shares Alice's metadata (a team's database) with a blob folder of his own, empty.
    bob = write_project(
        tmp_path / "bob", "steps: {}\n", store=f"sqlite:///{alice / '.loopline' / 'metadata.db'}"
    )
    (bob / "loopline.yaml").write_text(
        (bob / "loopline.yaml").read_text().replace("project:\n", f"project:\n  remote: {s3_url}\n")
    )
    missing = cli("checkout", "images", str(tmp_path / "before"), cwd=bob)
    assert missing.returncode != 0 and "pull" in missing.stderr + missing.stdout
    pulled = json.loads(cli("pull", "--json", cwd=bob, check=True).stdout)
    assert pulled["ok"] and pulled["copied"] == 42 and pulled["bytes"] > 6 << 20
    cli("checkout", "images", str(tmp_path / "after"), cwd=bob, check=True)
    for path in data.iterdir():
        assert (tmp_path / "after" / path.name).read_bytes() == path.read_bytes()
    assert json.loads(cli("pull", "--json", cwd=bob, check=True).stdout)["copied"] == 0


def test_a_killed_push_leaves_only_whole_objects_and_resumes(
    tmp_path: Path, s3_url: str, s3_endpoint: str
) -> None:
    alice = write_project(tmp_path / "alice", "steps: {}\n")
    cli("init", cwd=alice, check=True)
    data = tmp_path / "data"
    data.mkdir()
    for n in range(80):  # over the pack limit: one object each
        (data / f"f{n:03d}.bin").write_bytes(os.urandom((1 << 20) + 4096))
    for n in range(100):  # small: in packs
        (data / f"s{n:03d}.txt").write_bytes(f"small {n}\n".encode())
    cli("add", str(data), "--name", "files", cwd=alice, check=True)
    push = subprocess.Popen(
        [str(BIN / "loopline"), "push", "--remote", s3_url, "--json"],
        cwd=alice,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while len(_objects(s3_url, s3_endpoint)) < 10 and push.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    push.send_signal(signal.SIGKILL)
    push.wait()
    store = open_blob_store(s3_url, cache=tmp_path / "reader-cache")
    landed = list(store.digests())
    assert 10 <= len(landed) < 181, f"the push was not killed half-way ({len(landed)} blobs)"
    assert all(store.verify(key) for key in landed), "a visible object is not whole"
    resumed = json.loads(cli("push", "--remote", s3_url, "--json", cwd=alice, check=True).stdout)
    assert resumed["ok"] and resumed["already"] == len(landed) and resumed["copied"] == 181 - len(landed)
    assert len(_blobs(s3_url, tmp_path)) == 181


def test_init_against_a_database_that_does_not_answer_names_it_and_writes_nothing(tmp_path: Path) -> None:
    url = "postgresql+psycopg://team:s3cret@127.0.0.1:9/loopline"  # port 9: nothing listens
    result = cli("init", str(tmp_path / "p"), "--store", url, cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "127.0.0.1:9" in result.stderr and "LOOPLINE_STORE" in result.stderr
    assert "s3cret" not in result.stderr, "the password was printed"
    assert not (tmp_path / "p" / "loopline.yaml").exists()
