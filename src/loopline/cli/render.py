"""Rendering for the CLI: one Rich console, JSON output, tables and trees."""

from __future__ import annotations

import json
import sys
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


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def styled(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"


def run_table(run: Run) -> None:
    from rich.table import Table

    console.print(
        f"run [bold]{run.id}[/]  {styled(run.status)}  executor {run.executor}"
        + (f"  reproduces {run.reproduce_of}" if run.reproduce_of else "")
    )
    table = Table(box=None, pad_edge=False)
    for column in ("step", "status", "seconds", "outputs"):
        table.add_column(column)
    for item in run.steps:
        outputs = ", ".join(f"{k}={v[:12]}" for k, v in item.outputs.items())
        table.add_row(item.name, styled(item.status), f"{item.seconds:.3f}", outputs)
    console.print(table)
    for item in run.steps:
        if item.error:
            console.print(f"[red]step {item.name} failed:[/] ", end="")
            console.print(final_error(item.error), markup=False)
            console.print(f"  full traceback: loopline show {run.id} --traceback")


def final_error(error: str) -> str:
    """The last exception of a recorded traceback with its indented lines (a gate table, the
    hint), without the frames."""
    lines = error.strip().splitlines()
    start = max((i for i, line in enumerate(lines) if line and not line.startswith(" ")), default=0)
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
