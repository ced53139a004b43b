"""The error tree as core/errors.py draws it is the tree the code has, and the CLI's exit codes
and the server's HTTP statuses are the ones drawn beside each class. Every exception loopline
defines hangs in the tree, but two that are control flow and never leave their module: peek's
Unsure (never leaves Project) and the body limit's _TooLarge (always answered 413:
tests/server/test_limits.py)."""

from __future__ import annotations

import ast
import builtins
import re
from pathlib import Path

import pytest

import loopline
from loopline.cli.commands import EXIT_CODES, exit_code
from loopline.core import errors
from loopline.core.errors import LooplineError
from loopline.project import Project
from loopline.serve.inputs import RowsRejected
from loopline.server.errors import STATUS, status_of
from loopline.store.metadata import peek
from tests.conftest import write_project

SRC = Path(loopline.__file__).parent
LINE = re.compile(
    r"^(?P<indent>[ |]*(?:\+-- )?)(?P<name>[A-Z]\w+) .*exit (?P<exit>\d), HTTP (?P<http>\d{3})$"
)
DEFINED_ELSEWHERE = {"RowsRejected": RowsRejected}
Row = tuple[type[LooplineError], "type[LooplineError] | None", int, int]


def drawn() -> list[Row]:
    """(class, its parent in the drawing, exit code, HTTP status) per line of the tree."""
    found = []
    parents: list[tuple[int, type[LooplineError]]] = []
    for line in (errors.__doc__ or "").splitlines():
        match = LINE.match(line)
        if not match:
            continue
        depth = len(match["indent"])
        cls = getattr(errors, match["name"], None) or DEFINED_ELSEWHERE[match["name"]]
        while parents and parents[-1][0] >= depth:
            parents.pop()
        found.append((cls, parents[-1][1] if parents else None, int(match["exit"]), int(match["http"])))
        parents.append((depth, cls))
    return found


def test_the_drawing_is_the_class_tree() -> None:
    tree = drawn()
    assert tree[0][:2] == (LooplineError, None)
    for cls, parent, _, _ in tree[1:]:
        assert cls.__bases__ == (parent,), cls
    in_core = {v for v in vars(errors).values() if isinstance(v, type) and issubclass(v, LooplineError)}
    assert in_core | set(DEFINED_ELSEWHERE.values()) == {cls for cls, *_ in tree}
    assert set(errors.__all__) == {cls.__name__ for cls in in_core}


@pytest.mark.parametrize("row", drawn(), ids=lambda row: row[0].__name__)
def test_the_cli_and_the_server_map_each_class_as_drawn(
    row: tuple[type[LooplineError], object, int, int],
) -> None:
    cls, _, code, http = row
    error = RowsRejected("shape", {"body": "no rows"}) if cls is RowsRejected else cls("boom")
    assert exit_code(error) == code
    assert status_of(error)[0] == http


def test_the_tables_list_only_drawn_classes() -> None:
    classes = {cls for cls, *_ in drawn()}
    assert set(EXIT_CODES) <= classes and set(STATUS) <= classes


def test_a_subclass_not_listed_takes_its_parents_mapping() -> None:
    class Narrow(errors.NotFound):
        pass

    assert (exit_code(Narrow("x")), status_of(Narrow("x"))) == (2, (404, "not_found"))


def test_every_exception_loopline_defines_is_in_the_tree_but_unsure() -> None:
    """A class deriving from a built-in exception (Exception, ValueError…) is outside the tree."""
    foreign = {
        name
        for name, value in vars(builtins).items()
        if isinstance(value, type) and issubclass(value, BaseException)
    }
    outside = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(base, ast.Name) and base.id in foreign for base in node.bases
            ):
                outside.append(f"{path.relative_to(SRC)}:{node.name}")
    assert outside == [
        "core/errors.py:LooplineError",
        "serve/limits.py:_TooLarge",
        "store/metadata/peek.py:Unsure",
    ]


def test_unsure_does_not_leave_project_status(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A snapshot that cannot answer hands the question to the full store, which answers it."""
    steps = 'def make(n):\n    return {"n": n}\n'
    pipeline = "steps:\n  numbers:\n    uses: steps:make\n    params: {n: 3}\n    outputs: [numbers]\n"
    root = write_project(tmp_path / "proj", pipeline, steps)
    Project.init(root).run()
    asked: list[str] = []

    def unsure(self: peek.Snapshot) -> None:
        asked.append("snapshot")
        raise peek.Unsure("no such column")

    monkeypatch.setattr(peek.Snapshot, "latest_step_runs", unsure)
    project = Project.open(root)
    assert [s.to_json() for s in project.status()] == [{"name": "numbers", "state": "fresh", "reasons": []}]
    assert asked == ["snapshot"] and "meta" in project.stores.__dict__  # the full store answered
    project.close()
