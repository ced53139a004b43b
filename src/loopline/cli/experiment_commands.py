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
        descending=desc if key else None,
        experiment=experiment,
        limit=limit,
    )
    if as_json:
        emit_json([r.to_json() for r in found])
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
    run_a: Annotated[str, typer.Argument(help="A run id (or a unique prefix).")],
    run_b: Annotated[str, typer.Argument(help="Another run id.")],
    as_json: JSON = False,
) -> None:
    """Two runs side by side: params, latest metrics (with the difference) and tags."""
    from rich.table import Table

    from loopline.cli.common import open_project

    result = open_project().compare(run_a, run_b)
    if as_json:
        emit_json(result)
        return
    a, b = result["a"], result["b"]
    console.print(f"a: {a['run_id']} {a['name'] or ''}  b: {b['run_id']} {b['name'] or ''}")
    for section in ("params", "metrics", "tags"):
        rows: list[dict[str, Any]] = result[section]
        if not rows:
            continue
        table = Table(title=section, box=None, title_justify="left")
        for column in ("key", "a", "b", *(("b - a",) if section == "metrics" else ())):
            table.add_column(column)
        for row in rows:
            mark = "" if row["same"] else "[yellow]"
            end = "" if row["same"] else "[/]"
            values = [row["a"], row["b"]]
            cells = [_number(v) if section == "metrics" else ("-" if v is None else str(v)) for v in values]
            if section == "metrics":
                cells.append(_number(row["delta"]))
            table.add_row(f"{mark}{row['key']}{end}", *cells)
        console.print(table)


def experiments(as_json: JSON = False) -> None:
    """List experiments with their number of runs."""
    from rich.table import Table

    from loopline.cli.common import open_project

    found = open_project().experiments()
    if as_json:
        emit_json([e.to_json() for e in found])
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
