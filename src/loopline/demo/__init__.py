"""The bundled end-to-end example: `loopline demo` builds a project from raw, messy data shipped
inside scikit-learn (no network) and runs the loop as far as it goes today: collect, clean,
validate, a second batch arriving, a run with nothing new, and reproduce."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

_FILES = Path(__file__).parent


def _figures(project: Any, run_id: str, step: str) -> dict[str, float]:
    return {m["key"]: m["value"] for m in project.metrics(run_id) if m["step_name"] == step}


def _summary(console: Console, project: Any, run: Any) -> None:
    for name in ("digits", "metadata"):
        got = _figures(project, run.id, f"collect.{name}")
        art = project.resolve(name)
        console.print(
            f"  collected [bold]{name}@{art.version}[/]: {int(got.get('added', 0))} new, "
            f"{int(got.get('items', 0))} in all, {int(got.get('quarantined', 0))} quarantined at read"
        )
    report = project.load("clean_report")
    console.print(
        f"  cleaned metadata: {report['rows_in']} rows in, {report['rows_clean']} clean, "
        f"{report['rows_quarantined']} quarantined"
    )


def _label_with_a_crowd(console: Console, project: Any, directory: Path) -> None:
    from loopline.demo import crowd

    name = "digits-labels"
    _, tasks = project.annotate_create(name, "digits", crowd.LABELS, overlap=3, gold_share=0.05)
    truth = crowd.truth_of(project.meta.annotations.tasks(name))
    gold = crowd.write_gold(truth, directory / "gold.csv")
    project.annotate_gold(name, directory / "gold.csv")
    answers = crowd.write_answers(truth, directory / "crowd.csv")
    project.annotate_import(name, directory / "crowd.csv")
    console.print(
        f"  project {name}: {tasks} images, {answers} answers from {len(crowd.CROWD)} annotators "
        f"(2 spammers), {gold} gold items"
    )
    agreement = project.agreement(name)
    console.print(
        f"  agreement: Fleiss' kappa {agreement['fleiss_kappa']:.3f}, "
        f"Krippendorff's alpha {agreement['krippendorff_alpha']:.3f}"
    )
    table = Table("method", "accuracy vs truth", box=None)
    result: dict[str, Any] = {}
    for method in ("majority", "dawid_skene"):
        result = project.aggregate(name, method, {"min_gold_accuracy": 0.5, "action": "exclude"})
        labels = project.load(f"{name}_labels")
        right = sum(truth[i] == lab for i, lab in labels.select("item_id", "label").iter_rows())
        table.add_row(method, f"{right / labels.height:.3f}")
    console.print(table)
    quality = Table("annotator", "skill (Dawid-Skene)", "answers", box=None)
    for row in sorted(result["skills"], key=lambda r: -r["skill"]):
        quality.add_row(row["annotator"], f"{row['skill']:.2f}", str(row["n"]))
    console.print(quality)
    console.print(f"  flagged by the gold policy and excluded: {', '.join(result['flagged']) or 'none'}")
    _, token = project.annotator_add("you")
    console.print(
        f"  label by hand: cd {directory} && loopline server, open http://127.0.0.1:8000 and sign in "
        f"with the token {token}"
    )


def run_demo(directory: Path, console: Console) -> int:
    from loopline.demo.data import write_inbox
    from loopline.project import Project

    directory = directory.absolute()
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    planted = write_inbox(directory / "inbox")
    shutil.copyfile(_FILES / "loopline.yaml", directory / "loopline.yaml")
    project = Project.init(directory)

    console.rule("loopline demo")
    console.print(f"project: {directory}")
    console.print(f"raw data: 1797 digit images and a metadata export with planted mess {planted}")

    console.rule("1. collect, clean, validate")
    first = project.run()
    _summary(console, project, first)
    quarantine = project.load("metadata_rejected")
    by_rule = quarantine.group_by("_rule").len().sort("_rule")
    table = Table("rule", "rows", "example reason", box=None)
    for rule, count in by_rule.iter_rows():
        example = quarantine.filter(quarantine["_rule"] == rule)["_reason"][0]
        table.add_row(rule, str(count), example)
    console.print(table)
    for row in project.load("metadata_quarantine").iter_rows(named=True):
        console.print(f"  quarantined at read: {row['_origin']} line {row['_line']}: {row['_reason']}")

    console.rule("2. a second batch arrives")
    shutil.move(
        directory / "inbox" / "later" / "batch-2.csv", directory / "inbox" / "metadata" / "batch-2.csv"
    )
    second = project.run()
    _summary(console, project, second)
    console.print("  " + ", ".join(f"{s.name} {s.status}" for s in second.steps))

    console.rule("3. nothing new")
    third = project.run()
    console.print("  " + ", ".join(f"{s.name} {s.status}" for s in third.steps))

    console.rule("4. a crowd labels the images")
    _label_with_a_crowd(console, project, directory)

    console.rule("5. reproduce")
    _, _, comparisons = project.reproduce(second.id)
    identical = all(c.identical for c in comparisons)
    console.print(f"  reproduce {second.id}: " + ("every output bit-identical" if identical else "DIFFERENT"))
    console.print(
        f"\nnext: cd {directory} && loopline datasets && loopline lineage metadata_clean "
        "&& loopline diff metadata@1 metadata@2"
    )
    ok = all(r.status == "succeeded" for r in (first, second, third)) and identical
    return 0 if ok else 1
