"""The demo's second half: the model goes to production, traffic drifts, monitoring sees it, and
the loop turns: the new scanner's images are collected, queued (least certain first), labeled by
the crowd, a retrained model passes its gates and the service swaps to it by itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from loopline.demo import crowd
from loopline.demo.traffic import Service, Traffic, send, wait_logged
from loopline.pipeline.loop import describe


def traffic_line(console: Console, what: str, traffic: Traffic) -> None:
    versions = ", ".join(f"v{v}: {n}" for v, n in sorted(traffic.versions.items()))
    console.print(
        f"  {what}: {traffic.sent} requests ({versions}), accuracy {traffic.accuracy:.3f}, "
        f"truth posted back for {traffic.feedback}"
    )


def monitor_lines(console: Console, report: dict[str, Any]) -> None:
    drift = report.get("drift") or {}
    console.print(
        f"  window: {report['window']['rows']} predictions of digits v{report['version']}; "
        f"drift in {drift.get('drifted_columns', 0)} of {drift.get('tested', 0)} features "
        f"({drift.get('correction', '')}-corrected): "
        + ("[bold red]DRIFT[/]" if drift.get("drifted") else "none")
    )
    worst = sorted(drift.get("columns", []), key=lambda c: -(c.get("psi") or 0))[:3]
    for column in worst:
        console.print(
            f"    {column['name']}: {column.get('test')} p={column.get('p_value', float('nan')):.2g}, "
            f"PSI {column.get('psi', float('nan')):.2f}"
        )
    measured = report.get("performance") or {}
    estimated = report.get("estimated_performance") or {}
    if measured.get("accuracy") is not None:
        console.print(
            f"  accuracy on the {measured['labelled']} predictions whose truth came back: "
            f"{measured['accuracy']:.3f}"
        )
    if estimated.get("accuracy") is not None:
        console.print(f"  accuracy estimated from confidence alone: {estimated['accuracy']:.3f}")
    for alert in report.get("alerts", []):
        console.print(f"  [bold red]alert fired[/]: {alert['rule']} (value {alert['value']:.2f})")


def render(console: Console, report: dict[str, Any]) -> None:
    for line in describe(report):
        console.print("  " + escape(line))


def label_open_tasks(project: Any, directory: Path, name: str = "digits-labels") -> int:
    """The crowd answers every task that has no answer yet (the new items)."""
    fresh = [t for t in project.meta.annotations.tasks(name) if t.done == 0 and t.gold is None]
    truth = crowd.truth_of(fresh)
    answers = crowd.write_answers(truth, directory / "crowd-2.csv", seed=13)
    project.annotate_import(name, directory / "crowd-2.csv")
    return answers


def deploy_and_watch(
    console: Console, project: Any, seen: list[Path], drifted: list[Path]
) -> tuple[Service, dict[str, Any]]:
    """Section: serve digits@production; normal traffic, then the second scanner's; monitor."""
    # on this machine only, for the demo's own traffic: no tokens (as `loopline serve --no-auth`)
    app = project.serving_app("digits", "production", poll_seconds=0.5, flush_seconds=0.2, auth=False)
    service = Service(app)
    console.print(f"  serving digits@production at {service.url} (POST /predict, /metrics, /model)")
    traffic_line(console, "scanner 1 traffic", send(service.url, seen, seed=1))
    traffic_line(console, "scanner 2 traffic", send(service.url, drifted, seed=2))
    traffic_line(console, "scanner 1 traffic", send(service.url, seen, seed=4))
    wait_logged(project, "digits", 2 * len(seen) + len(drifted))
    report = project.monitor("digits", alias="production")
    monitor_lines(console, report)
    return service, report


def close_the_loop(
    console: Console, project: Any, directory: Path, service: Service, unseen: list[Path]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Section: the loop turns twice (queue, then retrain once labeled); new traffic on v2."""
    console.print("  the scanner 2 images are saved to the inbox (collection)")
    waiting = project.loop_turn()
    render(console, waiting)
    answers = label_open_tasks(project, directory)
    console.print(f"  the crowd answers the new tasks: {answers} answers")
    turned = project.loop_turn()
    render(console, turned)
    retrain = turned.get("retrain") or {}
    if "production" in retrain.get("promoted", []):
        swapped = service.wait_for_version(retrain["version"])
        console.print(f"  the service follows the alias: now serving v{retrain['version']}: {swapped}")
    after = send(service.url, unseen, seed=3)
    traffic_line(console, "scanner 2 traffic, images never seen in training", after)
    return [waiting, turned], {"accuracy": after.accuracy, "versions": dict(after.versions)}


def summary(console: Console, turns: list[tuple[str, dict[str, Any]]]) -> None:
    """A line per turn: labels, drift seen, the model trained and where it went."""
    table = Table("turn", "images", "labels (kappa)", "drift", "model (test acc)", "promoted to", box=None)
    for name, report in turns:
        retrain = report.get("retrain") or {}
        watch = report.get("watch") or {}
        labels = report.get("labels") or {}
        accuracy = (retrain.get("metrics") or {}).get("accuracy")
        versions = (report.get("collect") or {}).get("versions") or {}
        kappa = labels.get("fleiss_kappa")
        table.add_row(
            name,
            f"digits@{versions['digits']}" if "digits" in versions else "-",
            f"{labels.get('labels', 0)} +{report.get('new_labels', 0)}"
            + (f" ({kappa:.2f})" if kappa is not None else ""),
            ("yes" if watch.get("drifted") else "no") if watch.get("rows") else "-",
            f"v{retrain['version']} ({accuracy:.3f})" if retrain.get("version") and accuracy else "-",
            (retrain.get("promoted") or ["-"])[-1],
        )
    console.print(table)
