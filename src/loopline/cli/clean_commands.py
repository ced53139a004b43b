"""Clean commands: validate a dataset against its expectations, export a table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from loopline.cli.common import JSON, emit_json, open_project
from loopline.cli.render import console


def validate(
    dataset: Annotated[
        str, typer.Argument(help="NAME or NAME@VERSION; its checks are under `expectations:`.")
    ],
    as_json: JSON = False,
) -> None:
    """Check a table against its expectations in loopline.yaml; exit 1 when one fails."""
    from loopline.clean import render_validation

    report = open_project().validate(dataset)
    if as_json:
        emit_json(report)
    else:
        title = f"{report['dataset']}@{report['version']}" if report["version"] else report["id"][:12]
        style = "green" if report["passed"] else "red"
        text = escape(render_validation(report))
        console.print(f"{title}: [{style}]{text.splitlines()[0]}[/]", soft_wrap=True)
        for line in text.splitlines()[1:]:
            console.print(line.replace(" FAIL ", " [red]FAIL[/] "), soft_wrap=True)
    if not report["passed"]:
        raise typer.Exit(1)


def export(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@VERSION or an artifact id.")],
    path: Annotated[Path, typer.Argument(help="File to write (replaced atomically).")],
    fmt: Annotated[
        str | None, typer.Option("--format", "-f", help="parquet, csv or jsonl; from the suffix if unset.")
    ] = None,
    as_json: JSON = False,
) -> None:
    """Write a table artifact to Parquet, CSV or JSON Lines."""
    art, written = open_project().export(ref, path, fmt)
    if as_json:
        emit_json({"artifact": art.to_json(), "path": str(written)})
    else:
        console.print(f"wrote {art.rows} rows of {art.name or art.id[:12]} to {written}")


def register(app: typer.Typer) -> None:
    for command in (validate, export):
        app.command()(command)
