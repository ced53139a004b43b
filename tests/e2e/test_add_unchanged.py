"""`loopline add` on an unchanged path (Project.add, datasets/unchanged.py) answers without
opening the metadata store: it prints exactly what the store's answer prints, and leaves every
other case to the store.

Each run goes through the real entry point in a subprocess that reports afterwards which heavy
libraries it loaded, so a test sees which path answered (the store's opens the metadata store,
with SQLAlchemy), and that the unchanged path stays light: no SQLAlchemy, Polars or PyArrow.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import cli, write_project

HEAVY = ("sqlalchemy", "polars", "pyarrow")
FULL = "sqlalchemy"  # the store's answer opens the metadata store
_PROBE = f"""
import atexit, os, sys
from pathlib import Path
from loopline.cli.app import main
loaded = lambda: " ".join(m for m in {HEAVY!r} if m in sys.modules)
atexit.register(lambda: Path(os.environ["PROBE_OUT"]).write_text(loaded()))
main(sys.argv[1:])
"""


Run = subprocess.CompletedProcess[str]


def run_add(*args: str, cwd: Path, shortcut: bool = True) -> tuple[Run, set[str]]:
    """`loopline add ARGS`, as the console script runs it, and the heavy libraries it loaded:
    "sqlalchemy" when the store answered, none of them when the unchanged path did
    (LOOPLINE_FAST_PATH=0 turns that path off)."""
    probe = cwd / ".probe"
    env = {**os.environ, "LOOPLINE_FAST_PATH": "1" if shortcut else "0", "PROBE_OUT": str(probe)}
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, "add", *args], cwd=cwd, capture_output=True, text=True, env=env
    )
    loaded = set(probe.read_text().split())
    probe.unlink()
    assert FULL in loaded or not loaded, f"the unchanged path loaded {loaded}"
    return result, loaded


def same_as_full_command(*args: str, cwd: Path) -> Run:
    """Runs the unchanged path and then the store's; both must answer alike, the first without
    the store."""
    fast, fast_loaded = run_add(*args, cwd=cwd)
    slow, slow_loaded = run_add(*args, cwd=cwd, shortcut=False)
    assert FULL in slow_loaded and FULL not in fast_loaded, fast.stderr
    assert (fast.returncode, fast.stdout, fast.stderr) == (slow.returncode, slow.stdout, slow.stderr)
    return fast


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = write_project(tmp_path / "proj", "steps: {}\n")
    cli("init", cwd=root, check=True)
    return root


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    for name, content in {"a.png": os.urandom(3000), "sub/b.txt": b"hello\n", "sub/c.bin": b""}.items():
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        (data / name).write_bytes(content)
    return data


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_unchanged_folder_prints_what_the_full_command_prints(
    project: Path, folder: Path, as_json: bool
) -> None:
    cli("add", str(folder), "--name", "imgs", cwd=project, check=True)
    extra = ("--json",) if as_json else ()
    result = same_as_full_command(str(folder), "--name", "imgs", *extra, cwd=project)
    if as_json:
        assert json.loads(result.stdout) | {"artifact_id": ""} == {
            "name": "imgs",
            "version": 1,
            "created": False,
            "artifact_id": "",
            "kind": "blobs",
            "files": 3,
            "hashed": 0,
        }
    else:
        assert result.stdout == "nothing changed: imgs@1 is current (3 file(s), 0 hashed)\n"


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_unchanged_table_file_prints_what_the_full_command_prints(project: Path, as_json: bool) -> None:
    (project / "people.csv").write_text("id,name\n1,ann\n2,bob\n")
    cli("add", "people.csv", "--name", "people", cwd=project, check=True)
    (project / "people.csv").write_text("id,name\n1,ann\n2,bo\n")
    cli("add", "people.csv", "--name", "people", cwd=project, check=True)  # version 2
    extra = ("--json",) if as_json else ()
    result = same_as_full_command("people.csv", "--name", "people", *extra, cwd=project)
    expected = "nothing changed: people@2 is current (1 file(s), 0 hashed)\n"
    assert json.loads(result.stdout)["kind"] == "table" if as_json else result.stdout == expected


@pytest.mark.parametrize(
    "args",
    [("-n", "imgs", "DATA"), ("--name=imgs", "DATA", "--json"), ("--json", "DATA", "--name", "imgs")],
)
def test_options_in_any_order_click_accepts(project: Path, folder: Path, args: tuple[str, ...]) -> None:
    cli("add", str(folder), "--name", "imgs", cwd=project, check=True)
    same_as_full_command(*(str(folder) if a == "DATA" else a for a in args), cwd=project)


def test_a_changed_file_is_added_by_the_full_command(project: Path, folder: Path) -> None:
    cli("add", str(folder), "--name", "imgs", cwd=project, check=True)
    (folder / "sub" / "b.txt").write_bytes(b"changed\n")
    result, loaded = run_add(str(folder), "--name", "imgs", "--json", cwd=project)
    assert FULL in loaded and result.returncode == 0, result.stderr
    added = json.loads(result.stdout)
    assert (added["version"], added["created"], added["files"], added["hashed"]) == (2, True, 3, 1)


def test_a_touched_file_is_hashed_again_by_the_full_command(project: Path, folder: Path) -> None:
    cli("add", str(folder), "--name", "imgs", cwd=project, check=True)
    os.utime(folder / "a.png", ns=(1, 1))  # same bytes: the stat cache can no longer vouch for it
    result, loaded = run_add(str(folder), "--name", "imgs", cwd=project)
    assert FULL in loaded and result.stdout == "nothing changed: imgs@1 is current (3 file(s), 1 hashed)\n"


def test_a_first_version_and_another_name_go_the_full_way(project: Path, folder: Path) -> None:
    result, loaded = run_add(str(folder), "--name", "imgs", cwd=project)
    assert FULL in loaded and result.stdout.startswith("added imgs@1: blobs ")
    result, loaded = run_add(str(folder), "--name", "copy", cwd=project)
    assert FULL in loaded and result.stdout.startswith("added copy@1: blobs ")


def test_the_same_files_under_a_name_holding_a_table(project: Path, folder: Path) -> None:
    """A name whose latest version is a table file: re-adding a folder is a change."""
    (project / "people.csv").write_text("id\n1\n")
    cli("add", "people.csv", "--name", "x", cwd=project, check=True)
    result, loaded = run_add(str(folder), "--name", "x", cwd=project)
    assert FULL in loaded and result.stdout.startswith("added x@2: blobs ")


def test_missing_path_is_the_usual_clear_error(project: Path, folder: Path) -> None:
    cli("add", str(folder), "--name", "imgs", cwd=project, check=True)
    result, loaded = run_add("no/such/folder", "--name", "imgs", cwd=project)
    assert FULL in loaded and result.returncode == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_an_edited_loopline_yaml_is_read_again(project: Path, folder: Path, tmp_path: Path) -> None:
    """The unchanged path reads loopline.yaml's settings as the store's does, every time."""
    cli("add", str(folder), "--name", "imgs", cwd=project, check=True)
    assert run_add(str(folder), "--name", "imgs", cwd=project)[1] == set()
    (project / "loopline.yaml").write_text("steps: {}\nstepz: {}\n")
    result, loaded = run_add(str(folder), "--name", "imgs", cwd=project)
    assert result.returncode == 2 and "unknown section 'stepz'" in result.stderr
    assert "Traceback" not in result.stderr
    elsewhere = f"sqlite:///{tmp_path / 'other.db'}"
    (project / "loopline.yaml").write_text(f"project:\n  store: {elsewhere}\nsteps: {{}}\n")
    result, loaded = run_add(str(folder), "--name", "imgs", cwd=project)  # a store without imgs
    assert FULL in loaded and result.stdout.startswith("added imgs@1: blobs ")
    assert FULL not in run_add(str(folder), "--name", "imgs", cwd=project)[1]


def test_a_store_at_another_revision_goes_the_full_way(project: Path, folder: Path) -> None:
    """Mid-migration, or older than this code: the store migrates or says what is wrong."""
    cli("add", str(folder), "--name", "imgs", cwd=project, check=True)
    with sqlite3.connect(project / ".loopline" / "metadata.db") as db:
        db.execute("UPDATE alembic_version SET version_num = 'elsewhere'")
    assert FULL in run_add(str(folder), "--name", "imgs", cwd=project)[1]


def test_help_needs_no_store(project: Path) -> None:
    result, loaded = run_add("--help", cwd=project)
    assert result.returncode == 0 and "--name" in result.stdout and not loaded


def test_a_store_named_in_loopline_yaml(tmp_path: Path, store_url: str, folder: Path) -> None:
    """SQLite anywhere: the unchanged path reads it; PostgreSQL: the store answers."""
    root = write_project(tmp_path / "proj", "steps: {}\n", store=store_url)
    cli("init", cwd=root, check=True)
    cli("add", str(folder), "--name", "imgs", cwd=root, check=True)
    result, loaded = run_add(str(folder), "--name", "imgs", cwd=root)
    assert (FULL in loaded) == store_url.startswith("postgresql")
    assert result.stdout == "nothing changed: imgs@1 is current (3 file(s), 0 hashed)\n"
