"""`loopline loop`: one turn of the loop by the `loop:` policy in loopline.yaml, or `--watch`."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from loopline.cli.pipeline_commands import JSON, open_project
from loopline.cli.render import console, emit_json


def render_turn(report: dict[str, Any]) -> None:
    watch = report.get("watch")
    if watch and "rows" in watch:
        drift = "DRIFT" if watch["drifted"] else "no drift"
        share = watch.get("drift_share")
        shown = f" ({share:.0%} of features)" if isinstance(share, float) else ""
        console.print(f"  watch: version {watch['version']}, {watch['rows']} predictions, {drift}{shown}")
        for alert in watch.get("alerts") or []:
            console.print(f"  alert: {escape(str(alert.get('rule', alert)))}")
    collect = report.get("collect")
    if collect:
        ran = ", ".join(collect["ran"]) or "nothing new"
        console.print(f"  collect: ran {escape(ran)}; {collect['cached']} steps cached")
    queue = report.get("queue")
    if queue:
        console.print(
            f"  queue: {queue['queued']} new tasks in {escape(queue['project'])}, "
            f"{queue['ranked']} ranked by uncertainty"
        )
    labels = report.get("labels")
    if labels:
        console.print(f"  labels: {labels['labels']} items labeled, {report['new_labels']} new")
    retrain = report.get("retrain")
    if retrain is None:
        console.print(f"  retrain: no ({escape(report['reason'])})")
        return
    if retrain["status"] != "succeeded":
        console.print(
            f"  retrain: [red]failed[/] in run {retrain['run_id']}: {escape(str(retrain.get('error')))}"
        )
        return
    console.print(
        f"  retrain: {escape(report['reason'])} -> version {retrain['version']} "
        f"(gates passed: {retrain['gates_passed']})"
    )
    promoted = ", ".join(retrain["promoted"]) or "nowhere"
    refused = f"; refused {escape(retrain['refused'])}" if retrain.get("refused") else ""
    console.print(f"  promoted to {promoted}{refused}")


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
    from loopline.pipeline.loop import LoopPolicy, source_signature
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
            render_turn(report)

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
