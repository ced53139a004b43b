"""Sharing blobs with a remote store, as DVC does: push and pull."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from loopline.cli.common import JSON, emit_json, open_project

if TYPE_CHECKING:
    from loopline.store.transfer import TransferReport

REMOTE = Annotated[
    str | None,
    typer.Option(
        "--remote", "-r", help="Blob store URL (default: `remote:` in loopline.yaml, or LOOPLINE_REMOTE)."
    ),
]


class _Bar:
    """A Rich progress bar over objects and bytes (nothing when --json)."""

    def __init__(self, label: str, quiet: bool) -> None:
        self._bar: Any = None
        if not quiet:
            from rich.progress import DownloadColumn, Progress, TextColumn, TransferSpeedColumn

            from loopline.cli.render import console

            self._bar = Progress(
                TextColumn(label),
                TextColumn("{task.fields[objects]} blobs"),
                DownloadColumn(),
                TransferSpeedColumn(),
                console=console,
                transient=True,
            )
            self._task = self._bar.add_task(label, total=None, objects=0)
            self._objects = 0

    def __enter__(self) -> _Bar:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def __call__(self, objects: int, size: int) -> None:
        if self._bar is not None:
            self._objects += objects
            self._bar.update(self._task, advance=size, objects=self._objects)


def _render(report: TransferReport, as_json: bool) -> None:
    from loopline.cli.render import console

    if as_json:
        emit_json(report.to_json())
    else:
        where = "this project" if report.direction == "push" else report.remote
        for line in report.missing:
            console.print(f"[red]missing:[/] {line} (not in {where})")
        for line in report.unreadable:
            console.print(f"[red]unreadable:[/] {line}")
        verb = "sent" if report.direction == "push" else "fetched"
        console.print(
            f"{verb} {report.copied} blob(s), {report.bytes / 1e6:.1f} MB in {report.seconds:.1f}s; "
            f"{report.already} already there, {report.referenced} referenced "
            f"({'to' if report.direction == 'push' else 'from'} {report.remote})"
        )
    if not report.ok:
        raise typer.Exit(1)


def push(remote: REMOTE = None, as_json: JSON = False) -> None:
    """Send the blobs this project's metadata points at to the remote, only those it lacks."""
    project = open_project()
    with _Bar("pushing", as_json) as bar:
        report = project.push(remote, on_progress=bar)
    _render(report, as_json)


def pull(remote: REMOTE = None, as_json: JSON = False) -> None:
    """Fetch the blobs this project's metadata points at from the remote, only those missing here."""
    project = open_project()
    with _Bar("pulling", as_json) as bar:
        report = project.pull(remote, on_progress=bar)
    _render(report, as_json)


def register(app: typer.Typer) -> None:
    for command in (push, pull):
        app.command()(command)
