"""The output of `loopline reproduce`: per artifact, identical, within tolerance or DIFFERS, and
for one that differs what differs (schema, rows, columns with their largest differences and a
sample; a model's params and fitted attributes; a report's keys) and the likely cause."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.markup import escape

from loopline.cli.render import console

if TYPE_CHECKING:
    from loopline.core.types import Run
    from loopline.pipeline.reproduce import Comparison

SAMPLE_LINES = 3


def reproduce_json(
    original: Run, new: Run, comparisons: list[Comparison], tolerance: float | None
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "run_id": original.id,
        "reproduce_run_id": new.id,
        "identical": all(c.identical for c in comparisons),
    }
    if tolerance is not None:
        data["tolerance"] = tolerance
        data["within_tolerance"] = all(c.matches for c in comparisons)
    data["artifacts"] = [c.to_json() for c in comparisons]
    return data


def _figure(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def _gaps(item: dict[str, Any]) -> str:
    if "max_abs" not in item:
        return ""
    text = f", max abs diff {_figure(item['max_abs'])}, max rel diff {_figure(item['max_rel'])}"
    if item.get("within_tolerance"):
        text += f" (within tolerance, {item['accepted_by']})"
    return text


def _table_lines(detail: dict[str, Any]) -> list[str]:
    lines = []
    schema = detail.get("schema")
    if schema:
        for key in ("added", "removed"):
            if schema[key]:
                lines.append(f"schema: columns {key} {', '.join(schema[key])}")
        for name, (old, new) in schema["changed"].items():
            lines.append(f"schema: column {name} was {old}, now {new}")
    rows = detail["rows"]
    if rows["expected"] != rows["got"]:
        lines.append(f"rows: expected {rows['expected']}, got {rows['got']}")
    if detail.get("order_only"):
        lines.append("the same rows in another order")
    if detail.get("aligned_by"):
        lines.append(
            f"rows matched by {', '.join(detail['aligned_by'])} (their order differed): "
            f"{detail.get('only_expected', 0)} only expected, {detail.get('only_got', 0)} only got"
        )
    if detail.get("compared_rows") is not None:
        lines.append(f"columns compared row by row over the first {detail['compared_rows']} rows")
    for column in detail["columns"]:
        lines.append(
            f"column {column['name']} ({column['dtype']}): {column['rows']} of {column['of']} rows differ"
            + _gaps(column)
        )
        for row in column["sample"][:SAMPLE_LINES]:
            keys = {k: v for k, v in row.items() if k not in ("row", "expected", "got")}
            at = ", ".join(f"{k}={v}" for k, v in keys.items()) or f"row {row['row']}"
            lines.append(f"  {at}: expected {row['expected']!r} got {row['got']!r}")
    return lines


def _path_lines(label: str, items: list[dict[str, Any]]) -> list[str]:
    lines = []
    for item in items:
        if "only_in" in item:
            lines.append(f"{label} {item['path']}: only in the {item['only_in']} one")
        elif "elements" in item:
            lines.append(
                f"{label} {item['path']}: {item['elements']} of {item['of']} values differ" + _gaps(item)
            )
        else:
            lines.append(
                f"{label} {item['path']}: expected {item['expected']!r} got {item['got']!r}" + _gaps(item)
            )
    return lines


def detail_lines(detail: dict[str, Any]) -> list[str]:
    """Human lines for one artifact's difference."""
    if detail.get("error"):
        return [detail["error"]]
    kind = detail.get("kind")
    if kind == "kind":
        return [f"expected a {detail['expected']}, got a {detail['got']}"]
    if kind == "table":
        return _table_lines(detail)
    if kind == "model":
        if detail.get("class"):
            return [f"model class: expected {detail['class'][0]}, got {detail['class'][1]}"]
        return _path_lines("param", detail["params"]) + _path_lines("fitted attribute", detail["attributes"])
    if kind == "json":
        return _path_lines("key", detail["differences"])
    if kind == "blobs":
        sample = detail["sample"]
        return [
            f"files: {detail['added']} added, {detail['removed']} removed, {detail['changed']} changed"
            + (f" ({', '.join(sample['changed'])})" if sample["changed"] else "")
        ]
    return []


def print_reproduce(original: Run, new: Run, comparisons: list[Comparison], tolerance: float | None) -> None:
    for c in comparisons:
        if c.identical:
            console.print(f"[green]identical[/] {c.name}")
            continue
        mark = f"[yellow]within tolerance {tolerance:g}[/]" if c.within_tolerance else "[red]DIFFERS[/]"
        step = f" (step {c.step})" if c.step else ""
        note = f"  ({c.note})" if c.note else ""
        got = (c.got or "nothing")[:12]
        console.print(f"{mark} {c.name}{step}  expected {c.expected[:12]} got {got}{note}")
        for line in detail_lines(c.difference or {}):
            console.print(f"  {escape(line)}")
        for hint in c.hints:
            console.print(f"  [cyan]hint:[/] {escape(hint)}")
    if all(c.identical for c in comparisons):
        verdict = "all outputs bit-identical"
    elif all(c.matches for c in comparisons):
        accepted = sum(c.within_tolerance for c in comparisons)
        verdict = (
            f"[yellow]identical within tolerance {tolerance:g}[/] ({accepted} output(s) differ only by float "
            "noise within it; not bit-identical)"
        )
    else:
        verdict = "[red]outputs differ[/]" + (
            f" beyond tolerance {tolerance:g}" if tolerance is not None else ""
        )
    console.print(f"run {original.id} reproduced as {new.id}: {verdict}")
