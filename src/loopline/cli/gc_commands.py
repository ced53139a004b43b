"""`loopline gc` (remove for good what was deleted, as `mlflow gc`), and `loopline models delete
| restore` (the MLflow API deletes models and versions too; a restore has no MLflow call). Each
command parses, makes one Project call and renders."""

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

NAME = Annotated[str, typer.Argument(help="Registered model name.")]
ONE_VERSION = Annotated[
    int | None, typer.Option("--version", "-v", min=1, help="Only this version (default: the model).")
]
REASON = Annotated[str, typer.Option("--reason", "-r", help="Why: recorded in the history.")]


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


def delete(name: NAME, version: ONE_VERSION = None, reason: REASON = "", as_json: JSON = False) -> None:
    """Delete a registered model or one version (restorable until `loopline gc`); its aliases are
    removed, under the promotion policy."""
    removed = open_project().delete_model(name, version, reason)
    what = f"{name} version {version}" if version is not None else name
    if as_json:
        emit_json({"name": name, "version": version, "deleted": True, "aliases_removed": removed})
        return
    gone = f" (aliases removed: {', '.join(removed)})" if removed else ""
    console.print(
        f"deleted {escape(what)}{gone}; `loopline models restore` brings it back until `loopline gc`"
    )


def restore(name: NAME, version: ONE_VERSION = None, reason: REASON = "", as_json: JSON = False) -> None:
    """Restore a deleted registered model (with the versions deleted with it) or one deleted
    version. Aliases are not restored: promote again."""
    count = open_project().restore_model(name, version, reason)
    if as_json:
        emit_json({"name": name, "version": version, "restored_versions": count})
        return
    what = f"{name} version {version}" if version is not None else f"{name} ({count} versions)"
    console.print(f"restored {escape(what)}")


def register(root: typer.Typer) -> None:
    root.command()(gc)
