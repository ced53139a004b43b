"""`loopline gc`: remove for good what was deleted (as `mlflow gc`); `loopline models delete |
restore` are in registry_commands.py. The command parses, makes one Project call and renders."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

import typer
from rich.markup import escape

from loopline.cli.common import JSON, emit_json, open_project
from loopline.cli.render import console
from loopline.core.errors import InvalidInput

_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def duration(text: str) -> timedelta:
    found = _DURATION.match(text.strip())
    if not found:
        raise InvalidInput(
            f"{text!r} is not a duration",
            where="--older-than",
            hint="a number and a unit: 0s, 90m, 12h, 30d, 8w",
        )
    return timedelta(**{_UNITS[found[2]]: int(found[1])})


def gc(
    older_than: Annotated[
        str | None,
        typer.Option("--older-than", help="Only what was deleted at least this long ago (30d, 12h)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would go; remove nothing.")] = False,
    as_json: JSON = False,
) -> None:
    """Remove for good what was deleted (runs, experiments, logged models, registered models and
    versions); pipeline runs with lineage, and what a registered version comes from, are kept.

    Each removal is one transaction with an audit event; the audit events of what goes stay.
    Blobs stay in the blob store (content-addressed, possibly shared): gc removes rows only."""
    age = duration(older_than) if older_than is not None else None
    report = open_project().gc(age, dry_run=dry_run)
    if as_json:
        emit_json(report.to_json())
        return
    verb = "would remove" if dry_run else "removed"
    parts: list[tuple[str, list[str] | list[int]]] = [
        ("registered models", report.models),
        ("model versions", report.versions),
        ("experiments", report.experiments),
        ("runs", report.runs),
        ("logged models", report.logged_models),
    ]
    done = [f"{len(items)} {what}" for what, items in parts if items]
    console.print(f"{verb} {', '.join(done)}" if done else "nothing deleted to remove")
    for what, items in parts:
        for item in items:
            console.print(f"  {what[:-1]} {escape(str(item))}")
    for kept in report.kept:
        console.print(f"kept {kept['kind']} {escape(kept['name'])}: {escape(kept['why'])}")


def register(root: typer.Typer) -> None:
    root.command()(gc)
