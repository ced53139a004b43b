"""`loopline annotate errors|prelabel|prioritize`: label automation on a labeling project (label
errors back to the queue, model pre-labels, active-learning priorities). Registered onto the
`annotate` group of annotate_commands; each command makes one Project call and renders."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from loopline.cli.common import JSON, emit_json, open_project
from loopline.cli.render import console

NAME = Annotated[str, typer.Argument(help="Labeling project name.")]
FEATURES = Annotated[
    str | None,
    typer.Option(
        "--features",
        help="A table (NAME, NAME@VERSION or id) with an item_id column and numeric features; "
        "the tasks' own table rows if unset.",
    ),
]
COLUMNS = Annotated[
    str | None, typer.Option(help="Feature columns to use, comma-separated (default: all numeric).")
]
MODEL = Annotated[
    str,
    typer.Option(
        "--model", "-m", help="A registered model NAME[@VERSION|ALIAS] (latest by default) or a .skops file."
    ),
]


def _columns(text: str | None) -> list[str] | None:
    return [c.strip() for c in text.split(",") if c.strip()] if text else None


def errors(
    name: NAME,
    features: FEATURES = None,
    columns: COLUMNS = None,
    method: Annotated[str, typer.Option(help="How answers become the labels checked.")] = "dawid_skene",
    cv: Annotated[int, typer.Option(min=2, help="Cross-validation folds.")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of the folds and the model.")] = 0,
    suggest: Annotated[bool, typer.Option(help="Show the model's label as a suggestion.")] = True,
    as_json: JSON = False,
) -> None:
    """Find likely label errors (cleanlab on cross-validated probabilities) and serve them first."""
    report = open_project().annotate_review(
        name, features, columns=_columns(columns), method=method, cv=cv, seed=seed, suggest=suggest
    )
    if as_json:
        emit_json(report)
        return
    console.print(
        f"{report['flagged']} of {report['items']} labels look wrong in {escape(name)}; "
        "they are now first in the queue"
    )
    if report["reopened"]:
        console.print(f"{report['reopened']} of them had all their answers: reopened for one more")
    _table(report["issues"][:20], ("item_id", "given", "suggested", "quality"))


def prelabel(
    name: NAME,
    model: MODEL,
    features: FEATURES = None,
    columns: COLUMNS = None,
    min_confidence: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Suggest only at this confidence or above.")
    ] = 0.0,
    as_json: JSON = False,
) -> None:
    """Store a model's labels as suggestions (source model) that annotators confirm or correct."""
    report = open_project().annotate_prelabel(
        name, model, features, columns=_columns(columns), min_confidence=min_confidence
    )
    if as_json:
        emit_json(report)
        return
    console.print(
        f"{report['suggested']} suggestions on {escape(name)} (mean confidence "
        f"{report['mean_confidence']:.2f}; {report['below_confidence']} under {min_confidence:g})"
    )
    _table([{"label": k, "suggested": v} for k, v in report["by_label"].items()], ("label", "suggested"))


def prioritize(
    name: NAME,
    model: MODEL,
    features: FEATURES = None,
    columns: COLUMNS = None,
    strategy: Annotated[str, typer.Option(help="least_confidence, margin, entropy or random.")] = (
        "least_confidence"
    ),
    diversity: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="0: pure uncertainty; up to 1: spread over the features.")
    ] = 0.0,
    k: Annotated[
        int | None, typer.Option("--k", min=1, help="How many tasks to put first (all open).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for ties.")] = 0,
    as_json: JSON = False,
) -> None:
    """Active learning: the open tasks the model is least sure of go first in the queue."""
    report = open_project().annotate_prioritize(
        name,
        model,
        features,
        columns=_columns(columns),
        strategy=strategy,
        diversity=diversity,
        k=k,
        seed=seed,
    )
    if as_json:
        emit_json(report)
        return
    console.print(
        f"{report['prioritized']} of {report['open']} open tasks of {escape(name)} ranked by "
        f"{strategy} (diversity {diversity:g}); next: {escape(', '.join(report['next'][:5]))}"
    )


def _table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
    if not rows:
        return
    from rich.table import Table

    table = Table(box=None)
    for column in columns:
        table.add_column(column)
    for row in rows:
        cells = [row[c] for c in columns]
        table.add_row(*(f"{v:.3f}" if isinstance(v, float) else escape(str(v)) for v in cells))
    console.print(table)


def register(annotate: typer.Typer) -> None:
    """Add the commands to the `annotate` group (annotate_commands.app)."""
    annotate.command("errors")(errors)
    annotate.command("prelabel")(prelabel)
    annotate.command("prioritize")(prioritize)
