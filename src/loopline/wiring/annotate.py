"""Labeling projects wired to the stores: tasks from a dataset version, answers in and out of
files, and aggregation recorded as a run like any step, so the labels artifact has lineage to the
annotations snapshot and the dataset."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from loopline.annotate import interop, repeats
from loopline.annotate.projects import Policy, answers_frame, gold_accuracy, labels_table, task_items
from loopline.core.errors import InvalidInput, LooplineError
from loopline.core.ids import check_name
from loopline.core.labeling import LabelProject, TaskType
from loopline.core.types import Artifact
from loopline.pipeline.runner import Runner
from loopline.store.artifacts import load_value, save_table
from loopline.store.blobs import BlobStore
from loopline.store.files import atomic_write_text
from loopline.store.metadata import MetadataStore

AGGREGATE_USES = "loopline.annotate:aggregate"


class Labeling:
    def __init__(self, meta: MetadataStore, blobs: BlobStore, runner: Runner) -> None:
        self.meta = meta
        self.repo = meta.annotations
        self.blobs = blobs
        self.runner = runner

    def create(
        self,
        name: str,
        dataset: Artifact,
        *,
        labels: list[str],
        task_type: TaskType = "classification",
        overlap: int = 1,
        gold_share: float = 0.0,
        instructions: str = "",
        annotator_limit: int | None = None,
        lease_seconds: int = 600,
        text_field: str | None = None,
    ) -> tuple[LabelProject, int]:
        check_name(name, "project name")
        labels = [str(x).strip() for x in labels]
        if not labels or any(not x for x in labels):
            raise InvalidInput(f"labels {labels!r} must be a non-empty list of non-empty names")
        items = task_items(load_value(self.blobs, dataset), text_field)
        project = LabelProject(
            name=name,
            dataset=dataset.name or dataset.id,
            dataset_version=dataset.version or 0,
            artifact_id=dataset.id,
            task_type=task_type,
            labels=tuple(labels),
            instructions=instructions,
            overlap=overlap,
            gold_share=gold_share,
            annotator_limit=annotator_limit,
            lease_seconds=lease_seconds,
            text_field=text_field,
            created_at=datetime.now(UTC),
        )
        return project, self.repo.create_project(project, items)

    def extend(self, name: str, dataset: Artifact) -> int:
        """Queue the items of a newer version of the project's dataset that have no task yet
        (what collection brought in since); returns how many."""
        spec = self.repo.get_project(name)
        if dataset.name and dataset.name != spec.dataset:
            raise InvalidInput(
                f"{name} labels {spec.dataset}, not {dataset.name}",
                hint=f"extend it with a version of {spec.dataset}",
            )
        items = task_items(load_value(self.blobs, dataset), spec.text_field)
        return self.repo.add_tasks(
            name, items, artifact_id=dataset.id, dataset_version=dataset.version or spec.dataset_version
        )

    def status(self, name: str) -> dict[str, Any]:
        spec = self.repo.get_project(name)
        progress = self.repo.progress(name)
        quality: list[dict[str, Any]] = []
        if progress["gold"]:  # gold scores need the tasks and answers; the counts do not
            gold = {t.item_id: t.gold for t in self.repo.tasks(name) if t.gold is not None}
            quality = gold_accuracy(answers_frame(self.repo.annotations(name)), gold).to_dicts()
        return {
            "project": _project_json(spec),
            **progress,
            "remaining": progress["tasks"] - progress["complete"],
            "gold_accuracy": quality,
        }

    def import_file(
        self, name: str, path: Path, fmt: str | None = None, duplicates: str = "keep"
    ) -> dict[str, Any]:
        """Answers of a file, all or none; repeats of one annotator on one item handled by
        `duplicates` (annotate/repeats.py), their counts in the result."""
        self.repo.get_project(name)
        text, fmt = read_labels(path, fmt)
        try:
            return self.import_text(name, text, fmt, duplicates)
        except LooplineError as exc:
            exc.where = f"{path}: {exc.where}" if exc.where else str(path)
            raise

    def import_text(self, name: str, text: str, fmt: str, duplicates: str = "keep") -> dict[str, Any]:
        """`import_file` of a file's text (what the REST API receives)."""
        spec = self.repo.get_project(name)
        item_of = {t.id: t.item_id for t in self.repo.tasks(name)}
        found = repeats.resolve(interop.from_text_at(text, fmt, spec.task_type, item_of), duplicates)
        stored = self.repo.import_annotations(
            name, found.rows, datetime.now(UTC), repeats=duplicates == "keep"
        )
        return {**stored, **found.summary(duplicates)}

    def export_file(self, name: str, path: Path, fmt: str | None = None) -> tuple[Path, int]:
        """Write the answers to a file; the export is on the audit record before the file exists."""
        spec = self.repo.get_project(name)
        answers = self.repo.annotations(name)
        fmt = file_format(path, fmt)
        text = interop.to_text(self.repo.tasks(name), answers, fmt, spec.task_type)
        db = self.meta.database
        db.record(db.change("labeling.export", name, after={"answers": len(answers), "format": fmt}))
        return atomic_write_text(path, text), len(answers)

    def gold_file(self, name: str, path: Path, fmt: str | None = None) -> int:
        spec = self.repo.get_project(name)
        text, fmt = read_labels(path, fmt)
        item_of = {t.id: t.item_id for t in self.repo.tasks(name)}
        try:
            return self.repo.set_gold(name, interop.gold_from_text(text, fmt, spec.task_type, item_of))
        except LooplineError as exc:
            exc.where = f"{path}: {exc.where}" if exc.where else str(path)
            raise

    def aggregate(
        self,
        name: str,
        method: str = "dawid_skene",
        policy: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """Consensus labels as the next version of `<name>_labels`, made by a recorded step run
        from the dataset and a snapshot of the answers (`<name>_annotations`, versioned too).
        options: ties, seed, max_iter, tol (annotate/aggregate.py); they join the step's
        params, so another tie rule or seed is another run, never a cache hit."""
        from loopline.annotate.aggregate import aggregate, check_method

        check_method(method)
        started = time.perf_counter()
        spec = self.repo.get_project(name)
        if spec.task_type != "classification":
            raise InvalidInput(
                f"aggregation works on single-label classification; {name} is {spec.task_type}"
            )
        rules = Policy.parse(policy)
        tasks = self.repo.tasks(name)
        gold = {t.item_id: t.gold for t in tasks if t.gold is not None}
        answers = answers_frame(self.repo.annotations(name), tasks=tasks)
        if answers.is_empty():
            raise InvalidInput(
                f"{name} has no answers yet", hint="label some tasks or `loopline annotate import`"
            )
        snapshot = answers.drop("task").sort("item_id", "annotator")
        quality = gold_accuracy(answers, gold)
        weights, flagged = rules.weights(quality) if rules else ({}, [])
        result = aggregate(
            answers.select("item_id", "annotator", "label").rename({"item_id": "task"}),
            spec.labels,
            method,
            weights=weights or None,
            gold=gold or None,
            **options,
        )
        item_of = {i: i for i in answers["item_id"].unique().to_list()}
        table = labels_table(result.labels, item_of, gold)
        dataset = self.meta.get_artifact(spec.artifact_id)
        snap = save_table(self.blobs, snapshot)
        self.meta.add_version(f"{name}_annotations", snap, source=f"annotate:{name}")
        out = save_table(self.blobs, table)
        params = {"project": name, "method": method, "policy": dict(policy or {}), **options}
        inputs = {spec.dataset: dataset.id, f"{name}_annotations": snap.id}
        run_id = self.runner.record_step(
            f"annotate.{name}",
            AGGREGATE_USES,
            aggregate,
            params,
            inputs,
            {f"{name}_labels": out},
            time.perf_counter() - started,
        )
        label = self.meta.get_version(f"{name}_labels")
        return {
            "run_id": run_id,
            "labels": label.to_json(),
            "annotations": self.meta.get_version(f"{name}_annotations").to_json(),
            "method": method,
            "iterations": result.iterations,
            "flagged": flagged,
            "weights": weights,
            "skills": result.skills.join(quality, on="annotator", how="left").to_dicts(),
            "items": table.height,
            "abstained": result.labels.filter(pl.col("label").is_null())["task"].to_list(),
        }

    def evaluate(self, name: str, path: Path, fmt: str | None = None, **options: Any) -> dict[str, Any]:
        """Each method's and each annotator's accuracy on the items of a gold file, with
        nothing clamped and nothing stored (annotate/scoring.py)."""
        from loopline.annotate.scoring import score

        spec = self.repo.get_project(name)
        if spec.task_type != "classification":
            raise InvalidInput(f"evaluation works on single-label classification; {name} is {spec.task_type}")
        text, fmt = read_labels(path, fmt)
        tasks = self.repo.tasks(name)
        item_of = {t.id: t.item_id for t in tasks}
        answers = answers_frame(self.repo.annotations(name), tasks=tasks)
        try:
            gold = interop.gold_from_text(text, fmt, spec.task_type, item_of)
        except LooplineError as exc:
            exc.where = f"{path}: {exc.where}" if exc.where else str(path)
            raise
        try:
            report = score(answers, spec.labels, gold, items=item_of.values(), **options)
        except LooplineError as exc:
            if exc.where and exc.where.startswith("gold item"):  # a label of the file
                exc.where = f"{path}: {exc.where}"
            raise
        return {"project": name, "gold_file": str(path), **report}

    def agreement(self, name: str) -> dict[str, Any]:
        from loopline.annotate import agreement as measures

        spec = self.repo.get_project(name)
        answers = answers_frame(self.repo.annotations(name)).select("item_id", "annotator", "label")
        if answers.is_empty():  # nothing to measure is an answer too, not an error
            return {
                "project": name,
                "annotations": 0,
                **measures.summary(answers.rename({"item_id": "task"}), spec.labels),
                "confusion": [],
                "note": f"{name} has no answers yet: label some tasks or `loopline annotate import`",
            }
        frame = answers.rename({"item_id": "task"})
        from loopline.annotate.aggregate import aggregate

        consensus = aggregate(frame, spec.labels, "majority")
        matrix = measures.confusion(frame, consensus, spec.labels)
        matrix = matrix.filter(matrix["n"] > 0)
        return {
            "project": name,
            "annotations": answers.height,
            **measures.summary(frame, spec.labels),
            # answers against the majority-vote consensus: which labels annotators confuse
            "confusion": matrix.sort("true", "given").to_dicts(),
        }


def file_format(path: Path, fmt: str | None) -> str:
    """The format of a labels file: `fmt`, else by its suffix (.json Label Studio, .csv, .jsonl)."""
    suffixes = {".json": "labelstudio", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
    found = fmt or suffixes.get(path.suffix.lower())
    if found is None:
        raise InvalidInput(
            f"cannot tell the format of {path}", hint="use a .json, .csv or .jsonl name, or --format"
        )
    return interop.check_format(found)


def read_labels(path: Path, fmt: str | None) -> tuple[str, str]:
    """(text, format) of a labels file; InvalidInput naming it when it cannot be read."""
    fmt = file_format(path, fmt)
    try:
        return path.read_text(encoding="utf-8"), fmt
    except FileNotFoundError as exc:
        raise InvalidInput(f"no file {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}", hint="give a UTF-8 text file") from exc


def _project_json(spec: LabelProject) -> dict[str, Any]:
    return {
        "name": spec.name,
        "dataset": spec.dataset,
        "dataset_version": spec.dataset_version,
        "artifact_id": spec.artifact_id,
        "task_type": spec.task_type,
        "labels": list(spec.labels),
        "instructions": spec.instructions,
        "overlap": spec.overlap,
        "gold_share": spec.gold_share,
        "annotator_limit": spec.annotator_limit,
        "lease_seconds": spec.lease_seconds,
        "text_field": spec.text_field,
        "created_at": spec.created_at.isoformat() if spec.created_at else None,
    }
