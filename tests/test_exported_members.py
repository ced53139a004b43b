"""Each package's `__all__` is exactly what its `__init__` makes public, as httpx checks its own
(tests/test_exported_members.py there): every name the `__init__` defines or imports from loopline
without a leading underscore is listed, nothing else is, and every listed name resolves. A name
an `__init__` uses but nobody outside should is imported under an underscore, so the namespace
says what is public. Names a package loads lazily (`__getattr__`) are declared for type checkers
under TYPE_CHECKING and count as imported.

Read from the source (ast), not from the imported package: which submodules happen to be loaded
does not change the answer, and a stdlib or third-party import (Path, pl) is a tool of the
`__init__`, not its API.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path
from types import ModuleType

import pytest

import loopline

ROOT = Path(loopline.__file__).parent
METADATA = {"__version__"}  # public although underscored, as httpx lists its own


def packages() -> list[str]:
    found = ["loopline"]
    for info in pkgutil.walk_packages([str(ROOT)], prefix="loopline."):
        if info.ispkg and ".migrations" not in info.name:
            found.append(info.name)
    return sorted(found)


def _is_type_checking(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")


def _ours(node: ast.ImportFrom) -> bool:
    return node.level > 0 or (node.module or "").split(".")[0] == "loopline"


def public_names(package: str) -> set[str]:
    """The names the `__init__` of package binds at its top level, without a leading underscore;
    imports only from loopline; under TYPE_CHECKING only when a module `__getattr__` serves them."""
    path = Path(importlib.import_module(package).__file__ or "")
    tree = ast.parse(path.read_text())
    lazy = any(isinstance(n, ast.FunctionDef) and n.name == "__getattr__" for n in tree.body)
    names: set[str] = set()

    def visit(body: list[ast.stmt], checking: bool) -> None:
        for node in body:
            if _is_type_checking(node):
                assert isinstance(node, ast.If)
                visit(node.body, True)
            elif isinstance(node, ast.If | ast.Try):
                visit([*node.body, *node.orelse, *getattr(node, "finalbody", [])], checking)
            elif isinstance(node, ast.ImportFrom) and _ours(node) and (lazy or not checking):
                names.update(alias.asname or alias.name for alias in node.names)
            elif checking:
                continue
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                names.update(
                    t.id for target in node.targets for t in ast.walk(target) if isinstance(t, ast.Name)
                )
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)

    visit(tree.body, False)
    module = importlib.import_module(package)
    return {
        n
        for n in names
        if (not n.startswith("_") or n in METADATA) and not isinstance(getattr(module, n, None), ModuleType)
    }


@pytest.mark.parametrize("package", packages())
def test_all_is_exactly_the_public_names(package: str) -> None:
    module = importlib.import_module(package)
    assert hasattr(module, "__all__"), f"{package} has no __all__"
    assert sorted(module.__all__) == sorted(public_names(package))
    assert len(set(module.__all__)) == len(module.__all__), "a name is listed twice"


@pytest.mark.parametrize("package", packages())
def test_every_listed_name_resolves(package: str) -> None:
    module = importlib.import_module(package)
    for name in getattr(module, "__all__", []):
        assert getattr(module, name) is not None, f"{package}.{name}"


def test_the_packages_checked_include_every_stage() -> None:
    stages = {"collect", "clean", "annotate", "split", "train", "evaluate", "registry", "serve", "monitor"}
    assert {f"loopline.{s}" for s in stages} | {"loopline", "loopline.store", "loopline.cli"} <= set(
        packages()
    )
