"""The bundled end-to-end example: `loopline demo` builds a project from raw, messy data shipped
inside scikit-learn (no network) and runs the loop as far as it goes today: collect, clean,
validate, a second batch arriving, a run with nothing new, a crowd labeling the images, then
split, tune, evaluate on the sealed test set, gate, register and promote, and reproduce."""

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


def _train_and_promote(console: Console, project: Any) -> Any:
    """Section 6: the labeled table through split, tune, evaluate and the gates, then the model
    registered as `digits` and promoted to production; the run, for reproduce."""
    from loopline.evaluate import card_markdown

    run = project.run(targets=["evaluate"])
    console.print("  " + ", ".join(f"{s.name} {s.status}" for s in run.steps))
    if run.status != "succeeded":
        for step in run.steps:
            if step.error:
                console.print(f"  {step.name}: {step.error}")
        return run
    sizes = {name: project.resolve(name).rows for name in ("labeled", "train", "validation", "test")}
    console.print("  split: " + ", ".join(f"{k} {v}" for k, v in sizes.items()) + " (test sealed)")
    tuning = project.load("tuning")
    console.print(f"  tuned LogisticRegression: best {tuning.get('best_params')}")
    report = project.load("evaluation")
    table = Table("metric", "value", "95% interval", box=None)
    for key in ("accuracy", "f1_macro", "log_loss"):
        entry = report["metrics"][key]
        low, high = entry.get("low"), entry.get("high")
        interval = f"{low:.3f} - {high:.3f}" if low is not None and high is not None else ""
        table.add_row(key, f"{entry['value']:.3f}", interval)
    console.print(table)
    for gate in report["gates"]:
        note = f" ({gate['note']})" if gate.get("note") else ""
        console.print(f"  gate {'PASS' if gate['passed'] else 'FAIL'}: {gate['gate']}{note}")
    version = project.register("digits", "model", reason="trained by the demo")
    moved = project.promote("digits", version.version, "production", reason="passed its gates")
    console.print(
        f"  registered digits version {version.version} (gates passed: {version.gates_passed}), "
        f"promoted to {moved['alias']}"
    )
    card = card_markdown(project.model_card("model")).splitlines()
    console.print("\n".join("  | " + line for line in card[:14]) + "\n  | …  (loopline card model)")
    return run


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

    console.rule("5. split, tune, evaluate on the sealed test set, gate, register")
    trained = _train_and_promote(console, project)

    console.rule("6. reproduce")
    identical = True
    for run in (second, trained):
        _, _, comparisons = project.reproduce(run.id)
        same = all(c.identical for c in comparisons)
        identical = identical and same
        console.print(f"  reproduce {run.id}: " + ("every output bit-identical" if same else "DIFFERENT"))
    console.print(
        f"\nnext: cd {directory} && loopline datasets && loopline lineage metadata_clean "
        "&& loopline diff metadata@1 metadata@2 && loopline models && loopline card model"
    )
    ok = all(r.status == "succeeded" for r in (first, second, third, trained)) and identical
    return 0 if ok else 1
