"""The full command line: the Typer app, its lazily loaded commands and the one table from errors
to exit codes (cli/app.py's main runs it).

A command's module is imported only when that command runs: `loopline runs` loads
pipeline_commands alone, and `loopline --help` none of them (it lists COMMANDS, whose one-line
helps tests/e2e/test_cli_latency.py checks against the commands' own docstrings). This is Click's
LazyGroup pattern, on Typer's group class.

Exit codes: 0 ok, 1 a check failed (or a step failed, or the store is damaged), 2 bad usage or
bad input. A user mistake never shows a traceback.
"""

from __future__ import annotations

import importlib
import sys
from functools import cache
from typing import Any

import typer
from typer.core import TyperGroup

from loopline.core.errors import (
    CheckFailed,
    Conflict,
    Forbidden,
    Integrity,
    InvalidInput,
    LooplineError,
    NotFound,
    StepFailed,
    StorageError,
    TooManyRequests,
    Unauthorized,
)

# class -> exit code, as core/errors.py draws it; the most specific class listed wins (ConfigError
# and RowsRejected are InvalidInput's). 2: the user can fix the input; 1: a check or the store said no.
EXIT_CODES: dict[type[LooplineError], int] = {
    InvalidInput: 2,
    NotFound: 2,
    Conflict: 2,
    Unauthorized: 2,
    Forbidden: 2,
    TooManyRequests: 1,
    Integrity: 1,
    StorageError: 1,
    StepFailed: 1,
    CheckFailed: 1,
    LooplineError: 1,
}


def exit_code(exc: LooplineError) -> int:
    return next(EXIT_CODES[cls] for cls in type(exc).__mro__ if cls in EXIT_CODES)


# Every top-level command: the cli module whose register() adds it, and its help line, in the
# order `--help` lists them.
COMMANDS: dict[str, tuple[str, str]] = {
    "init": (
        "pipeline_commands",
        "Create a project: loopline.yaml and .loopline/ (metadata database, blob folder).",
    ),
    "run": ("pipeline_commands", "Run the pipeline in dependency order; unchanged steps are cache hits."),
    "collect": (
        "pipeline_commands",
        "Collect what is new from the declared sources; nothing new, no new version.",
    ),
    "status": ("pipeline_commands", "Which steps are stale, and why (code, params, input)."),
    "runs": (
        "pipeline_commands",
        "List runs, newest first, each with its number of tuning trials (`--all` lists them under it); "
        "with --metric, --filter, --sort or --experiment, search every run, trials among them.",
    ),
    "show": (
        "pipeline_commands",
        "Show one run (its steps, outputs and environment), or a model and its test-set reads.",
    ),
    "lineage": ("pipeline_commands", "Ancestors and descendants of an artifact, as a tree."),
    "reproduce": (
        "pipeline_commands",
        "Re-execute a run's steps without cache and compare every output id; for each that differs, "
        "what differs and the likely cause (exit 1 on a difference beyond the tolerance).",
    ),
    "demo": ("pipeline_commands", "Create a demo project and run the example pipeline end to end."),
    "add": (
        "data_commands",
        "Snapshot a file or folder as the next version of NAME (nothing new, no new version).",
    ),
    "datasets": ("data_commands", "List datasets and artifacts by name, with their latest version."),
    "versions": ("data_commands", "List every version of one name."),
    "revert": (
        "data_commands",
        "Make a new version of NAME whose content is that of VERSION (the same artifact, nothing "
        "copied); none when the latest version holds that content already.",
    ),
    "diff": ("data_commands", "Items added, removed and changed between two versions, with a sample."),
    "head": (
        "data_commands",
        "The first rows of a dataset version (a blob set: its first files), read lazily.",
    ),
    "checkout": ("data_commands", "Write a version back out, byte-equal to what was added."),
    "fsck": (
        "data_commands",
        "Check every referenced blob (present, hash intact) and every metadata reference.",
    ),
    "push": (
        "sharing_commands",
        "Send the blobs this project's metadata points at to the remote, only those it lacks.",
    ),
    "pull": (
        "sharing_commands",
        "Fetch the blobs this project's metadata points at from the remote, only those missing here.",
    ),
    "validate": (
        "clean_commands",
        "Check a table against its expectations in loopline.yaml; exit 1 when one fails.",
    ),
    "export": ("clean_commands", "Write a table artifact to Parquet, CSV or JSON Lines."),
    "card": (
        "evaluate_commands",
        "The model card of a registered model's version: intended use, data lineage, metrics with "
        "intervals, slices, gates, environment.",
    ),
    "register": (
        "registry_commands",
        "Register a model artifact as the next version of NAME, with its gate results.",
    ),
    "promote": (
        "registry_commands",
        "Point an alias at a version, if its gates passed and any required approval is there.",
    ),
    "approve": (
        "registry_commands",
        "Approve a version for an alias (the policy may require it before a promotion).",
    ),
    "rollback": ("registry_commands", "Point an alias back at the version it had before its last promotion."),
    "serve": (
        "serve_commands",
        "Serve a registered model: POST /predict, POST /feedback, /health, /ready, /metrics, /model "
        "(all but /health and /ready need a token of the project's users, unless --no-auth).",
    ),
    "score": (
        "serve_commands",
        "Score every row of a dataset with a registered model into a table artifact (item ids or key "
        "columns, prediction, confidence), with lineage to the model and the dataset.",
    ),
    "login": (
        "login_commands",
        "Check a token against a loopline server and keep it in your config (never in the project).",
    ),
    "logout": ("login_commands", "Forget the token kept for a loopline server."),
    "server": (
        "server_commands",
        "Serve the dashboard, annotation UI, REST API and MLflow API; every route needs a token of the "
        "project's users (`loopline users add`), unless --no-auth on loopback.",
    ),
    "compare": (
        "experiment_commands",
        "Runs side by side: params, latest metrics (with each one's difference to the first run's) "
        "and tags; keys whose values differ are highlighted.",
    ),
    "experiments": ("experiment_commands", "List experiments with their number of runs."),
    "loop": (
        "loop_commands",
        "One turn of the loop: watch production, collect, queue for labeling, retrain, gate, promote.",
    ),
    "monitor": (
        "monitor_commands",
        "Compare a production window with the model's training reference; fire alert rules. "
        "With --reports or --timeline, show the reports stored before instead.",
    ),
    "drift": (
        "monitor_commands",
        "Data-only drift, no model: CURRENT against REFERENCE with monitor's tests and threshold "
        "(`monitor.drift` in loopline.yaml). Exit 1 when it drifted over the threshold.",
    ),
    # groups (their own --help lists their commands)
    "annotate": ("annotate_commands", "Labeling projects: tasks, annotators, answers, consensus labels."),
    "models": ("registry_commands", "Registered models: versions, aliases, history."),
    "users": ("users_commands", "Users of a shared server: roles, kinds, grants."),
    "tokens": ("users_commands", "Users' tokens: create (shown once), list, revoke."),
    "audit": ("audit_commands", "The audit log: every metadata change, hash-chained."),
    "gc": (
        "gc_commands",
        "Remove for good what was deleted (runs, experiments, logged models, registered models and "
        "versions); pipeline runs with lineage, and what a registered version comes from, are kept.",
    ),
}


class _Listed(typer.core.TyperCommand):
    """What `--help` and shell completion see of a command not loaded yet: its name and help."""


@cache
def load_module(module: str) -> dict[str, Any]:
    """The click commands one cli module registers (once per process: registering twice would
    add the annotate group's commands twice)."""
    found = importlib.import_module(f"loopline.cli.{module}")
    holder = typer.Typer(add_completion=False)
    found.register(holder)
    if module == "annotate_commands":
        from loopline.cli import annotate_automation

        annotate_automation.register(found.app)  # errors, prelabel, prioritize
    return dict(typer.main.get_group(holder).commands)


class LazyGroup(TyperGroup):
    """The root group: every command listed from COMMANDS, imported when it is invoked."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for name, (_, text) in COMMANDS.items():
            self.commands.setdefault(name, _Listed(name=name, help=text))

    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, Any, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if isinstance(command, _Listed) and name is not None:
            command = self.commands[name] = load_module(COMMANDS[name][0])[name]
        return name, command, rest


app = typer.Typer(
    name="loopline",
    cls=LazyGroup,
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
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """The ML data pipeline as a continuous, versioned loop."""


def run(argv: list[str]) -> None:
    """Run the CLI; Typer handles usage errors (exit 2), this maps loopline's own errors."""
    try:
        app(args=argv, prog_name="loopline")
    except LooplineError as exc:
        from rich.markup import escape

        from loopline.cli.render import errors

        errors.print(f"[red]error:[/] {escape(exc.render())}", soft_wrap=True)
        sys.exit(exit_code(exc))
    except KeyboardInterrupt:
        from loopline.cli.render import errors

        errors.print("interrupted")
        sys.exit(130)
