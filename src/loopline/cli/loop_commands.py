"""`loopline loop`: one turn of the loop by the `loop:` policy in loopline.yaml, or `--watch`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from loopline.cli.common import JSON, emit_json, open_project
from loopline.cli.render import console


def loop(
    watch: Annotated[
        bool, typer.Option("--watch", help="Repeat: on the interval, or as soon as a source folder changes.")
    ] = False,
    interval: Annotated[
        float | None, typer.Option(min=1, help="Seconds between turns with --watch (default: loop.watch).")
    ] = None,
    turns: Annotated[int | None, typer.Option(min=1, help="Stop --watch after this many turns.")] = None,
    as_json: JSON = False,
) -> None:
    """One turn of the loop: watch production, collect, queue for labeling, retrain, gate, promote."""
    from loopline.pipeline.loop import LoopPolicy, describe, source_signature
    from loopline.pipeline.loop import watch as repeat

    project = open_project()
    failed = False

    def one() -> None:
        nonlocal failed
        report = project.loop_turn()
        retrain = report.get("retrain")
        failed = bool(retrain and (retrain["status"] != "succeeded" or retrain.get("refused")))
        if as_json:
            emit_json(report)
        else:
            console.rule(f"loop turn {report['turn_run']}")
            for line in describe(report):
                console.print(escape(line))

    if not watch:
        one()
    else:
        policy = LoopPolicy.parse(project.file.loop, project.file.where)
        root = project.file.path.parent
        repeat(
            one,
            lambda: source_signature(project.file.sources, root),
            interval or policy.interval,
            turns=turns,
        )
    raise typer.Exit(1 if failed else 0)


def register(app: typer.Typer) -> None:
    app.command()(loop)
