"""`loopline audit log | verify | export | head`: the hash-chained audit log (docs/audit.md).
`verify` exits 1 naming the first broken link; each command is one Project call and a render."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from loopline.cli.common import JSON, emit_json, open_project

app = typer.Typer(help="The audit log: every metadata change, hash-chained.", no_args_is_help=True)


@app.command("log")
def log(
    object: Annotated[
        str | None, typer.Option("--object", help="Only this object and what is in it (iris: iris@3).")
    ] = None,
    actor: Annotated[str | None, typer.Option("--actor", help="Only events by this actor.")] = None,
    action: Annotated[
        str | None, typer.Option("--action", help="Only this action (model.promote), or a family (model.).")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1, help="At most N events.")] = None,
    as_json: JSON = False,
) -> None:
    """Audit events, newest first: when, who (and how authenticated), what, on which object."""
    events = open_project().audit_log(object=object, actor=actor, action=action, limit=limit)
    if as_json:
        from loopline.api.audit import AuditEventOut

        emit_json([AuditEventOut.of(e).model_dump(mode="json") for e in events])
        return
    from rich.markup import escape

    from loopline.cli.render import console

    if not events:
        console.print("no audit events" + (" match" if object or actor or action else " yet"))
    for e in events:
        change = "".join(
            f"  {side} {escape(text)}" for side, text in (("was", e.before), ("now", e.after)) if text
        )
        console.print(
            f"{e.seq:>6}  {e.at[:19].replace('T', ' ')}  {escape(e.actor)} [dim]({e.auth})[/]  "
            f"{escape(e.action)}  {escape(e.object)}[dim]{change}[/]"
        )


@app.command()
def verify(
    head: Annotated[
        str | None,
        typer.Option("--head", help="A head you kept (SEQ:HASH from `audit head`): it must still be there."),
    ] = None,
    as_json: JSON = False,
) -> None:
    """Check the hash chain; exit 1 naming the first broken link (edited, missing, inserted or
    reordered event, or a tail cut against the head kept)."""
    found = open_project().audit_verify(head)
    if as_json:
        from loopline.api.audit import AuditVerified

        emit_json(AuditVerified.of(found).model_dump(mode="json"))
    elif found.broken is None:
        last = f", head {found.head.seq}:{found.head.hash}" if found.head else ""
        sys.stdout.write(f"audit log intact: {found.events} events{last}\n")
    else:
        sys.stderr.write(f"audit log BROKEN at event {found.broken.seq}: {found.broken.problem}\n")
    if found.broken is not None:
        raise typer.Exit(1)


@app.command()
def export(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here (default: standard output).")
    ] = None,
) -> None:
    """Every event as JSON Lines, oldest first, with its hashes: verifiable offline."""
    project = open_project()
    if output is None:
        project.audit_export(sys.stdout)
        return
    n = project.audit_export(output)
    sys.stderr.write(f"wrote {n} events to {output}\n")


@app.command()
def head(as_json: JSON = False) -> None:
    """The last event's SEQ:HASH: publish it elsewhere, later `audit verify --head` checks it."""
    found = open_project().audit_head()
    if as_json:
        from loopline.api.audit import AuditHead

        shape = AuditHead.of(found)
        emit_json(None if shape is None else shape.model_dump(mode="json"))
    elif found is None:
        sys.stdout.write("the audit log is empty\n")
    else:
        sys.stdout.write(f"{found.seq}:{found.hash}\n")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="audit")
