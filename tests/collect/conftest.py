"""Projects with local sources (files, folder) in temp folders, collected through the Project API
or the `loopline` command, and the figures each collection reported."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from loopline.project import Project
from tests.conftest import write_project

PROJECT_HEADER = "steps: {}\n"


class LocalProject:
    """A project folder plus helpers: collect, load, figures of the last collection."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.figures: dict[str, dict[str, float]] = {}

    def declare(self, sources: str, steps: str = "", steps_py: str = "") -> None:
        write_project(self.root, (steps or PROJECT_HEADER) + "sources:\n" + sources, steps_py)

    def collect(self, *names: str) -> Any:
        project = Project.open(self.root)
        try:
            run = project.collect(list(names))
            assert run.status == "succeeded", [s.error for s in run.steps]
            self.figures = {}
            for metric in project.metrics(run.id):
                self.figures.setdefault(metric["step_name"].removeprefix("collect."), {})[metric["key"]] = (
                    metric["value"]
                )
            return run
        finally:
            project.close()

    def load(self, ref: str) -> Any:
        project = Project.open(self.root)
        try:
            return project.load(ref)
        finally:
            project.close()

    def versions(self, name: str) -> int:
        project = Project.open(self.root)
        try:
            return len(project.versions(name))
        finally:
            project.close()


@pytest.fixture
def local_project(tmp_path: Path) -> Iterator[Callable[[str], LocalProject]]:
    def make(sources: str, steps: str = "", steps_py: str = "") -> LocalProject:
        root = tmp_path / "proj"
        lp = LocalProject(root)
        lp.declare(sources, steps, steps_py)
        Project.init(root).close()
        return lp

    yield make
