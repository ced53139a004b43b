"""Commands about experiment tracking: run search (the options of `runs`), compare, experiments."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

from loopline.cli.common import emit_json
from loopline.cli.render import console, styled

if TYPE_CHECKING:
    from loopline.core.experiments import TrackedRun

JSON = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]

# The options `loopline runs` takes for search (declared in pipeline_commands.runs).
METRIC = Annotated[
    list[str] | None,
    typer.Option("--metric", "-m", help="A metric to show (repeatable); `--sort` orders by the first."),
]
SORT = Annotated[bool, typer.Option("--sort", help="Order by the first --metric (missing values last).")]
DESC = Annotated[bool, typer.Option("--desc", help="Largest first.")]
FILTER = Annotated[
    list[str] | None,
    typer.Option(
        "--filter",
        "-f",
        help="params.C=1, metrics.f1>0.9, tags.team=x, status=succeeded (repeatable; all must hold).",
    ),
]
EXPERIMENT = Annotated[str | None, typer.Option("--experiment", "-e", help="Only this experiment's runs.")]
ORDER_BY = Annotated[
    str | None, typer.Option("--order-by", help="metrics.K, params.K, tags.K, start_time, name or status.")
]


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.6g}"


def search(
    *,
    metric: Sequence[str],
    sort: bool,
    desc: bool,
    filters: Sequence[str],
    experiment: str | None,
    order_by: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """`loopline runs` with search options: one Project call, then a table or JSON."""
    from rich.markup import escape

    from loopline.cli.common import open_project
    from loopline.cli.render import listing

    if sort and not metric and not order_by:
        raise typer.BadParameter(
            "--sort orders by the first --metric; give --metric NAME", param_hint="--sort"
        )
    key = order_by or (f"metrics.{metric[0]}" if sort else None)
    found = open_project().search_runs(
        list(filters),
        order_by=key,
        descending=True if desc and key else None,  # without --desc, `--order-by "K DESC"` holds
        experiment=experiment,
        limit=limit,
    )
    if as_json:
        from loopline.api.experiments import RunOut

        emit_json([RunOut.of(r).model_dump(mode="json") for r in found])
        return
    shown = list(metric) or _common_metrics(found)
    rows = []
    for r in found:
        params = ", ".join(f"{k}={v}" for k, v in r.params.items())
        rows.append(
            [
                r.id,
                escape(r.name or "-"),
                styled(r.status),
                r.started_at.strftime("%Y-%m-%d %H:%M:%S"),
                *(_number(r.metrics.get(m)) for m in shown),
                escape(params if len(params) <= 60 else params[:57] + "..."),
            ]
        )
    # run ids and names are never cut; at a narrow width the params, then the start time go
    listing(
        ["run", "name", "status", "started", *shown, "params"],
        rows,
        whole=("run", "name"),
        drop=("params", "started"),
        right=tuple(shown),
    )
    if not found:
        console.print("no run matches")


def _common_metrics(found: Sequence[TrackedRun], most: int = 4) -> list[str]:
    counts: dict[str, int] = {}
    for r in found:
        for key in r.metrics:
            counts[key] = counts.get(key, 0) + 1
    return sorted(counts, key=lambda k: (-counts[k], k))[:most]


def compare(
    run_ids: Annotated[
        list[str], typer.Argument(help="2 to 10 run ids (or unique prefixes); the first is the baseline.")
    ],
    as_json: JSON = False,
) -> None:
    """Runs side by side: params, latest metrics (with each one's difference to the first run's)
    and tags; keys whose values differ are highlighted."""
    from rich.markup import escape
    from rich.table import Table

    from loopline.api.experiments import CompareOut
    from loopline.cli.common import open_project

    result = CompareOut.of(open_project().compare(*run_ids))
    if as_json:
        emit_json(result.model_dump(mode="json"))
        return
    letters = [chr(ord("a") + n) for n in range(len(result.runs))]
    console.print(
        "  ".join(
            f"{x}: {r.run_id} {escape(r.name or '')}" for x, r in zip(letters, result.runs, strict=True)
        )
    )
    sections: list[tuple[str, list[Any]]] = [
        ("params", result.params),
        ("metrics", result.metrics),
        ("tags", result.tags),
    ]
    for section, rows in sections:
        if not rows:
            continue
        table = Table(title=section, box=None, title_justify="left")
        deltas = [f"{x} - a" for x in letters[1:]] if section == "metrics" else []
        for column in ("key", *letters, *deltas):
            table.add_column(column)
        for row in rows:
            mark, end = ("", "") if row.same else ("[yellow]", "[/]")
            if section == "metrics":
                cells = [_number(v) for v in row.values] + [_number(d) for d in row.deltas[1:]]
            else:
                cells = [escape("-" if v is None else str(v)) for v in row.values]
            table.add_row(f"{mark}{escape(row.key)}{end}", *cells)
        console.print(table)


def experiments(as_json: JSON = False) -> None:
    """List experiments with their number of runs."""
    from rich.table import Table

    from loopline.cli.common import open_project

    found = open_project().experiments()
    if as_json:
        from loopline.api.experiments import ExperimentOut

        emit_json([ExperimentOut.of(e).model_dump(mode="json") for e in found])
        return
    table = Table(box=None)
    for column in ("id", "name", "runs", "created"):
        table.add_column(column)
    for e in found:
        table.add_row(str(e.id), e.name, str(e.runs or 0), e.created_at.strftime("%Y-%m-%d %H:%M:%S"))
    console.print(table)
    if not found:
        console.print("no experiments yet: `with project.start_run(experiment=...)` or a tune step makes one")


def register(app: typer.Typer) -> None:
    for command in (compare, experiments):
        app.command()(command)
