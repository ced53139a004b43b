"""`loopline login URL` and `loopline logout [URL]`: a token checked against a `loopline server`
and kept in the user's config (api/credentials.py), so that a project whose loopline.yaml says
`project: {server: URL}` (or LOOPLINE_SERVER=URL) runs its commands there as that user.

A login saves nothing unless the server accepted the token: a refused token or a URL where no
loopline server answers is exit 2 with what to check (docs/remote.md)."""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from loopline.cli.common import JSON, emit_json
from loopline.core.errors import InvalidInput, LooplineError, Unauthorized

NOTHING_SAVED = "nothing was saved"


def _read_token(url: str) -> str:
    """From the terminal without echo, or the first line of standard input (a pipe, CI)."""
    text = getpass.getpass(f"token for {url}: ") if sys.stdin.isatty() else sys.stdin.readline()
    token = text.strip()
    if not token:
        raise InvalidInput(
            "no token given",
            hint="pass --token, type it at the prompt or pipe it in; "
            "`loopline tokens create USER` on the server makes one",
        )
    return token


def login(
    url: Annotated[str, typer.Argument(help="The loopline server, e.g. http://127.0.0.1:8000.")],
    token: Annotated[
        str | None,
        typer.Option("--token", help="The token (default: asked for without echo, or read from stdin)."),
    ] = None,
    as_json: JSON = False,
) -> None:
    """Check a token against a loopline server and keep it in your config (never in the project)."""
    from loopline.api import credentials
    from loopline.api.client import Client

    key = credentials.normalise_url(url)
    secret = token.strip() if token else _read_token(key)
    try:
        with Client(key, secret, timeout=10.0) as client:
            who = client.whoami()
    except Unauthorized as exc:
        raise Unauthorized(
            f"the server at {key} refused the token ({exc.message}); {NOTHING_SAVED}",
            hint="check the token: `loopline tokens create USER` on the server makes one",
        ) from exc
    except LooplineError as exc:  # nothing listening, a proxy's page, not JSON, not loopline's API
        raise InvalidInput(
            f"no loopline server answered at {key} ({exc.message}); {NOTHING_SAVED}",
            hint="check the URL and that `loopline server` runs there",
        ) from exc
    path = credentials.save(key, secret, who["name"], who["role"])
    if as_json:
        emit_json({"url": key, "user": who["name"], "role": who["role"], "credentials": str(path)})
        return
    sys.stdout.write(f"logged in to {key} as {who['name']} ({who['role']}); token kept in {path}\n")


def _default_server() -> str | None:
    """The server of the current project (LOOPLINE_SERVER, or its loopline.yaml's `server:`)."""
    if os.environ.get("LOOPLINE_SERVER"):
        return os.environ["LOOPLINE_SERVER"]
    from loopline.core.settings import PROJECT_FILE
    from loopline.pipeline.config import read_project_file

    start = Path.cwd()
    for folder in (start, *start.parents):
        if (folder / PROJECT_FILE).exists():
            found = read_project_file(folder / PROJECT_FILE).project.get("server")
            return str(found) if found else None
    return None


def logout(
    url: Annotated[
        str | None,
        typer.Argument(help="The server (default: this project's, or the only one logged in to)."),
    ] = None,
) -> None:
    """Forget the token kept for a loopline server."""
    from loopline.api import credentials

    target = url or _default_server()
    if target is None:
        known = sorted(credentials.saved())
        if len(known) != 1:
            raise InvalidInput(
                "which server? this folder names none",
                hint="`loopline logout URL`; logged in to: " + (", ".join(known) or "none"),
            )
        target = known[0]
    key = credentials.normalise_url(target)
    if credentials.forget(key):
        sys.stdout.write(f"logged out of {key}\n")
    else:
        sys.stdout.write(f"not logged in to {key}: nothing to forget\n")


def register(app: typer.Typer) -> None:
    app.command()(login)
    app.command()(logout)
