"""Entry point of the `loopline` command.

It imports the command line (cli/commands.py) and nothing else: each command's module, and what
the command needs, load when that command runs, so `loopline --help` and the read-only commands
start fast (tests/e2e/test_cli_latency.py checks which libraries each one loads).
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    from loopline.cli.commands import run

    run(sys.argv[1:] if argv is None else argv)
