"""What keeps the read-only commands fast, checked without timing them (benchmarks/cli_latency.py
times them): `--help` lists every command without importing one; `runs`, `datasets` and `models`
answer without SQLAlchemy, Polars or PyArrow, and so does `status` (on a pipeline whose own
steps import none of them); each prints what the full store holds.

Each command runs through the real entry point in a subprocess that reports which libraries and
loopline modules it loaded, as tests/e2e/test_add_unchanged.py does for an unchanged add.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from loopline.cli import commands
from loopline.store.metadata import MetadataStore
from tests.conftest import cli, write_project

HEAVY = ("sqlalchemy", "alembic", "polars", "pyarrow", "numpy", "fsspec", "pydantic", "rich", "typer")
_PROBE = f"""
import atexit, os, sys
from pathlib import Path
from loopline.cli.app import main
watched = {HEAVY!r}
ours = lambda: [m for m in sys.modules if m.startswith("loopline.")]
loaded = lambda: " ".join([m for m in watched if m in sys.modules] + ours())
atexit.register(lambda: Path(os.environ["PROBE_OUT"]).write_text(loaded()))
main(sys.argv[1:])
"""
STEPS = 'def make(n):\n    return {"n": n}\n'
PIPELINE = "steps:\n  numbers:\n    uses: steps:make\n    params: {n: 3}\n    outputs: [numbers]\n"


def probe(*args: str, cwd: Path) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    out = cwd / ".probe"
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PROBE_OUT": str(out), "COLUMNS": "200"},
    )
    loaded = set(out.read_text().split())
    out.unlink()
    return result, loaded


def eager_commands() -> dict[str, typer.core.TyperCommand]:
    """Every command as the cli modules register them (what the app listed before it was lazy)."""
    found: dict[str, typer.core.TyperCommand] = {}
    for module in dict.fromkeys(m for m, _ in commands.COMMANDS.values()):
        found |= commands.load_module(module)
    return found


def first_paragraph(text: str | None) -> str:
    return " ".join((text or "").split("\n\n")[0].split())


def test_the_listed_commands_are_the_registered_ones_with_their_help() -> None:
    eager = eager_commands()
    assert set(commands.COMMANDS) == set(eager)
    for name, (_, text) in commands.COMMANDS.items():
        assert text == first_paragraph(eager[name].help), name


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = write_project(tmp_path / "proj", PIPELINE, STEPS)
    cli("init", cwd=root, check=True)
    cli("run", cwd=root, check=True)
    cli("run", cwd=root, check=True)
    (root / "a.csv").write_text("id,x\n1,2\n")
    cli("add", "a.csv", "--name", "people", cwd=root, check=True)
    return root


def test_help_lists_every_command_and_imports_none(project: Path) -> None:
    result, loaded = probe("--help", cwd=project)
    assert result.returncode == 0, result.stderr
    for name, (_, text) in commands.COMMANDS.items():
        assert re.search(rf"│ {name} +{re.escape(text[:40])}", result.stdout), name
    assert not {m for m in loaded if m.endswith("_commands")}, loaded
    assert not loaded & {"sqlalchemy", "pydantic", "loopline.project"}, loaded


@pytest.mark.parametrize("command", ["runs", "datasets", "models"])
def test_listings_answer_without_the_store_libraries(project: Path, command: str) -> None:
    result, loaded = probe(command, "--json", cwd=project)
    assert result.returncode == 0, result.stderr
    assert not loaded & {"sqlalchemy", "alembic", "polars", "pyarrow", "numpy", "fsspec"}, loaded
    assert "loopline.cli.pipeline_commands" in loaded or command != "runs"
    assert not {m for m in loaded if m.endswith("_commands")} - {
        "loopline.cli.pipeline_commands",
        "loopline.cli.experiment_commands",  # runs' search options
        "loopline.cli.data_commands",
        "loopline.cli.registry_commands",
    }
    listed = json.loads(result.stdout)
    if command == "runs":  # what the full store lists
        store = MetadataStore(f"sqlite:///{project / '.loopline' / 'metadata.db'}")
        full = [r.to_json() | {"trials": 0} for r in store.list_runs(20, top_level=True)]
        store.close()
        assert listed == json.loads(json.dumps(full, default=str))
        assert [[s["status"] for s in r["steps"]] for r in listed] == [["cached"], ["ran"]]
    elif command == "datasets":
        assert [(d["name"], d["version"], d["versions"]) for d in listed] == [
            ("numbers", 1, 1),
            ("people", 1, 1),
        ]
    else:
        assert listed == []


def test_status_answers_without_the_store_libraries(project: Path) -> None:
    result, loaded = probe("status", cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["fresh numbers", "everything is up to date"]
    assert not loaded & {"sqlalchemy", "alembic", "polars", "pyarrow", "numpy", "fsspec"}, loaded
    (project / "steps.py").write_text(STEPS.replace("n}", "n + 1}"))
    result, loaded = probe("status", cwd=project)
    assert result.stdout.splitlines() == ["stale numbers  (code: steps:make changed)"], result.stderr
    assert "sqlalchemy" not in loaded


def test_an_unchanged_add_answers_without_rich_or_the_store_libraries(project: Path) -> None:
    result, loaded = probe("add", "a.csv", "--name", "people", cwd=project)
    assert result.stdout == "nothing changed: people@1 is current (1 file(s), 0 hashed)\n", result.stderr
    assert not loaded & {"rich", "sqlalchemy", "alembic", "polars", "pyarrow", "pydantic"}, loaded
    assert {m for m in loaded if m.endswith("_commands")} == {"loopline.cli.data_commands"}, loaded
