"""What `loopline collect` prints under each source: per file read, rows read / kept /
quarantined and any schema change, or why the file was refused; removed files; changes to the
version's columns. A long list is cut, never the refusals."""

from __future__ import annotations

from typing import Any

from rich.markup import escape

from loopline.cli.render import console

SHOWN = 20  # files listed in full; refused ones are always listed


def collect_report(details: dict[str, Any]) -> None:
    files: list[dict[str, Any]] = details.get("files", [])
    if details.get("reread"):
        console.print(f"  [yellow]{escape(details['reread'])}[/]")
    quiet = [f for f in files if not f.get("rejected")]
    for index, entry in enumerate(files):
        name = escape(entry["file"])
        if entry.get("rejected"):
            console.print(f"  [red]refused[/] {name}: {escape(entry['rejected'])}")
            continue
        if index >= SHOWN and not entry.get("schema_changes"):
            continue
        line = (
            f"  {name}: {entry['rows_read']} row(s) read, {entry['rows_kept']} kept, "
            f"{entry['rows_quarantined']} quarantined"
        )
        changes = entry.get("schema_changes")
        console.print(line + (f" [yellow]({escape('; '.join(changes))})[/]" if changes else ""))
    if len(quiet) > SHOWN:
        console.print(f"  … and {len(quiet) - SHOWN} more file(s) (--json lists every one)")
    for removed in details.get("removed", []):
        kept = "its rows left the version" if details.get("mirror") else "its rows stay (versions: append)"
        console.print(f"  [yellow]removed[/] {escape(removed)}: {kept}")
    for change in details.get("version_changes", []):
        console.print(f"  [yellow]schema[/] {escape(change)}")
