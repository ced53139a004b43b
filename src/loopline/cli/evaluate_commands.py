"""Evaluation commands: card."""

from __future__ import annotations

from typing import Annotated

import typer

from loopline.cli.common import JSON, emit_json, open_project
from loopline.cli.render import console


def card(
    model: Annotated[
        str | None, typer.Argument(help="A registered model name (`loopline models` lists them).")
    ] = None,
    version: Annotated[
        str | None, typer.Argument(help="A version number or an alias (default the latest).")
    ] = None,
    artifact: Annotated[
        str | None,
        typer.Option(
            "--artifact", help="Instead of a model name: a model artifact (NAME, NAME@V, id) or a report."
        ),
    ] = None,
    as_json: JSON = False,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Markdown (the default for a terminal).")
    ] = False,
) -> None:
    """The model card of a registered model's version: intended use, data lineage, metrics with
    intervals, slices, gates, environment."""
    from loopline.core.errors import InvalidInput
    from loopline.evaluate import card_markdown

    if (model is None) == (artifact is None):
        raise InvalidInput(
            "give a registered model name, or --artifact REF, not both and not neither",
            hint="`loopline card MODEL [VERSION]`, e.g. `loopline card digits production`; "
            "`loopline models` lists the names",
        )
    project = open_project()
    if model is not None:
        artifact = project.model(model, version).artifact_id
    elif version is not None:
        raise InvalidInput("VERSION goes with a model name, not with --artifact", hint="write NAME@V")
    assert artifact is not None
    found = project.model_card(artifact)
    if as_json:
        emit_json(found)
        return
    console.print(card_markdown(found), markup=False, end="")


def register(app: typer.Typer) -> None:
    app.command()(card)
