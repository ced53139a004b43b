"""Every code block of README.md and docs/*.md runs as written.

- ```yaml: each block is a loopline.yaml on its own: it is read and its pipeline built (every
  section and key known, every `uses:` importable, the DAG sound) in a project holding the
  example module of docs/pipeline.md. That page's pipeline is run, and its outputs checked.
- ```python: each block runs, in that project, in a fresh interpreter; a block whose first line
  is `# PATH` is that file of the project instead (the example's steps module).
- ```sh: each `loopline …` line is parsed by the command line itself (the command, its
  subcommand, every option and argument, their types), without running it: most of those lines
  need a model in production or a server listening. Lines calling other programs (make, curl,
  python, export) are not loopline's to check.
- The README's five-minute path is run for real, command by command, on a CSV of the columns it
  names: what a newcomer types first must work.
- docs/cli.md's command table lists exactly the commands the CLI has.

A block preceded by `<!-- fragment: WHY -->` is skipped: today only docs/web.md's client example,
which needs a running server (tests/server/test_client.py and the areas' API tests run the client).
"""

from __future__ import annotations

import json
import random
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer

from loopline.project import Project
from tests.conftest import cli

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]
PIPELINE_PAGE = ROOT / "docs" / "pipeline.md"
FIVE_MINUTES = "Five minutes on your own CSV"
HEADING = re.compile(r"^## (.+)$", re.M)
FENCE = re.compile(
    r"(?P<note><!-- fragment[^>]*-->\s*\n)?^```(?P<lang>python|sh|yaml)\n(?P<body>.*?)^```", re.M | re.S
)
OTHER_PROGRAMS = {"make", "curl", "python", "export"}
# Typer ships its own copy of click; its usage error is the base of typer.BadParameter.
UsageError: type[Exception] = next(k for k in typer.BadParameter.__mro__ if k.__name__ == "UsageError")


@dataclass(frozen=True)
class Block:
    doc: Path
    section: str  # the `## ` heading the block is under
    lang: str
    body: str
    line: int
    fragment: bool

    def __str__(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line} ({self.lang})"


def _blocks_of(doc: Path) -> list[Block]:
    text = doc.read_text(encoding="utf-8")
    headings = [(m.start(), m[1]) for m in HEADING.finditer(text)]
    found = []
    for m in FENCE.finditer(text):
        section = next((title for start, title in reversed(headings) if start < m.start()), "")
        line = text.count("\n", 0, m.start("body")) + 1
        found.append(Block(doc, section, m["lang"], m["body"], line, bool(m["note"])))
    return found


def blocks(lang: str | None = None, doc: Path | None = None) -> list[Block]:
    found = [b for d in ([doc] if doc else DOCS) for b in _blocks_of(d)]
    return [b for b in found if lang in (None, b.lang) and not b.fragment]


def _path_of(block: Block) -> str | None:
    """`# example/steps.py` on a block's first line: the block is that file."""
    first = block.body.splitlines()[0]
    match = re.fullmatch(r"# ([\w/]+\.py)", first.strip())
    return match[1] if match else None


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project made of docs/pipeline.md's pipeline (its loopline.yaml and module), run once."""
    root = tmp_path_factory.mktemp("readme")
    pipeline = next(b for b in blocks("yaml", PIPELINE_PAGE) if b.body.startswith("# loopline.yaml"))
    cli("init", str(root), cwd=root, check=True)
    (root / "loopline.yaml").write_text(pipeline.body)
    for block in blocks("python"):
        path = _path_of(block)
        if path:
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).parent.joinpath("__init__.py").touch()
            (root / path).write_text(block.body)
    return root


def test_the_readme_has_blocks_of_each_kind() -> None:
    counts = {lang: len(blocks(lang)) for lang in ("python", "sh", "yaml")}
    assert min(counts.values()) >= 3, counts
    in_readme = {b.lang for b in blocks(doc=README)}
    assert in_readme == {"sh", "yaml"}, in_readme
    assert {b.doc.name for b in blocks()} >= {"README.md", "pipeline.md", "collect.md", "train.md"}


def test_the_first_pipeline_runs_as_written(example: Path) -> None:
    run = json.loads(cli("run", "--json", cwd=example, check=True).stdout)
    steps = {s["name"]: s for s in run["steps"]}
    assert run["status"] == "succeeded" and list(steps) == ["numbers", "squares"]
    assert steps["squares"]["rows"] == {"in": 1000, "out": 1000, "quarantined": None}
    assert steps["squares"]["metrics"] == {"rows": 1000.0}  # the ctx.log_metric of the example


@pytest.mark.parametrize("block", blocks("yaml"), ids=str)
def test_yaml_block_is_a_valid_project_file(block: Block, example: Path, tmp_path: Path) -> None:
    (tmp_path / "example").mkdir()
    for module in (example / "example").glob("*.py"):
        (tmp_path / "example" / module.name).write_text(module.read_text())
    (tmp_path / "loopline.yaml").write_text(block.body)
    for root in re.findall(r"^\s+root: (\S+)", block.body, re.M):  # a source's folder: the user's data
        (tmp_path / root).mkdir(parents=True, exist_ok=True)
    code = (
        "from pathlib import Path\n"
        "from loopline.pipeline.config import build_pipeline, read_project_file\n"
        "pipeline = build_pipeline(read_project_file(Path('loopline.yaml').absolute()))\n"
        "print(len(pipeline.steps))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, f"{block}:\n{result.stderr}"


@pytest.mark.parametrize("block", [b for b in blocks("python") if not _path_of(b)], ids=str)
def test_python_block_runs(block: Block, example: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", block.body], cwd=example, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"{block}:\n{result.stderr}"


def _commands(block: Block) -> list[list[str]]:
    joined = block.body.replace("\\\n", " ")
    return [shlex.split(line, comments=True) for line in joined.splitlines() if line.strip()]


def _parse(args: list[str]) -> object:
    """Resolve `loopline ARGS` to its command and parse its options, as the CLI would, without
    invoking anything; a UsageError when the README says what the CLI does not take."""
    from loopline.cli.commands import app

    command = typer.main.get_command(app)
    ctx = command.make_context("loopline", list(args), resilient_parsing=False)
    while hasattr(command, "resolve_command"):  # a group: go down to the subcommand
        rest = [*ctx._protected_args, *ctx.args]
        if not rest:
            break
        name, found, rest = command.resolve_command(ctx, rest)
        assert found is not None, f"no command {name}"
        command, ctx = found, found.make_context(name or "", rest, parent=ctx)
    return command


@pytest.mark.parametrize("block", blocks("sh"), ids=str)
def test_sh_block_commands_parse(block: Block) -> None:
    for args in _commands(block):
        if not args:
            continue
        program = args[0]
        if program != "loopline":
            assert program in OTHER_PROGRAMS, f"{block}: {program} is neither loopline nor a known program"
            continue
        try:
            _parse(args[1:])
        except UsageError as exc:
            pytest.fail(f"{block}: `{shlex.join(args)}`: {exc}")


def test_a_wrong_option_is_caught() -> None:
    """The check above can fail: an option the CLI does not take is a usage error."""
    with pytest.raises(UsageError):
        _parse(["runs", "--sort-by", "f1"])
    with pytest.raises(UsageError):
        _parse(["models", "histroy", "digits"])
    with pytest.raises(UsageError):
        _parse(["serve", "digits", "--port", "eighty"])
    assert getattr(_parse(["models", "history", "digits"]), "name", None) == "history"


def _customers(path: Path) -> None:
    """The CSV the five-minute path assumes (id, age, income, country, churned), as messy as a
    real one: unreadable ages and a country outside the allowed set, for the quarantine."""
    rng = random.Random(7)
    lines = ["id,age,income,country,churned"]
    for i in range(400):
        age, income = rng.randint(18, 80), round(rng.gauss(40000, 12000), 2)
        churned = int(income + rng.gauss(0, 6000) < 42000 + (age - 50) * 200)
        country = "XX" if i % 131 == 0 else rng.choice(["FR", "DE"])
        lines.append(f"{i},{'n/a' if i % 97 == 0 else age},{income},{country},{churned}")
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.slow
def test_the_five_minute_path_runs(tmp_path: Path) -> None:
    """Every `loopline` line of the README's five-minute path, in order, with its yaml as the
    project file; `serve` (which blocks) is the serve tests' to check. RUN is the newest run."""
    path = [b for b in blocks(doc=README) if b.section == FIVE_MINUTES]
    assert [b.lang for b in path] == ["sh", "yaml", "sh", "sh"], [str(b) for b in path]
    _customers(tmp_path / "customers.csv")
    said: dict[str, str] = {}
    for block in path:
        if block.lang == "yaml":
            (tmp_path / "loopline.yaml").write_text(block.body)
            continue
        for args in _commands(block):
            if args[0] != "loopline" or args[1] == "serve":
                continue
            if "RUN" in args:  # the newest run's id, read here rather than by another process
                project = Project.open(tmp_path)
                newest = project.runs(1, top_level=True)[0].id
                project.close()
                args = [newest if a == "RUN" else a for a in args]
            said[args[1]] = cli(*args[1:], cwd=tmp_path, check=True).stdout
    assert "succeeded" in said["run"] and "pass" in said["run"], said["run"]
    assert "quarantine@1" in said["head"]
    assert "all outputs bit-identical" in said["reproduce"]
    assert "gates passed" in said["register"]
    models = json.loads(cli("models", "--json", cwd=tmp_path, check=True).stdout)
    assert [(m["name"], m["aliases"]) for m in models] == [("churn", {"production": 1})], models


def test_the_command_table_lists_every_command() -> None:
    """docs/cli.md's table names each command of the CLI, and none it does not have."""
    from loopline.cli.commands import app

    commands = set(getattr(typer.main.get_command(app), "commands", {}))  # the group's subcommands
    rows = [
        line for line in (ROOT / "docs" / "cli.md").read_text().splitlines() if line.startswith("| `loopline")
    ]
    listed = set(re.findall(r"(?:`loopline |· `)([a-z]+)", "\n".join(rows)))
    assert listed == commands, {"not listed": commands - listed, "no such command": listed - commands}
