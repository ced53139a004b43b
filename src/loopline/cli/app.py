"""Entry point of the `loopline` command.

It imports the command line (cli/commands.py) and nothing else: each command's module, and what
the command needs, load when that command runs, so `loopline --help` and the read-only commands
start fast. One command is answered before the command line is even imported: `loopline add PATH
--name NAME [--json]` on a path that still holds the latest version of NAME (Project.unchanged_add
checks it without opening the metadata store). Typer, Rich and pydantic take ~0.3 s to import;
re-adding an unchanged folder without them takes about what opening the project takes. Anything
that shortcut cannot answer for sure runs the full command, which prints its usual messages.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if _add_unchanged(args):
        return
    from loopline.cli.commands import run

    run(args)


def _add_options(args: list[str]) -> tuple[str, str, bool] | None:
    """(PATH, NAME, --json) of `add PATH --name NAME [--json]` in any order click accepts, or
    None for anything else (other commands, other options, --help, a repeated option)."""
    if not args or args[0] != "add":
        return None
    path: str | None = None
    name: str | None = None
    as_json = False
    rest = iter(args[1:])
    for arg in rest:
        if arg == "--json" and not as_json:
            as_json = True
        elif arg in ("--name", "-n") and name is None:
            name = next(rest, None)
        elif arg.startswith("--name=") and name is None:
            name = arg.removeprefix("--name=")
        elif not arg.startswith("-") and path is None:
            path = arg
        else:
            return None
    return (path, name, as_json) if path and name else None


def _add_unchanged(args: list[str]) -> bool:
    """Print what `add` prints when nothing changed and return True; False, having printed
    nothing, when the project cannot say so for sure (the full command then answers)."""
    options = _add_options(args)
    if options is None:
        return False
    path, name, as_json = options
    import json
    from pathlib import Path

    from loopline.core.errors import LooplineError
    from loopline.project import Project

    try:
        project = Project.open()
    except LooplineError:  # no project, a bad loopline.yaml: the full command says what is wrong
        return False
    try:
        result = project.unchanged_add(Path(path), name)
    finally:
        project.close()
    if result is None:
        return False
    sys.stdout.write(
        (json.dumps(result.to_json(), indent=2, default=str) if as_json else result.summary()) + "\n"
    )
    return True
