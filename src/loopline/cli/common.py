"""What every command module shares: the `--json` option, JSON output and the one way to open
the project of the current folder. Kept apart so that command modules import it, not each other,
and free of Rich so that a command printing plain lines does not load it."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from loopline.project import Project

JSON = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def open_project() -> Project:
    from loopline.project import Project

    return Project.open()


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")
