"""Commands about projects and pipelines: init, run, status, runs, show, lineage, reproduce, demo."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from loopline.cli import experiment_commands
from loopline.cli.collect_report import collect_report
from loopline.cli.common import JSON, emit_json, open_project
from loopline.cli.render import console, final_error, lineage_tree, run_table, styled

if TYPE_CHECKING:
    from loopline.api.remote import RemoteProject
    from loopline.core.experiments import TrackedRun
    from loopline.core.types import Run
    from loopline.project import Project

EXECUTOR = Annotated[str, typer.Option("--executor", help="local or dask.")]
JOBS = Annotated[int, typer.Option("--jobs", "-j", min=1, help="Steps run in parallel.")]
DASK = Annotated[
    str | None, typer.Option("--dask-address", help="Scheduler address; a LocalCluster if unset.")
]


class Progress:
    """Live display of a run: a bar over the steps and a line per finished step."""

    def __init__(self, total: int, quiet: bool) -> None:
        self.quiet = quiet
        self._bar: Any = None
        if not quiet:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                console=console,
                transient=True,
            )
            self._task = self._bar.add_task("running", total=total)
            self._bar.start()

    def __call__(self, kind: str, name: str, details: dict[str, Any]) -> None:
        if self.quiet or self._bar is None:
            return
        if kind == "start":
            self._bar.update(self._task, description=f"running {name}")
            return
        seconds = f" {details['seconds']:.2f}s" if "seconds" in details else ""
        note = " (cache hit, not recomputed)" if kind == "cached" else ""
        self._bar.console.print(f"  {styled(kind)} {name}{seconds}{note}")
        self._bar.advance(self._task)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def init(
    directory: Annotated[Path, typer.Argument(help="Project folder.")] = Path("."),
    store: Annotated[str | None, typer.Option(help="Metadata store URL (PostgreSQL for teams).")] = None,
    blobs: Annotated[str | None, typer.Option(help="Blob store location (any fsspec URL).")] = None,
    server: Annotated[
        str | None,
        typer.Option(help="A remote project: every command goes to this loopline server (docs/remote.md)."),
    ] = None,
) -> None:
    """Create a project: loopline.yaml and .loopline/ (metadata database, blob folder)."""
    from loopline.project import Project

    if server is not None:
        from loopline.api.remote import write_remote_project
        from loopline.core.errors import InvalidInput

        if store or blobs:
            raise InvalidInput(
                "--server with --store or --blobs: a remote project's stores are the server's",
                hint="give --server alone",
            )
        path = write_remote_project(directory.absolute(), server)
        console.print(
            f"initialised a remote project in {path.parent} for {server}\n"
            f"  `loopline login {server}` once, then every command goes there",
            markup=False,
        )
        return
    project = Project.init(directory, store=store, blobs=blobs)
    console.print(
        f"initialised loopline project in {project.root}\n"
        f"  metadata: {project.settings.store_url}\n  blobs:    {project.settings.blobs_url}"
    )


def run(
    targets: Annotated[
        list[str] | None, typer.Argument(help="Steps or outputs to make (default all).")
    ] = None,
    executor: EXECUTOR = "local",
    jobs: JOBS = 1,
    dask_address: DASK = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Recompute every step.")] = False,
    as_json: JSON = False,
) -> None:
    """Run the pipeline in dependency order; unchanged steps are cache hits."""
    project = open_project()
    pipeline = project.pipeline()
    progress = Progress(len(pipeline.select(targets or [])), quiet=as_json)
    try:
        result = project.run(
            pipeline,
            targets=targets or [],
            executor=executor,
            jobs=jobs,
            dask_address=dask_address,
            use_cache=not no_cache,
            on_event=progress,
        )
    finally:
        progress.stop()
    report = project.run_report(result)
    if as_json:
        emit_json(report)
    else:
        run_table(result, report)
        cached = sum(s.status == "cached" for s in result.steps)
        if cached == len(result.steps):
            console.print(f"all {cached} steps were cache hits: nothing recomputed")
    if result.status != "succeeded":
        raise typer.Exit(1)


def collect(
    sources: Annotated[list[str] | None, typer.Argument(help="Sources to collect (default all).")] = None,
    as_json: JSON = False,
) -> None:
    """Collect what is new from the declared sources; nothing new, no new version."""
    project = open_project()
    result = project.collect(sources or [])
    details = project.collect_details(result.id)
    if as_json:
        emit_json(result.to_json() | {"metrics": project.metrics(result.id), "sources": details})
    else:
        figures: dict[str, dict[str, float]] = {}
        for metric in project.metrics(result.id):
            figures.setdefault(metric["step_name"], {})[metric["key"]] = metric["value"]
        for item in result.steps:
            name = item.name.removeprefix("collect.")
            if item.status != "ran":
                console.print(f"{styled(item.status)} {name}: {final_error(item.error or '')}", markup=False)
                continue
            got = figures.get(item.name, {})
            dropped = f", {int(got['dropped'])} dropped" if got.get("dropped") else ""
            console.print(
                f"{styled('ran')} {name}: {int(got.get('added', 0))} new item(s){dropped}, "
                f"{int(got.get('items', 0))} in all, {int(got.get('quarantined', 0))} quarantined "
                f"({got.get('seconds', 0):.2f}s)"
            )
            collect_report(details.get(name, {}))
    if result.status != "succeeded":
        raise typer.Exit(1)
    if any(f.get("rejected") for d in details.values() for f in d.get("files", [])):
        raise typer.Exit(2)  # bad input: a file was refused whole (the others are stored)


def status(as_json: JSON = False) -> None:
    """Which steps are stale, and why (code, params, input)."""
    states = open_project().status()
    if as_json:
        from loopline.api.pipeline import PipelineStatusOut

        emit_json(PipelineStatusOut.of(states).model_dump(mode="json"))
        return
    for state in states:
        reasons = f"  ({'; '.join(state.reasons)})" if state.reasons else ""
        console.print(f"{styled(state.state)} {state.name}{reasons}")
    if all(s.state == "fresh" for s in states):
        console.print("everything is up to date")


def runs(
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
    show_all: Annotated[
        bool, typer.Option("--all", help="Also list each run's tuning trials, folded under it.")
    ] = False,
    as_json: JSON = False,
    metric: experiment_commands.METRIC = None,
    sort: experiment_commands.SORT = False,
    desc: experiment_commands.DESC = False,
    filters: experiment_commands.FILTER = None,
    experiment: experiment_commands.EXPERIMENT = None,
    order_by: experiment_commands.ORDER_BY = None,
) -> None:
    """List runs, newest first, each with its number of tuning trials (`--all` lists them under
    it); with --metric, --filter, --sort or --experiment, search every run, trials among them."""
    if metric or sort or desc or filters or experiment or order_by:
        experiment_commands.search(
            metric=metric or [],
            sort=sort,
            desc=desc,
            filters=filters or [],
            experiment=experiment,
            order_by=order_by,
            limit=limit,
            as_json=as_json,
        )
        return
    project = open_project()
    found = project.runs(limit, top_level=True)
    ids = [r.id for r in found]
    children = project.child_runs(ids) if show_all else {}  # trials in full only for --all
    counts = {k: len(v) for k, v in children.items()} if show_all else project.child_counts(ids)
    if as_json:
        from loopline.api.pipeline import PipelineRunOut

        # PipelineRunOut, as GET /api/v1/pipeline-runs lists; --all adds each run's trials
        emit_json(
            [
                PipelineRunOut.of(r, counts[r.id]).model_dump(mode="json")
                | ({"children": [c.to_json() for c in children[r.id]]} if show_all else {})
                for r in found
            ]
        )
        return
    _runs_table(found, children, counts, show_all)


def _runs_table(
    found: list[Run], children: dict[str, list[TrackedRun]], counts: dict[str, int], show_all: bool
) -> None:
    """Run ids, trial names and start times are never cut (ids are what `show` takes); at a
    narrow width the last column, the details, folds instead."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    table.add_column("run", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("started", no_wrap=True)
    table.add_column("steps", overflow="fold")
    for r in found:
        ran = sum(s.status == "ran" for s in r.steps)
        cached = sum(s.status == "cached" for s in r.steps)
        trials = children.get(r.id, [])
        details = [f"{len(r.steps)}: {ran} ran, {cached} cached" if r.steps else "none"]
        details += [f"{counts[r.id]} trials"] if counts.get(r.id) else []
        details += [r.executor] if r.executor != "local" else []
        table.add_row(r.id, styled(r.status), f"{r.started_at:%Y-%m-%d %H:%M:%S}", "; ".join(details))
        for child in trials if show_all else []:
            figures = ", ".join(f"{k}={v:.4g}" for k, v in sorted(child.metrics.items()))
            table.add_row(
                f"  {escape(child.name or child.id)}",
                styled(child.status),
                f"{child.started_at:%Y-%m-%d %H:%M:%S}",
                f"trial {escape(figures)}",
            )
    console.print(table)
    if not found:
        console.print("no runs yet: `loopline run` runs the pipeline")
    elif not show_all and any(counts.values()):
        console.print("[dim]trials are folded under their run: `loopline runs --all` lists them[/]")


def _show_model(project: Project | RemoteProject, name: str, as_json: bool) -> bool:
    """A registered model's versions with how often each one's sealed test set was read;
    False when no model has that name."""
    from loopline.core.errors import NotFound

    try:
        model, versions = project.registry.model(name)
    except NotFound:
        return False
    rows: list[dict[str, Any]] = []
    for v in versions:
        card = project.version_card(v)  # None for a version nothing evaluated
        tests = [d for d in (card or {}).get("data", []) if d["role"] == "test"]
        rows.append(
            {
                "version": v.version,
                "aliases": list(v.aliases),
                "gates_passed": v.gates_passed,
                "test_sets": [
                    {"name": t["name"], "version": t["version"], "reads": t.get("reads", 0)} for t in tests
                ],
            }
        )
    if as_json:
        emit_json({"model": model.name, "versions": rows})
        return True
    for row in rows:
        sets = (
            "; ".join(
                f"test set {t['name']}@{t['version']} read {t['reads']} time(s)" for t in row["test_sets"]
            )
            or "never evaluated on a sealed test set"
        )
        aliases = f" ({', '.join(row['aliases'])})" if row["aliases"] else ""
        console.print(f"{model.name} v{row['version']}{aliases}: {sets}")
    return True


def show(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix), or a registered model name.")],
    traceback: Annotated[bool, typer.Option("--traceback", help="Show failed steps' tracebacks.")] = False,
    as_json: JSON = False,
) -> None:
    """Show one run (its steps, outputs and environment), or a model and its test-set reads."""
    from loopline.core.errors import NotFound

    project = open_project()
    try:
        found = project.show(run_id)
    except NotFound:
        if _show_model(project, run_id, as_json):
            return
        raise
    if as_json:
        from loopline.api.pipeline import PipelineRunReportOut

        emit_json(PipelineRunReportOut.of(project, found).model_dump(mode="json"))
        return
    env = project.environment(found.environment_id) if found.environment_id else None
    report = project.run_report(found)
    run_table(found, report)
    for read in project.sealed_reads(found):
        title = f"{read['name']}@{read['version']}" if read["name"] else read["artifact_id"][:12]
        console.print(
            f"step {read['step']} read the sealed test set {title}: read {read['reads']} time(s) in all runs"
        )
    if env:
        console.print(
            f"environment {env.id[:12]}: Python {env.python}, {env.platform}, "
            f"loopline {env.loopline}, {len(env.packages)} packages ({env.packages_hash[:12]})"
        )
    if found.git_commit:
        console.print(f"git {found.git_commit[:12]}{' (dirty)' if found.git_dirty else ''}")
    if traceback:
        for item in found.steps:
            if item.error:
                console.print(f"[red]{item.name}[/]\n{item.error}", markup=True, highlight=False)


def lineage(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@VERSION or an artifact id.")],
    item: Annotated[
        str | None, typer.Option("--item", help="Trace the row with this _item_id back to its raw line.")
    ] = None,
    row: Annotated[
        int | None,
        typer.Option("--row", min=0, help="Trace this row (a prediction) back to its raw line."),
    ] = None,
    as_json: JSON = False,
) -> None:
    """Ancestors and descendants of an artifact, as a tree."""
    # --item / --row: that row followed back through the tables it came from to the raw line
    from loopline.api.data import LineageOut

    project = open_project()
    artifact, ancestors, descendants = project.lineage(ref)
    trace = project.trace(artifact.id, item, row) if item is not None or row is not None else []
    if as_json:
        emit_json(LineageOut.of(artifact, ancestors, descendants, trace).model_dump(mode="json"))
        return
    lineage_tree("ancestors", ancestors)
    lineage_tree("descendants", descendants)
    for step in trace:
        where = f"  <- {step['file']}:{step['line']}" if step["line"] is not None else ""
        console.print(f"{step['name'] or step['id'][:12]}@{step['version']}{where}", markup=False)


def reproduce(
    run_id: Annotated[str, typer.Argument(help="The run to re-execute.")],
    executor: EXECUTOR = "local",
    jobs: JOBS = 1,
    dask_address: DASK = None,
    tolerance: Annotated[
        float | None,
        typer.Option(
            "--tolerance",
            help="Accept float noise: floats that differ by at most T, absolutely or relatively, "
            "match (reported as within tolerance, never as bit-identical).",
        ),
    ] = None,
    as_json: JSON = False,
) -> None:
    """Re-execute a run's steps without cache and compare every output id; for each that differs,
    what differs and the likely cause (exit 1 on a difference beyond the tolerance)."""
    from loopline.cli.render_reproduce import print_reproduce, reproduce_json

    original, new, comparisons = open_project().reproduce(
        run_id, executor=executor, jobs=jobs, dask_address=dask_address, tolerance=tolerance
    )
    if as_json:
        emit_json(reproduce_json(original, new, comparisons, tolerance))
    else:
        print_reproduce(original, new, comparisons, tolerance)
    if not all(c.matches for c in comparisons):
        raise typer.Exit(1)


def demo(
    directory: Annotated[Path, typer.Argument(help="Where to create the demo project.")] = Path(
        "loopline-demo"
    ),
) -> None:
    """Create a demo project and run the example pipeline end to end."""
    from loopline.demo import run_demo

    if run_demo(directory, console) != 0:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    for command in (init, run, collect, status, runs, show, lineage, reproduce, demo):
        app.command()(command)
