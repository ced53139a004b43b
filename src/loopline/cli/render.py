"""Rendering for the CLI: one Rich console, JSON output, tables and trees."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rich.console import Console

if TYPE_CHECKING:
    from loopline.core.types import Run
    from loopline.pipeline.lineage import Node

console = Console(highlight=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, soft_wrap=True)

STATUS_STYLE = {
    "ran": "green",
    "cached": "cyan",
    "failed": "red",
    "skipped": "yellow",
    "succeeded": "green",
    "running": "yellow",
    "interrupted": "red",
    "fresh": "green",
    "stale": "yellow",
}


def styled(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"


def _count(rows: dict[str, Any] | None, side: str) -> str:
    value = (rows or {}).get(side)
    return "" if value is None else f"{value:,}"


def _figure(value: Any) -> str:
    return "n/a" if value is None else f"{value:.6g}" if isinstance(value, int | float) else str(value)


def run_table(run: Run, report: dict[str, Any]) -> None:
    """A run as `run` and `show RUN` print it: a row per step (status, time, rows in / out /
    quarantined, outputs), then each step's metrics and gate table (from `report`, the run's
    JSON with figures, see loopline.pipeline.figures)."""
    from rich.markup import escape
    from rich.table import Table

    console.print(
        f"run [bold]{run.id}[/]  {styled(run.status)}  executor {run.executor}"
        + (f"  reproduces {run.reproduce_of}" if run.reproduce_of else "")
    )
    table = Table(box=None, pad_edge=False)
    table.add_column("step", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("seconds", justify="right", no_wrap=True)
    for side in ("in", "out", "quarantined"):
        table.add_column(f"rows {side}" if side != "quarantined" else side, justify="right", no_wrap=True)
    table.add_column("outputs", overflow="ellipsis", max_width=60)
    for step in report["steps"]:
        outputs = ", ".join(f"{k}={v[:12]}" for k, v in step["outputs"].items())
        rows = step.get("rows")
        table.add_row(
            escape(step["name"]),
            styled(step["status"]),
            f"{step['seconds']:.3f}",
            *(_count(rows, side) for side in ("in", "out", "quarantined")),
            escape(outputs),
        )
    console.print(table)
    for step in report["steps"]:
        _step_figures(run.id, step)
    for item in run.steps:
        if item.error:
            console.print(f"[red]step {escape(item.name)} failed:[/] ", end="")
            console.print(final_error(item.error), markup=False)
            console.print(f"  full traceback: loopline show {run.id} --traceback")


def _step_figures(run_id: str, step: dict[str, Any]) -> None:
    """A step's metrics on one line and its gates as a table (each gate, value, threshold,
    pass/fail); a cached step's come from the run that computed them."""
    from rich.markup import escape
    from rich.table import Table

    metrics, gates = step.get("metrics") or {}, step.get("gates") or []
    if not metrics and not gates:
        return
    origin = step.get("recorded_in")
    where = f" (cached: as computed in run {origin})" if origin and origin != run_id else ""
    if metrics:
        shown = "  ".join(f"{escape(k)}={_figure(v)}" for k, v in sorted(metrics.items()))
        console.print(f"[bold]{escape(step['name'])}[/] metrics{where}: {shown}")
    if gates:
        table = Table(title=f"{step['name']} gates{where}", title_justify="left", box=None, pad_edge=False)
        table.add_column("gate", overflow="fold")
        table.add_column("value", justify="right", no_wrap=True)
        table.add_column("threshold", justify="right", no_wrap=True)
        table.add_column("result", no_wrap=True)
        for gate in gates:
            mark = "[green]pass[/]" if gate["passed"] else "[red]FAIL[/]"
            note = f" ({escape(gate['note'])})" if gate.get("note") else ""
            table.add_row(
                escape(str(gate["name"])) + f"[dim]{note}[/]",
                _figure(gate["value"]),
                _figure(gate["threshold"]),
                mark,
            )
        console.print(table)


def listing(
    columns: list[str],
    rows: list[list[str]],
    *,
    whole: tuple[str, ...],
    drop: tuple[str, ...] = (),
    right: tuple[str, ...] = (),
) -> None:
    """A listing that fits the terminal: the `whole` columns (names, ids a command takes) are
    never cut; while the table is too wide, the `drop` columns go, least important first; what
    is left of too long a cell is ellipsized."""
    from rich.table import Table
    from rich.text import Text

    def width(index: int) -> int:
        cells = [Text.from_markup(row[index]).cell_len for row in rows]
        return max([len(columns[index]), *cells])

    widths = {c: width(i) for i, c in enumerate(columns)}
    shown = list(columns)
    for column in drop:
        if sum(widths[c] for c in shown) + 2 * (len(shown) - 1) <= console.width:
            break
        shown.remove(column)
    table = Table(box=None, pad_edge=False)
    for column in shown:
        keep = column in whole
        table.add_column(
            column,
            justify="right" if column in right else "left",
            no_wrap=True,
            min_width=widths[column] if keep else None,
            overflow="fold" if keep else "ellipsis",
        )
    for row in rows:
        table.add_row(*(cell for column, cell in zip(columns, row, strict=True) if column in shown))
    console.print(table)


def rows_table(rows: list[dict[str, Any]], title: str | None = None) -> None:
    """Rows as a table, one column per field (the union, in first-seen order), values as JSON
    would write them. Columns are kept from the left while each fits whole (its name and cells
    up to 24 characters); the ones that do not fit the terminal are named below the table, never
    folded mid-name. Long cells fold, they are never cut."""
    from rich.markup import escape
    from rich.table import Table

    columns = list(dict.fromkeys(k for row in rows for k in row))
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    shown: list[int] = []
    used = 0
    for i, column in enumerate(columns):
        width = max([len(str(column))] + [min(len(r[i]), 24) for r in cells])
        if shown and used + width > console.width:
            break
        shown.append(i)
        used += width + 2  # two spaces of padding between columns
    table = Table(title=title, title_justify="left", box=None, pad_edge=False)
    for i in shown:
        table.add_column(escape(str(columns[i])), overflow="fold")
    for r in cells:
        table.add_row(*(r[i] for i in shown))
    console.print(table)
    if len(shown) < len(columns):
        rest = columns[len(shown) :]
        console.print(
            f"[dim]{len(rest)} more column(s) than fit: {escape(', '.join(map(str, rest)))} "
            "(a wider terminal or --json shows them)[/]"
        )


def _cell(value: Any) -> str:
    from rich.markup import escape

    if value is None:
        return "[dim]null[/]"
    if isinstance(value, str):
        return escape(value)
    return escape(json.dumps(value, default=str))


def final_error(error: str) -> str:
    """The last exception of a recorded traceback with its indented lines (a gate table, the
    hint), without the frames."""
    lines = error.strip().splitlines()
    # The exception starts at the first line at column 0 after the last frame; its message may
    # hold unindented lines of its own (polars adds the failing expression after a blank line).
    frames = [i for i, line in enumerate(lines) if line.startswith('  File "')]
    after = frames[-1] + 1 if frames else 0
    start = next((i for i in range(after, len(lines)) if lines[i][:1] not in ("", " ")), 0)
    return "\n".join(lines[start:]).removeprefix("loopline.core.errors.")


def lineage_tree(label: str, node: Node) -> None:
    from rich.tree import Tree

    def name_of(n: Node) -> str:
        art = n.artifact
        title = f"{art.name}@{art.version}" if art.name else "(unnamed)"
        via = f"  [dim]made by step {n.step}[/]" if n.step else "  [dim]added[/]"
        return f"[bold]{title}[/] {art.kind} {art.id[:12]}{via}"

    tree = Tree(f"{label}: {name_of(node)}")

    def grow(branch: Tree, n: Node) -> None:
        for child in n.children:
            grow(branch.add(name_of(child)), child)

    grow(tree, node)
    console.print(tree)
