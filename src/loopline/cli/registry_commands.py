"""`loopline models`, `register`, `promote`, `approve`, `rollback`: the model registry. Each command
parses, makes one Project call and renders; the policy's refusals arrive as errors (exit 1)."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from loopline.cli.common import JSON, emit_json, open_project
from loopline.cli.render import console

if TYPE_CHECKING:
    from loopline.registry import ModelEvent, ModelVersion

app = typer.Typer(help="Registered models: versions, aliases, history.", invoke_without_command=True)

NAME = Annotated[str, typer.Argument(help="Registered model name.")]
VERSION = Annotated[int, typer.Argument(min=1, help="Version number.")]
ALIAS = Annotated[str, typer.Option("--alias", "-a", help="candidate, staging, production or another alias.")]
REASON = Annotated[str, typer.Option("--reason", "-r", help="Why: recorded in the history.")]
ONE_VERSION = Annotated[
    int | None, typer.Option("--version", "-v", min=1, help="Only this version (default: the model).")
]


def listing_json(items: list[dict[str, Any]]) -> str:
    """A JSON array with one item per line: valid JSON, readable, and written by the C encoder
    (an indented dump goes through Python's slow one: 1,000 models took 16 ms more)."""
    if not items:
        return "[]\n"
    return "[\n" + ",\n".join(json.dumps(item, default=str) for item in items) + "\n]\n"


@app.callback()
def models(ctx: typer.Context, as_json: JSON = False) -> None:
    """List registered models with their latest version and aliases."""
    if ctx.invoked_subcommand is not None:
        return
    found = open_project().models()
    if as_json:
        from loopline.api.models import ModelOut

        sys.stdout.write(listing_json([ModelOut.of(m).model_dump(mode="json") for m in found]))
        return
    if not found:
        console.print("no registered models yet: `loopline register NAME ARTIFACT` adds one")
        return
    from loopline.cli.render import listing

    rows = [
        [
            escape(m.name),
            str(m.latest.version) if m.latest else "-",
            str(m.versions),
            escape(", ".join(f"{a}→{v}" for a, v in m.aliases.items())),
            f"{m.updated_at:%Y-%m-%d %H:%M}",
        ]
        for m in found
    ]
    # model names are never cut; at a narrow width the update time goes, then aliases shorten
    listing(
        ["model", "latest", "versions", "aliases", "updated"],
        rows,
        whole=("model", "latest"),
        drop=("updated",),
        right=("latest", "versions"),
    )


def _version_lines(v: ModelVersion) -> None:
    gates = {True: "[green]passed[/]", False: "[red]failed[/]", None: "not gated"}[v.gates_passed]
    console.print(
        f"[bold]{escape(v.name)}[/] version {v.version}  {', '.join(v.aliases) or ''}\n"
        f"  artifact  {v.artifact_id}\n  run       {v.run_id or '-'}\n  gates     {gates}\n"
        f"  created   {v.created_at:%Y-%m-%d %H:%M:%S}"
    )
    if v.description:
        console.print(f"  {escape(v.description)}")
    for key, value in sorted(v.metrics.items()):
        console.print(f"  metric    {escape(key)} = {value:.6g}")
    if v.signature:
        inputs = ", ".join(f"{k}: {t}" for k, t in v.signature.get("inputs", {}).items())
        console.print(f"  inputs    {escape(inputs)}\n  output    {v.signature.get('output')}")


@app.command()
def show(
    name: NAME,
    version: Annotated[str | None, typer.Argument(help="A version number or an alias.")] = None,
    card: Annotated[bool, typer.Option("--card", help="Print the model card (Markdown).")] = False,
    as_json: JSON = False,
) -> None:
    """One model with all its versions, or one version (by number or alias) in detail."""
    project = open_project()
    if version is None and not card:
        model, versions = project.registry.model(name)
        if as_json:
            from loopline.api.models import ModelDetailOut

            emit_json(ModelDetailOut.of(model, versions).model_dump(mode="json"))
            return
        console.print(f"[bold]{escape(model.name)}[/]  {escape(model.description)}")
        for v in versions:
            gates = {True: "passed", False: "failed", None: "-"}[v.gates_passed]
            console.print(
                f"  {v.version:>4}  {v.artifact_id[:12]}  run {v.run_id or '-'}  gates {gates}  "
                f"{', '.join(v.aliases)}"
            )
        return
    if card:
        from loopline.registry import card_markdown

        document = project.registry.card(name, version)
        emit_json(document) if as_json else console.print(escape(card_markdown(document)), markup=True)
        return
    if as_json:  # GET /api/v1/models/NAME/versions/N: the record, its card and approvals
        from loopline.api.models import VersionDetailOut

        emit_json(VersionDetailOut.of(*project.version_detail(name, version)).model_dump(mode="json"))
        return
    _version_lines(project.model(name, version))


def _event_line(e: ModelEvent) -> str:
    if e.kind == "register":
        what = f"registered version {e.version}"
    elif e.kind == "approve":
        what = f"approved version {e.version} for {e.alias}"
    elif e.kind == "approve_removal":
        what = f"approved removing {e.alias} from version {e.version}"
    elif e.kind == "alias_delete":
        what = f"removed {e.alias} (was {e.from_version})"
    elif e.kind == "gates":
        what = f"gates of version {e.version}"
    else:
        what = f"{e.kind} {e.alias}: {e.from_version if e.from_version is not None else '-'} → {e.version}"
    reason = f"  [dim]{escape(e.reason)}[/]" if e.reason else ""
    return f"{e.at:%Y-%m-%d %H:%M:%S}  {escape(e.actor):12}  {what}{reason}"


@app.command()
def history(name: NAME, as_json: JSON = False) -> None:
    """Every transition of a model: registrations, approvals, promotions, rollbacks."""
    events = open_project().model_history(name)
    if as_json:
        from loopline.api.models import EventOut

        emit_json([EventOut.of(e).model_dump(mode="json") for e in events])
        return
    for event in events:
        console.print(_event_line(event))


def register_model(
    name: NAME,
    artifact: Annotated[str, typer.Argument(help="The model artifact: NAME, NAME@VERSION or an id.")],
    run: Annotated[
        str | None, typer.Option("--run", help="Source run (default: the run that made it).")
    ] = None,
    description: Annotated[str, typer.Option("--description", "-d", help="What this version is.")] = "",
    evaluation: Annotated[
        str | None,
        typer.Option(
            "--evaluation",
            help="The evaluate report whose gates count (default: the model's latest evaluation).",
        ),
    ] = None,
    as_json: JSON = False,
) -> None:
    """Register a model artifact as the next version of NAME, with its gate results."""
    found = open_project().register(
        name, artifact, run_id=run, description=description, evaluation=evaluation
    )
    if as_json:
        emit_json(found.to_json())
    else:
        gates = {True: "gates passed", False: "gates FAILED", None: "never gated"}[found.gates_passed]
        console.print(
            f"registered {escape(name)} version {found.version} ({found.artifact_id[:12]}), {gates}"
        )


def _by(actor: str, auth: object) -> str:
    """Who, and whether they are a local actor (nothing proved who they are but the folder)."""
    if auth == "local":
        return f"by {escape(actor)}, a local actor: auth local"
    return f"by {escape(actor)}, auth {auth}"


def _moved(result: dict[str, object], verb: str, as_json: bool) -> None:
    if as_json:
        from loopline.api.models import MovedOut

        emit_json(MovedOut.model_validate(result).model_dump(mode="json"))
        return
    before = result["from_version"] if result["from_version"] is not None else "-"
    console.print(
        f"{verb} {escape(str(result['name']))}: {result['alias']} {before} → {result['version']}"
        f"  ({_by(str(result['actor']), result.get('auth'))})"
    )


def promote(name: NAME, version: VERSION, alias: ALIAS, reason: REASON = "", as_json: JSON = False) -> None:
    """Point an alias at a version, if its gates passed and any required approval is there."""
    _moved(open_project().promote(name, version, alias, reason), "promoted", as_json)


def approve(
    name: NAME,
    version: VERSION,
    alias: ALIAS,
    reason: REASON = "",
    removal: Annotated[
        bool, typer.Option("--removal", help="Approve removing the alias from this version instead.")
    ] = False,
    as_json: JSON = False,
) -> None:
    """Approve a version for an alias (the policy may require it before a promotion)."""
    from loopline.core.identity import current

    event = open_project().approve(name, version, alias, reason, removal=removal)
    who = current()
    # a server's approval says how its approver signed in there; a local one, the principal here
    auth = getattr(event, "auth", None) or (who.auth if who is not None else "local")
    if as_json:
        from loopline.api.models import ApprovalOut

        emit_json(ApprovalOut.model_validate(event.to_json() | {"auth": auth}).model_dump(mode="json"))
    else:
        what = (
            f"removing {alias} from {escape(name)} version {version}"
            if removal
            else (f"{escape(name)} version {version} for {alias}")
        )
        console.print(f"approved {what} ({_by(event.actor, auth)})")


def rollback(
    name: NAME,
    alias: Annotated[str, typer.Option("--alias", "-a", help="The alias to roll back.")] = "production",
    reason: REASON = "",
    as_json: JSON = False,
) -> None:
    """Point an alias back at the version it had before its last promotion."""
    _moved(open_project().rollback(name, alias, reason), "rolled back", as_json)


def delete(name: NAME, version: ONE_VERSION = None, reason: REASON = "", as_json: JSON = False) -> None:
    """Delete a registered model or one version (restorable until `loopline gc`); its aliases are
    removed, under the promotion policy."""
    removed = open_project().delete_model(name, version, reason)
    what = f"{name} version {version}" if version is not None else name
    if as_json:
        emit_json({"name": name, "version": version, "deleted": True, "aliases_removed": removed})
        return
    gone = f" (aliases removed: {', '.join(removed)})" if removed else ""
    console.print(
        f"deleted {escape(what)}{gone}; `loopline models restore` brings it back until `loopline gc`"
    )


def restore(name: NAME, version: ONE_VERSION = None, reason: REASON = "", as_json: JSON = False) -> None:
    """Restore a deleted registered model (with the versions deleted with it) or one deleted
    version. Aliases are not restored: promote again."""
    count = open_project().restore_model(name, version, reason)
    if as_json:
        emit_json({"name": name, "version": version, "restored_versions": count})
        return
    what = f"{name} version {version}" if version is not None else f"{name} ({count} versions)"
    console.print(f"restored {escape(what)}")


def register(root: typer.Typer) -> None:
    app.command()(delete)
    app.command()(restore)
    root.add_typer(app, name="models")
    root.command("register")(register_model)
    for command in (promote, approve, rollback):
        root.command()(command)
