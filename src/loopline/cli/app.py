"""Entry point of the `loopline` command.

It imports the command line (cli/commands.py) and nothing else: each command's module, and what
the command needs, load when that command runs, so `loopline --help` and the read-only commands
start fast. `loopline add` of a path that still holds the latest version of its name is answered
by Project.add without opening the metadata store (datasets/unchanged.py does the check).
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    from loopline.cli.commands import run

    run(sys.argv[1:] if argv is None else argv)
