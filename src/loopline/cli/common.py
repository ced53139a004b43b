"""What every command module shares: the `--json` option, JSON output and the one way to open
the project of the current folder. Kept apart so that command modules import it, not each other,
and free of Rich so that a command printing plain lines does not load it."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from loopline.api.remote import RemoteProject
    from loopline.project import Project

JSON = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def open_project() -> Project | RemoteProject:
    """The project of the current folder: local, or on a server (loopline.yaml's `server:` or
    LOOPLINE_SERVER), whose commands then go through the REST API as the logged-in user."""
    from loopline.project import Project

    return Project.open()


def open_local_project() -> Project:
    """The local project of the current folder, for commands that act on its files (`server`)."""
    from loopline.project import Project

    return Project.open_local()


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


LOOPBACK = ("127.0.0.1", "::1", "localhost")
AUTH = Annotated[
    bool,
    typer.Option(
        "--auth/--no-auth",
        help="Every request needs a user's token (the default); --no-auth (loopback only): "
        "every request acts as the local admin.",
    ),
]


def check_bind(host: str, auth: bool) -> None:
    """Refuse to open a server without auth to anything but this machine."""
    if not auth and host not in LOOPBACK:
        from loopline.core.errors import InvalidInput

        raise InvalidInput(
            f"--no-auth on {host}: anyone who can reach it would act as an admin",
            hint="drop --no-auth (callers send a token), or bind 127.0.0.1",
        )
