"""Evaluation commands: card."""

from __future__ import annotations

from typing import Annotated

import typer

from loopline.cli.pipeline_commands import JSON, open_project
from loopline.cli.render import console, emit_json


def card(
    ref: Annotated[
        str, typer.Argument(help="A model artifact (NAME, NAME@VERSION, id) or an evaluation report.")
    ],
    as_json: JSON = False,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Markdown (the default for a terminal).")
    ] = False,
) -> None:
    """The model card: intended use, data lineage, metrics with intervals, slices, gates, environment."""
    from loopline.evaluate import card_markdown

    found = open_project().model_card(ref)
    if as_json:
        emit_json(found)
        return
    console.print(card_markdown(found), markup=False, end="")


def register(app: typer.Typer) -> None:
    app.command()(card)
