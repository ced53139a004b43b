"""The bundled end-to-end example: `loopline demo` builds a project from raw, messy data shipped
inside scikit-learn (no network) and runs the whole loop: collect, clean (quarantine), validate,
a second batch, a run with nothing new, a simulated crowd labeling the images; the loop's first
turn trains, tunes, evaluates on the sealed test set, gates, registers and promotes; the model
is served, production traffic drifts (a second scanner), monitoring flags it and alerts; the loop
collects the new images, queues them least-certain first, the crowd labels them, the retrained
model passes its gates and the service swaps to it; every run reproduces bit-identically."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.markup import escape
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


def _first_turn(console: Console, project: Any) -> dict[str, Any]:
    """The loop's first turn: 1797 new labels, so split, tune, evaluate on the sealed test set,
    gate, register `digits` and promote it to staging and production."""
    from loopline.evaluate import card_markdown
    from loopline.pipeline.loop import describe

    report = project.loop_turn()
    for line in describe(report):
        console.print("  " + escape(line))
    retrain = report.get("retrain") or {}
    if retrain.get("status") != "succeeded":
        return report
    sizes = {name: project.resolve(name).rows for name in ("labeled", "train", "validation", "test")}
    console.print("  split: " + ", ".join(f"{k} {v}" for k, v in sizes.items()) + " (test sealed)")
    tuning = project.load("tuning")
    console.print(f"  tuned LogisticRegression: best {tuning.get('best_params')}")
    evaluation = project.load("evaluation")
    table = Table("metric", "value", "95% interval", box=None)
    for key in ("accuracy", "f1_macro", "log_loss"):
        entry = evaluation["metrics"][key]
        low, high = entry.get("low"), entry.get("high")
        interval = f"{low:.3f} - {high:.3f}" if low is not None and high is not None else ""
        table.add_row(key, f"{entry['value']:.3f}", interval)
    console.print(table)
    for gate in evaluation["gates"]:
        note = f" ({gate['note']})" if gate.get("note") else ""
        console.print(f"  gate {'PASS' if gate['passed'] else 'FAIL'}: {gate['gate']}{note}")
    card = card_markdown(project.model_card("model")).splitlines()
    shown = "\n".join("  | " + line for line in card[:14])
    console.print(shown + "\n  | …  (loopline card --artifact model)")
    return report


def run_demo(directory: Path, console: Console) -> int:
    from loopline.demo import turns
    from loopline.demo.data import write_inbox, write_scanner_batch
    from loopline.project import Project

    directory = directory.absolute()
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    planted = write_inbox(directory / "inbox")
    scanner_2 = write_scanner_batch(directory / "inbox" / "later" / "scanner-2", count=1200)
    drifted, unseen = scanner_2[:900], scanner_2[900:]  # production, then labeled; never labeled
    shutil.copyfile(_FILES / "loopline.yaml", directory / "loopline.yaml")
    project = Project.init(directory)

    console.rule("loopline demo")
    console.print(f"project: {directory}")
    console.print(f"raw data: 1797 digit images and a metadata export with planted mess {planted}")

    console.rule("1. collect, clean, validate")
    data = ["digits", "check"]  # the steps that need no labels yet
    first = project.run(targets=data)
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
    second = project.run(targets=data)
    _summary(console, project, second)
    console.print("  " + ", ".join(f"{s.name} {s.status}" for s in second.steps))

    console.rule("3. nothing new")
    third = project.run(targets=data)
    console.print("  " + ", ".join(f"{s.name} {s.status}" for s in third.steps))

    console.rule("4. a crowd labels the images")
    _label_with_a_crowd(console, project, directory)

    console.rule("5. the loop's first turn: split, tune, evaluate on the sealed test set, gate, promote")
    first_turn = _first_turn(console, project)

    console.rule("6. production: serve digits@production, traffic drifts, monitoring sees it")
    rng = np.random.default_rng(5)
    images = sorted((directory / "inbox" / "images").glob("*.png"))
    seen = [images[i] for i in rng.choice(len(images), 300, replace=False)]
    service, _ = turns.deploy_and_watch(console, project, seen, drifted[:600])
    try:
        console.rule("7. close the loop: collect, queue, label, retrain, gate, promote, hot swap")
        for path in drifted:  # what production received is saved to the inbox
            shutil.move(path, directory / "inbox" / "images" / path.name)
        (waiting, last_turn), after = turns.close_the_loop(console, project, directory, service, unseen)
    finally:
        service.stop()

    console.rule("8. reproduce")
    identical = True
    runs = [second.id] + [t["retrain"]["run_id"] for t in (first_turn, last_turn) if t.get("retrain")]
    for run_id in runs:
        _, _, comparisons = project.reproduce(run_id)
        same = all(c.identical for c in comparisons)
        identical = identical and same
        console.print(f"  reproduce {run_id}: " + ("every output bit-identical" if same else "DIFFERENT"))

    console.rule("summary")
    turns.summary(console, [("1", first_turn), ("2 (drift)", waiting), ("3", last_turn)])
    console.print(
        f"  served accuracy on new scanner 2 images: {after['accuracy']:.3f} (versions {after['versions']})"
    )
    console.print(
        f"\nnext: cd {directory} && loopline server (dashboard and labeling UI at http://127.0.0.1:8000/, "
        "monitoring reports under /monitor) && loopline models && loopline lineage metadata_clean"
    )
    promoted = [t.get("retrain", {}) or {} for t in (first_turn, last_turn)]
    ok = (
        all(r.status == "succeeded" for r in (first, second, third))
        and all("production" in p.get("promoted", []) for p in promoted)
        and identical
    )
    return 0 if ok else 1


__all__ = ["run_demo"]
