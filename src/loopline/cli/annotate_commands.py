"""`loopline annotate …`: labeling projects, annotators, answers in and out, consensus labels and
agreement. Each command parses, makes one Project call and renders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from loopline.api.labeling import Agreement, LabelError, LabelingCreated, LabelingStatus
from loopline.cli.common import JSON, emit_json, open_project
from loopline.cli.render import console
from loopline.core.errors import InvalidInput

app = typer.Typer(
    help="Labeling projects: tasks, annotators, answers, consensus labels.", no_args_is_help=True
)
annotators = typer.Typer(help="Annotators and their tokens.", no_args_is_help=True)
app.add_typer(annotators, name="annotators")

NAME = Annotated[str, typer.Argument(help="Labeling project name.")]
FORMAT = Annotated[
    str | None,
    typer.Option(
        "--format", "-f", help="labelstudio, csv or jsonl; from the suffix (.json, .csv, .jsonl) if unset."
    ),
]

TIES = Annotated[
    str,
    typer.Option(
        help="A tie between top labels: random (drawn with --seed), smallest (the label whose name "
        "sorts first) or abstain (left unlabelled)."
    ),
]
SEED = Annotated[int, typer.Option(help="Seed of --ties random: the same seed, the same labels.")]
MAX_ITER = Annotated[
    int, typer.Option(min=1, help="Most EM iterations of dawid_skene (x10 L-BFGS iterations of glad).")
]
TOL = Annotated[
    float, typer.Option(help="dawid_skene / glad stop when the fit per answer gains less than this.")
]


def _fit_options(ties: str, seed: int, max_iter: int, tol: float) -> dict[str, Any]:
    return {"ties": ties, "seed": seed, "max_iter": max_iter, "tol": tol}


@app.command()
def create(
    name: NAME,
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="NAME, NAME@VERSION or an artifact id.")],
    labels: Annotated[str, typer.Option("--labels", "-l", help="The label set, comma-separated: a,b,c.")],
    overlap: Annotated[int, typer.Option(min=1, help="Annotators per item.")] = 1,
    gold_share: Annotated[
        float, typer.Option(min=0.0, max=0.99, help="Share of gold tasks in each queue.")
    ] = 0.0,
    task_type: Annotated[
        str, typer.Option("--type", help="classification, multilabel, spans or boxes.")
    ] = "classification",
    instructions: Annotated[str, typer.Option(help="What annotators read before they start.")] = "",
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Most tasks one annotator may answer.")
    ] = None,
    lease_seconds: Annotated[
        int, typer.Option(min=1, help="How long a handed-out task stays reserved.")
    ] = 600,
    text_field: Annotated[str | None, typer.Option(help="The column to show of a table row.")] = None,
    as_json: JSON = False,
) -> None:
    """Create a labeling project on a dataset version: one task per row or file."""
    names = [x.strip() for x in labels.split(",") if x.strip()]
    project, n = open_project().annotate_create(
        name,
        dataset,
        names,
        task_type=task_type,
        overlap=overlap,
        gold_share=gold_share,
        instructions=instructions,
        annotator_limit=limit,
        lease_seconds=lease_seconds,
        text_field=text_field,
    )
    if as_json:
        created = LabelingCreated(
            name=project.name, tasks=n, dataset=project.dataset, version=project.dataset_version
        )
        emit_json(created.model_dump(mode="json"))
    else:
        console.print(
            f"created labeling project {escape(name)}: {n} tasks on "
            f"{project.dataset}@{project.dataset_version}, labels {', '.join(names)}, overlap {overlap}"
        )


@app.command()
def extend(
    name: NAME,
    dataset: Annotated[
        str, typer.Argument(help="A newer version of the project's dataset: NAME, NAME@VERSION or an id.")
    ],
    as_json: JSON = False,
) -> None:
    """Queue the items of a newer dataset version that have no task yet (what collection brought in)."""
    added = open_project().annotate_extend(name, dataset)
    if as_json:
        emit_json({"name": name, "added": added})
    else:
        console.print(f"{escape(name)}: {added} new tasks queued from {escape(dataset)}")


@annotators.command("add")
def annotators_add(
    name: Annotated[str, typer.Argument(help="Annotator name.")],
    role: Annotated[
        str, typer.Option(help="annotator, or manager (a maintainer user: it manages labeling and more).")
    ] = "annotator",
    as_json: JSON = False,
) -> None:
    """Add an annotator (a shortcut of `loopline users add`; manager makes a maintainer) and print
    its sign-in token (shown this once; only its hash is kept)."""
    user, token = open_project().annotator_add(name, role)
    if as_json:
        emit_json({"name": user.name, "role": user.role, "token": token})
    else:
        console.print(f"added {user.role} {escape(user.name)}; token (shown once, keep it):\n{token}")


@annotators.command("list")
def annotators_list(as_json: JSON = False) -> None:
    """Users with the annotator role (`loopline users list` lists everyone)."""
    found = [u for u in open_project().users_list() if u.role == "annotator"]
    if as_json:
        emit_json([{"name": u.name, "active": u.active} for u in found])
    for user in [] if as_json else found:
        console.print(f"{escape(user.name)}{'' if user.active else ' (disabled)'}")


@app.command()
def status(
    name: Annotated[str | None, typer.Argument(help="Project; all projects when unset.")] = None,
    as_json: JSON = False,
) -> None:
    """Progress of a project (tasks complete, answers per annotator, gold accuracy), or the list."""
    project = open_project()
    if name is None:
        specs = sorted(project.annotate_projects(), key=lambda p: p.name)
        found = [LabelingStatus.of(project.annotate_status(p.name)).model_dump(mode="json") for p in specs]
        if as_json:
            emit_json(found)
            return
        if not found:
            console.print(
                "no labeling projects yet: `loopline annotate create NAME --dataset D --labels a,b`"
            )
        for report in found:
            _status_line(report)
        return
    report = LabelingStatus.of(project.annotate_status(name)).model_dump(mode="json")
    if as_json:
        emit_json(report)
        return
    _status_line(report)
    from rich.table import Table

    quality = {q["annotator"]: q for q in report["gold_accuracy"]}
    table = Table(box=None)
    for column in ("annotator", "answers", "gold answers", "gold accuracy"):
        table.add_column(column)
    for who, n in report["per_annotator"].items():
        q = quality.get(who, {})
        accuracy = q.get("gold_accuracy")
        table.add_row(
            escape(who), str(n), str(q.get("gold_answers", 0)), "" if accuracy is None else f"{accuracy:.2f}"
        )
    if report["per_annotator"]:
        console.print(table)


def _status_line(report: dict[str, Any]) -> None:
    spec = report["project"]
    console.print(
        f"[bold]{escape(spec['name'])}[/] on {spec['dataset']}@{spec['dataset_version']}: "
        f"{report['complete']}/{report['tasks']} tasks complete (overlap {spec['overlap']}), "
        f"{report['annotations']} answers, {report['gold']} gold tasks"
    )


@app.command("export")
def export_(
    name: NAME,
    path: Annotated[Path, typer.Argument(help="File to write (replaced atomically).")],
    fmt: FORMAT = None,
    as_json: JSON = False,
) -> None:
    """Write tasks and answers as Label Studio JSON, or answers as CSV or JSON Lines."""
    written, n = open_project().annotate_export(name, path, fmt)
    if as_json:
        emit_json({"path": str(written), "annotations": n})
    else:
        console.print(f"wrote {n} answers of {escape(name)} to {written}")


@app.command("import")
def import_(
    name: NAME,
    path: Annotated[
        Path,
        typer.Argument(
            help="Label Studio JSON, or CSV / JSON Lines of item_id, annotator, label, seconds, source."
        ),
    ],
    fmt: FORMAT = None,
    duplicates: Annotated[
        str,
        typer.Option(
            help="Repeated answers of one annotator to one item: keep (each counts), first, last "
            "or error (refuse the file)."
        ),
    ] = "keep",
    as_json: JSON = False,
) -> None:
    """Import answers made elsewhere (another tool, a crowd, rules, a model); all rows or none."""
    result = open_project().annotate_import(name, path, fmt, duplicates)
    if as_json:
        emit_json(result)
        return
    console.print(
        f"imported {result['added']} answers into {escape(name)} ({result['unchanged']} already there)"
    )
    if result["repeated"]:
        kept = "kept, each counts" if duplicates == "keep" else f"{result['dropped']} dropped ({duplicates})"
        console.print(
            f"{result['repeated']} repeated answers of one annotator to one item ({kept}); "
            f"{result['conflicting']} annotator-item pairs disagree with themselves"
        )


@app.command()
def gold(
    name: NAME,
    path: Annotated[
        Path,
        typer.Argument(help="Known answers: CSV or JSON Lines of item_id, label (or Label Studio JSON)."),
    ],
    fmt: FORMAT = None,
    as_json: JSON = False,
) -> None:
    """Mark items as gold tasks with their known answers."""
    n = open_project().annotate_gold(name, path, fmt)
    if as_json:
        emit_json({"gold": n})
    else:
        console.print(f"{n} gold tasks in {escape(name)}")


def _policy(text: str | None) -> dict[str, Any] | None:
    """`min_gold_accuracy=0.7,action=exclude` or a JSON object."""
    if text is None:
        return None
    if text.lstrip().startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"--policy is not valid JSON: {exc.msg}") from exc
        if not isinstance(value, dict):
            raise InvalidInput("--policy must be a JSON object")
        return value
    policy: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            raise InvalidInput(
                f"--policy part {part!r} is not KEY=VALUE", hint="e.g. min_gold_accuracy=0.7,action=exclude"
            )
        try:
            policy[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            policy[key.strip()] = value.strip()
    return policy


@app.command("aggregate")
def aggregate_(
    name: NAME,
    method: Annotated[str, typer.Option(help="dawid_skene, majority or glad.")] = "dawid_skene",
    policy: Annotated[
        str | None,
        typer.Option(help="Gold policy: min_gold_accuracy=0.7,action=exclude|downweight (or JSON)."),
    ] = None,
    ties: TIES = "random",
    seed: SEED = 0,
    max_iter: MAX_ITER = 100,
    tol: TOL = 1e-5,
    as_json: JSON = False,
) -> None:
    """Consensus labels from the answers, written as the next version of NAME_labels."""
    options = _fit_options(ties, seed, max_iter, tol)
    result = open_project().aggregate(name, method, _policy(policy), **options)
    if as_json:
        emit_json(result)
        return
    labels = result["labels"]
    console.print(
        f"wrote {labels['name']}@{labels['version']} ({result['items']} items, {method}) "
        f"in run {result['run_id']}; lineage: loopline lineage {labels['name']}"
    )
    if result["flagged"]:
        console.print(f"flagged under the gold threshold: {escape(', '.join(result['flagged']))}")
    if result["abstained"]:
        console.print(f"{len(result['abstained'])} tied items left unlabelled (--ties abstain)")


@app.command()
def evaluate(
    name: NAME,
    gold: Annotated[
        Path,
        typer.Option(
            "--gold", "-g", help="Known labels: CSV or JSON Lines of item_id, label (or Label Studio JSON)."
        ),
    ],
    fmt: FORMAT = None,
    ties: TIES = "random",
    seed: SEED = 0,
    max_iter: MAX_ITER = 100,
    tol: TOL = 1e-5,
    as_json: JSON = False,
) -> None:
    """Accuracy of each aggregation method and of each annotator on the gold items (the methods
    see only the answers: nothing is clamped to gold and nothing is stored)."""
    options = _fit_options(ties, seed, max_iter, tol)
    result = open_project().annotate_evaluate(name, gold, fmt, **options)
    if as_json:
        emit_json(result)
        return
    console.print(
        f"{escape(name)}: {result['scored_items']} of {result['gold_items']} gold items answered and scored"
        f" ({result['unanswered_items']} without answers, {result['unknown_items']} not in the project)"
    )
    if result["unknown_examples"]:
        console.print(f"  not in the project, e.g.: {escape(', '.join(result['unknown_examples']))}")
    from rich.table import Table

    methods = Table(box=None)
    for column in ("method", "accuracy", "correct", "abstained"):
        methods.add_column(column)
    for m in result["methods"]:
        methods.add_row(
            m["method"], f"{m['accuracy']:.3f}", f"{m['correct']}/{m['scored']}", str(m["abstained"])
        )
    if result["methods"]:
        console.print(methods)
    people = Table(box=None)
    for column in ("annotator", "answers on gold", "accuracy"):
        people.add_column(column)
    for a in result["annotators"]:
        people.add_row(escape(a["annotator"]), str(a["answers"]), f"{a['accuracy']:.3f}")
    if result["annotators"]:
        console.print(people)


@app.command()
def agreement(name: NAME, as_json: JSON = False) -> None:
    """Inter-annotator agreement: Fleiss' kappa, Krippendorff's alpha, Cohen's kappa per pair."""
    result = Agreement.of(open_project().agreement(name)).model_dump(mode="json")
    if as_json:
        emit_json(result)
        return
    if not result["annotations"]:
        console.print(escape(result["note"]))
        return

    def figure(value: float | None) -> str:
        return "undefined" if value is None else f"{value:.3f}"

    console.print(
        f"{escape(name)}: {result['annotations']} answers on {result['tasks']} tasks "
        f"({result['pairable_tasks']} with two answers or more)\n"
        f"  Fleiss' kappa       {figure(result['fleiss_kappa'])}\n"
        f"  Krippendorff's alpha {figure(result['krippendorff_alpha'])}"
    )
    if result["pairs"]:
        from rich.table import Table

        table = Table(box=None)
        for column in ("annotator", "annotator", "Cohen's kappa", "shared tasks"):
            table.add_column(column)
        for pair in result["pairs"]:
            table.add_row(escape(pair["a"]), escape(pair["b"]), figure(pair["kappa"]), str(pair["n"]))
        console.print(table)
    confused = [c for c in result["confusion"] if c["true"] != c["given"]]
    if confused:
        worst = sorted(confused, key=lambda c: -c["n"])[:10]
        console.print(
            "most confused (consensus -> answer): "
            + ", ".join(f"{escape(str(c['true']))}->{escape(str(c['given']))} x{c['n']}" for c in worst)
        )


@app.command("label-errors")
def label_errors(name: NAME, as_json: JSON = False) -> None:
    """The label-error queue that `loopline annotate errors` filled: items whose label looks
    wrong, lowest label quality first, with the model's suggestion."""
    found = [LabelError.model_validate(x) for x in open_project().annotate_label_errors(name)]
    if as_json:
        emit_json([x.model_dump(mode="json") for x in found])
        return
    if not found:
        console.print(
            f"no label errors queued in {escape(name)}: `loopline annotate errors {escape(name)}` looks"
        )
        return
    from rich.table import Table

    table = Table(box=None)
    for column in ("item", "label", "suggested", "quality", "text"):
        table.add_column(column)
    for x in found:
        text = x.text if len(x.text) <= 60 else x.text[:59] + "…"
        table.add_row(
            escape(x.item_id),
            escape(str(x.given)),
            escape(str(x.suggested)),
            f"{x.quality:.2f}",
            escape(text),
        )
    console.print(table)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="annotate")
