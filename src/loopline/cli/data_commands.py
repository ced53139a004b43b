"""Data versioning commands: add, datasets, versions, diff, checkout, fsck."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from loopline.cli.pipeline_commands import JSON, open_project
from loopline.cli.render import console, emit_json


def add(
    path: Annotated[Path, typer.Argument(help="A table file (CSV, Parquet, JSON Lines) or a folder.")],
    name: Annotated[str, typer.Option("--name", "-n", help="Dataset name; the next version is created.")],
    as_json: JSON = False,
) -> None:
    """Snapshot a file or folder as the next version of NAME (nothing new, no new version)."""
    result = open_project().add(path, name)
    if as_json:
        emit_json(result.to_json())
    else:
        console.print(result.summary(), markup=False)


def datasets(as_json: JSON = False) -> None:
    """List datasets and artifacts by name, with their latest version."""
    from rich.table import Table

    found = open_project().datasets()
    if as_json:
        emit_json([art.to_json() | {"versions": n} for art, n in found])
        return
    table = Table(box=None)
    for column in ("name", "version", "kind", "rows", "size", "id", "created", "source"):
        table.add_column(column)
    for art, _ in found:
        table.add_row(
            art.name,
            str(art.version),
            art.kind,
            "" if art.rows is None else str(art.rows),
            str(art.size),
            art.id[:12],
            art.created_at.strftime("%Y-%m-%d %H:%M:%S") if art.created_at else "",
            art.source or "",
        )
    console.print(table)


def versions(name: Annotated[str, typer.Argument(help="Dataset name.")], as_json: JSON = False) -> None:
    """List every version of one name."""
    found = open_project().versions(name)
    if as_json:
        emit_json([a.to_json() for a in found])
        return
    for art in found:
        console.print(f"{art.name}@{art.version}  {art.kind}  {art.id[:12]}  rows={art.rows}  {art.source}")


def diff(
    old: Annotated[str, typer.Argument(help="NAME@VERSION")],
    new: Annotated[str, typer.Argument(help="NAME@VERSION")],
    key: Annotated[list[str] | None, typer.Option("--key", help="Key column(s) identifying a row.")] = None,
    as_json: JSON = False,
) -> None:
    """Items added, removed and changed between two versions, with a sample."""
    result = open_project().diff(old, new, key or [])
    if as_json:
        emit_json(result)
        return
    console.print(
        f"{result['name']}@{result['old']['version']} -> {result['name']}@{result['new']['version']}: "
        f"[green]+{result['added']} added[/], [red]-{result['removed']} removed[/], "
        f"[yellow]~{result['changed']} changed[/], {result['unchanged']} unchanged"
    )
    for kind in ("added", "removed", "changed"):
        for item in result["sample"][kind]:
            console.print(f"  {kind}: {item}", markup=False)


def checkout(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION (or NAME for the latest).")],
    directory: Annotated[Path, typer.Argument(help="Folder to write into.")],
) -> None:
    """Write a version back out, byte-equal to what was added."""
    written = open_project().checkout(ref, directory)
    console.print(f"wrote {len(written)} file(s) to {directory}")


def fsck(
    repair: Annotated[
        bool, typer.Option("--repair", help="Remove temp files left by killed writes.")
    ] = False,
    as_json: JSON = False,
) -> None:
    """Check every referenced blob (present, hash intact) and every metadata reference."""
    report = open_project().fsck(repair=repair)
    if as_json:
        emit_json(report.to_json())
    else:
        for kind in ("missing", "corrupt", "dangling"):
            for line in getattr(report, kind):
                console.print(f"[red]{kind}:[/] {line}")
        if report.temp_files:
            action = f"removed {report.removed_temp_files}" if repair else "remove them with --repair"
            console.print(f"{len(report.temp_files)} temp file(s) left by interrupted writes ({action})")
        console.print(
            f"checked {report.blobs_checked} blobs: "
            + ("[green]ok[/]" if report.ok else "[red]problems found[/]")
        )
    if not report.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    for command in (add, datasets, versions, diff, checkout, fsck):
        app.command()(command)
