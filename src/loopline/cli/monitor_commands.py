"""`loopline monitor MODEL` and `loopline monitor --fleet`: drift, data quality and performance of
served models against their training reference; `loopline drift REF CUR`: the same drift tests
on two tables, no model. Exit 1 when a window drifted over the
threshold (`monitor.drift` in loopline.yaml), 2 on bad input, 0 otherwise (an empty window too:
it says so and alerts nothing)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from loopline.cli.common import JSON, emit_json, open_project
from loopline.cli.render import console
from loopline.core.errors import InvalidInput

_AGO = re.compile(r"^(\d+)(s|m|h|d|w)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(text: str | None, option: str) -> datetime | None:
    """ISO 8601 (naive means UTC) or a span back from now: 30m, 24h, 7d."""
    if text is None:
        return None
    found = _AGO.match(text.strip())
    if found:
        return datetime.now(UTC) - timedelta(**{_UNITS[found[2]]: int(found[1])})
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise InvalidInput(
            f"{option} {text!r} is not a time",
            hint="use ISO 8601 (2026-05-01T12:00) or a span like 24h or 7d",
        ) from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def monitor(
    model: Annotated[str | None, typer.Argument(help="Registered model name (omit with --fleet).")] = None,
    alias: Annotated[
        str, typer.Option("--alias", "-a", help="The deployed alias, or latest.")
    ] = "production",
    since: Annotated[str | None, typer.Option(help="Window start: ISO time or a span back (24h).")] = None,
    until: Annotated[
        str | None, typer.Option(help="Window end: ISO time or a span back; default now.")
    ] = None,
    data: Annotated[
        Path | None, typer.Option("--data", help="A .parquet/.csv window instead of the prediction log.")
    ] = None,
    reference: Annotated[
        str | None, typer.Option("--reference", help="Profile this table as the version's reference first.")
    ] = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write the report as one offline HTML file.")
    ] = None,
    fleet: Annotated[
        bool, typer.Option("--fleet", help="Monitor every model in the prediction log.")
    ] = False,
    executor: Annotated[str, typer.Option("--executor", help="For --fleet: local or dask.")] = "local",
    workers: Annotated[
        int,
        typer.Option("--workers", min=1, help="For --fleet on dask: LocalCluster workers (or chunks)."),
    ] = 2,
    dask_address: Annotated[
        str | None,
        typer.Option(
            "--dask-address",
            help="For --fleet on dask: a scheduler whose workers reach the project's database and "
            "blob store by URL (default: a LocalCluster).",
        ),
    ] = None,
    reports: Annotated[
        bool, typer.Option("--reports", help="List the stored reports (of MODEL), newest first; run none.")
    ] = False,
    timeline: Annotated[
        bool,
        typer.Option("--timeline", help="MODEL's stored reports in [--since, --until) over time; run none."),
    ] = False,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, max=1000, help="For --reports and --timeline: at most N.")
    ] = 50,
    as_json: JSON = False,
) -> None:
    """Compare a production window with the model's training reference; fire alert rules.
    With --reports or --timeline, show the reports stored before instead."""
    if reports or timeline:
        _stored(model, reports, timeline, since, until, limit, as_json)
        return
    if fleet:
        if model is not None or data is not None or reference is not None:
            raise InvalidInput(
                "--fleet monitors every logged model", hint="give no MODEL, --data or --reference"
            )
        if executor not in ("local", "dask"):
            raise InvalidInput(f"unknown executor {executor!r}", hint="use local or dask")
        rows = open_project().monitor_fleet(
            executor=executor,
            workers=workers,
            dask_address=dask_address,
            alias=alias,
            since=parse_time(since, "--since"),
            until=parse_time(until, "--until"),
        )
        _fleet(rows, as_json)
        return
    if model is None:
        raise InvalidInput("name the model to monitor", hint="`loopline monitor MODEL`, or --fleet for all")
    report = open_project().monitor(
        model,
        alias=alias,
        since=parse_time(since, "--since"),
        until=parse_time(until, "--until"),
        data=data,
        reference=reference,
    )
    if html is not None:
        from loopline.monitor.plots import standalone_html
        from loopline.store.files import atomic_write_text

        atomic_write_text(html, standalone_html(report))
    if as_json:
        from loopline.api.monitoring import MonitoringReport

        emit_json(MonitoringReport.of(report).model_dump(mode="json"))
    else:
        _render(report)
    if (report.get("drift") or {}).get("drifted"):
        raise typer.Exit(1)


def _stored(
    model: str | None,
    reports: bool,
    timeline: bool,
    since: str | None,
    until: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """`--reports` (api ReportSummary) or `--timeline` (api ModelTimeline), as GET
    /api/v1/monitoring/reports and /api/v1/monitoring/models/MODEL/timeline answer."""
    from rich.table import Table

    from loopline.api.monitoring import ModelTimeline, ReportSummary

    if reports and timeline:
        raise InvalidInput("--reports and --timeline are two views", hint="pick one")
    table = Table(box=None, pad_edge=False)
    if reports:
        if since is not None or until is not None:
            raise InvalidInput(
                "--reports lists the newest reports", hint="--since/--until go with --timeline"
            )
        rows = [ReportSummary.model_validate(r) for r in open_project().monitor_reports(model, limit=limit)]
        if as_json:
            emit_json([r.model_dump(mode="json") for r in rows])
            return
        for column in ("report", "model", "version", "made", "rows", "drift share", "drifted", "alerts"):
            table.add_column(column)
        for r in rows:
            made = r.created_at[:19].replace("T", " ")
            table.add_row(
                r.report_id[:12], escape(r.model), str(r.version), made, str(r.rows),
                _num(r.drift_share), "[red]yes[/]" if r.drifted else "no", str(r.alerts),
            )  # fmt: skip
        console.print(table if rows else "no monitoring reports" + (f" of {escape(model)}" if model else ""))
        return
    if model is None:
        raise InvalidInput("--timeline needs the model", hint="`loopline monitor MODEL --timeline`")
    found = open_project().monitor_timeline(
        model, since=parse_time(since, "--since"), until=parse_time(until, "--until"), limit=limit
    )
    shape = ModelTimeline.model_validate(found)
    if as_json:
        emit_json(shape.model_dump(mode="json"))
        return
    for column in ("at", "report", "drift share", "drifted features", "accuracy", "est. acc.", "alerts"):
        table.add_column(column)
    for point in shape.points:
        drifted = ", ".join(f.name for f in point.features if f.drifted) or "-"
        accuracy = (point.performance or {}).get("accuracy")
        table.add_row(
            point.at[:16].replace("T", " "), point.report.report_id[:8], _num(point.report.drift_share),
            escape(drifted), _num(accuracy), _num(point.estimated_accuracy), str(len(point.fired)),
        )  # fmt: skip
    console.print(table if shape.points else f"no reports of {escape(model)} in that window")


def _render(report: dict[str, Any]) -> None:
    window = report["window"]
    console.print(
        f"[bold]{escape(report['model'])}[/] version {report['version']}: {window['rows']} rows "
        f"({escape(str(window.get('source')))}), report {report['report_id'][:12]}"
    )
    if report["empty"]:
        console.print(escape(report["message"]))
        return
    _render_drift(report)
    if pred := report["prediction_drift"]:
        console.print(
            f"prediction drift: {'[red]yes[/]' if pred['drifted'] else 'no'} (p {_num(pred['p_value'])})"
        )
    for issue in report["quality"]["issues"]:
        console.print(f"[yellow]quality:[/] {escape(issue)}")
    if perf := report["performance"]:
        shown = ", ".join(f"{k} {perf[k]:.3f}" for k in ("accuracy", "f1_macro", "mae", "rmse") if k in perf)
        console.print(f"performance on {perf['labelled']} labelled rows: {shown}")
    if estimate := report["estimated_performance"]:
        console.print(f"estimated accuracy (from confidences): {estimate['accuracy']:.3f}")
    for alert in report["alerts"]:
        console.print(f"[red]alert:[/] {escape(alert['rule'])} (value {_num(alert['value'])})")


def _render_drift(report: dict[str, Any]) -> None:
    """The verdict and the per-column table: shared by `monitor` and `drift`."""
    drift = report["drift"]
    verdict = "[red]drifted[/]" if drift["drifted"] else "[green]no drift[/]"
    console.print(
        f"drift: {verdict}, {drift['drifted_columns']} of {drift['tested']} columns "
        f"({drift['correction']} at alpha {drift['alpha']})"
    )
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("column", "test", "statistic", "adj. p", "PSI", "drifted"):
        table.add_column(column)
    for c in sorted(drift["columns"], key=lambda c: (not c["drifted"], c["p_value"] or 1.0)):
        table.add_row(
            escape(c["name"]),
            c["test"],
            _num(c["statistic"]),
            _num(c["p_adjusted"]),
            _num(c["psi"]),
            "[red]yes[/]" if c["drifted"] else "no",
        )
    console.print(table)


def drift(
    reference: Annotated[
        str, typer.Argument(help="Reference: a dataset NAME[@VERSION] or a .csv/.parquet/.jsonl file.")
    ],
    current: Annotated[str, typer.Argument(help="Current: a dataset NAME[@VERSION] or a file.")],
    columns: Annotated[
        str | None,
        typer.Option(
            "--columns", "-c", help="Features to test, comma-separated (default: every shared one)."
        ),
    ] = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write the report as one offline HTML file.")
    ] = None,
    as_json: JSON = False,
) -> None:
    """Data-only drift, no model: CURRENT against REFERENCE with monitor's tests and threshold
    (`monitor.drift` in loopline.yaml). Exit 1 when it drifted over the threshold."""
    chosen = None if columns is None else [c.strip() for c in columns.split(",") if c.strip()]
    if chosen is not None and not chosen:
        raise InvalidInput("--columns names no column", hint="e.g. --columns age,income")
    report = open_project().drift(reference, current, chosen)
    if html is not None:
        from loopline.monitor.plots import standalone_html
        from loopline.store.files import atomic_write_text

        atomic_write_text(html, standalone_html(report))
    if as_json:
        emit_json({k: v for k, v in report.items() if k != "figures"})
    else:
        console.print(
            f"[bold]{escape(current)}[/] ({report['window']['rows']} rows) against "
            f"[bold]{escape(reference)}[/] ({report['reference']['rows']} rows)"
        )
        if report["empty"]:
            console.print(f"{escape(current)} has no rows: nothing to compare")
        else:
            _render_drift(report)
            for issue in report["quality"]["issues"]:
                console.print(f"[yellow]quality:[/] {escape(issue)}")
        if report["skipped_columns"]:
            console.print(f"not tested (type): {escape(', '.join(report['skipped_columns']))}")
    if (report.get("drift") or {}).get("drifted"):
        raise typer.Exit(1)


def _fleet(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        emit_json(rows)
    else:
        from rich.table import Table

        table = Table(box=None, pad_edge=False)
        for column in ("model", "version", "rows", "drift share", "drifted", "alerts"):
            table.add_column(column)
        for r in rows:
            if "error" in r:
                table.add_row(escape(r["model"]), "-", "-", "-", escape(r["error"]), "-")
            else:
                drifted = "[red]yes[/]" if r["drifted"] else "no"
                table.add_row(
                    escape(r["model"]),
                    str(r["version"]),
                    str(r["rows"]),
                    _num(r["drift_share"]),
                    drifted,
                    str(r["alerts"]),
                )
        console.print(table)
    if any(r.get("drifted") for r in rows):
        raise typer.Exit(1)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def register(root: typer.Typer) -> None:
    root.command("monitor")(monitor)
    root.command("drift")(drift)
