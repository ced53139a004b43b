"""The full command line: the Typer app, its command groups and the one table from errors to
exit codes (cli/app.py's main runs it unless its shortcut answered).

Exit codes: 0 ok, 1 a check failed (or a step failed, or the store is damaged), 2 bad usage or
bad input. A user mistake never shows a traceback.
"""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from loopline.cli import (
    annotate_automation,
    annotate_commands,
    clean_commands,
    data_commands,
    evaluate_commands,
    loop_commands,
    monitor_commands,
    pipeline_commands,
    registry_commands,
    serve_commands,
    server_commands,
    tracking_commands,
)
from loopline.cli.render import errors
from loopline.core.errors import LooplineError

app = typer.Typer(
    name="loopline",
    help="The ML data pipeline as a continuous, versioned loop.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from loopline import __version__

        sys.stdout.write(f"loopline {__version__}\n")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """The ML data pipeline as a continuous, versioned loop."""


pipeline_commands.register(app)
data_commands.register(app)
clean_commands.register(app)
annotate_commands.register(app)
annotate_automation.register(annotate_commands.app)  # errors, prelabel, prioritize
evaluate_commands.register(app)
registry_commands.register(app)
serve_commands.register(app)
server_commands.register(app)
tracking_commands.register(app)
loop_commands.register(app)
monitor_commands.register(app)


def run(argv: list[str]) -> None:
    """Run the CLI; Typer handles usage errors (exit 2), this maps loopline's own errors."""
    try:
        app(args=argv, prog_name="loopline")
    except LooplineError as exc:
        errors.print(f"[red]error:[/] {escape(exc.render())}", soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        errors.print("interrupted")
        sys.exit(130)
