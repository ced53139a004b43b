"""Data versioning commands: add, datasets, versions, revert, diff, head, checkout, fsck.

Rich loads inside the commands that render with it, not with this module: `add`, the command a
user repeats after every change, prints one plain line and so starts without it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from loopline.cli.common import JSON, emit_json, open_project


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
        sys.stdout.write(result.summary() + "\n")


def datasets(as_json: JSON = False) -> None:
    """List datasets and artifacts by name, with their latest version."""
    from rich.markup import escape

    from loopline.api.data import DatasetOut
    from loopline.cli.render import console, listing

    found = open_project().datasets()
    if as_json:
        emit_json([DatasetOut.of_latest(art, n).model_dump(mode="json") for art, n in found])
        return
    rows = [
        [
            escape(art.name or ""),
            str(art.version),
            art.kind,
            "" if art.rows is None else f"{art.rows:,}",
            f"{art.size:,}",
            art.id[:12],
            art.created_at.strftime("%Y-%m-%d %H:%M:%S") if art.created_at else "",
            escape(art.source or ""),
        ]
        for art, _ in found
    ]
    # Names are what every other command takes: never cut; at a narrow width the source (a
    # path), the creation time, the id and the size go first.
    listing(
        ["name", "version", "kind", "rows", "size", "id", "created", "source"],
        rows,
        whole=("name", "version"),
        drop=("source", "created", "id", "size"),
        right=("version", "rows", "size"),
    )
    if not found:
        console.print("no datasets yet: `loopline add PATH --name NAME` adds one")


def versions(name: Annotated[str, typer.Argument(help="Dataset name.")], as_json: JSON = False) -> None:
    """List every version of one name."""
    from loopline.api.data import ArtifactOut
    from loopline.cli.render import console

    found = open_project().versions(name)
    if as_json:
        emit_json([ArtifactOut.of(a).model_dump(mode="json") for a in found])
        return
    for art in found:
        console.print(f"{art.name}@{art.version}  {art.kind}  {art.id[:12]}  rows={art.rows}  {art.source}")


def revert(
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    version: Annotated[int, typer.Argument(help="The version whose content becomes the latest.")],
    as_json: JSON = False,
) -> None:
    """Make a new version of NAME whose content is that of VERSION (the same artifact, nothing
    copied); none when the latest version holds that content already."""
    from loopline.cli.render import console

    result = open_project().revert(name, version)
    if as_json:
        emit_json(result.to_json())
    else:
        console.print(result.summary(), markup=False)


def diff(
    old: Annotated[str, typer.Argument(help="NAME@VERSION")],
    new: Annotated[str, typer.Argument(help="NAME@VERSION")],
    key: Annotated[list[str] | None, typer.Option("--key", help="Key column(s) identifying a row.")] = None,
    as_json: JSON = False,
) -> None:
    """Items added, removed and changed between two versions, with a sample."""
    from loopline.api.data import DiffOut
    from loopline.cli.render import console, rows_table

    result = open_project().diff(old, new, key or [])
    if as_json:
        emit_json(DiffOut.model_validate(result).model_dump(mode="json"))
        return
    console.print(
        f"{result['name']}@{result['old']['version']} -> {result['name']}@{result['new']['version']}: "
        f"[green]+{result['added']} added[/], [red]-{result['removed']} removed[/], "
        f"[yellow]~{result['changed']} changed[/], {result['unchanged']} unchanged"
    )
    for kind in ("added", "removed", "changed"):
        sample = result["sample"][kind]
        if not sample:
            continue
        title = f"{kind} (first {len(sample)} of {result[kind]})"
        if result.get("kind") == "blobs":
            console.print(f"{title}:", markup=False)
            for path in sample:
                console.print(f"  {path}", markup=False)
        else:
            rows_table(sample, title)


def head(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@VERSION or an artifact id.")],
    n: Annotated[int, typer.Option("-n", "--rows", min=0, help="How many rows.")] = 10,
    as_json: JSON = False,
) -> None:
    """The first rows of a dataset version (a blob set: its first files), read lazily."""
    from loopline.api.data import ArtifactOut, HeadOut
    from loopline.cli.render import console, rows_table

    art, rows = open_project().head(ref, n)
    if as_json:
        emit_json(HeadOut(artifact=ArtifactOut.of(art), rows=rows).model_dump(mode="json"))
        return
    title = f"{art.name}@{art.version}" if art.name else art.id[:12]
    total = "" if art.rows is None else f" of {art.rows:,}"
    # Provenance columns (_item_id, _origin…) are loopline's, and wide: the data first.
    hidden = sorted({k for row in rows for k in row if k.startswith("_") and k != "_origin"})
    shown = [{k: v for k, v in row.items() if k not in hidden} for row in rows]
    rows_table(shown, f"{title}: first {len(rows)}{total} {'files' if art.kind == 'blobs' else 'rows'}")
    if hidden:
        console.print(f"[dim]not shown: {', '.join(hidden)} (--json has every column)[/]")


def checkout(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION (or NAME for the latest).")],
    directory: Annotated[Path, typer.Argument(help="Folder to write into.")],
) -> None:
    """Write a version back out, byte-equal to what was added."""
    from loopline.cli.render import console

    written = open_project().checkout(ref, directory)
    console.print(f"wrote {len(written)} file(s) to {directory}")


def fsck(
    repair: Annotated[
        bool, typer.Option("--repair", help="Remove temp files left by killed writes.")
    ] = False,
    as_json: JSON = False,
) -> None:
    """Check every referenced blob (present, hash intact) and every metadata reference."""
    from loopline.cli.render import console

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
    for command in (add, datasets, versions, revert, diff, head, checkout, fsck):
        app.command()(command)
