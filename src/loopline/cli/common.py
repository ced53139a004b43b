"""What every command module shares: the `--json` option and the one way to open the project of
the current folder. Kept apart so that command modules import it, not each other."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from loopline.project import Project

JSON = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def open_project() -> Project:
    from loopline.project import Project

    return Project.open()
