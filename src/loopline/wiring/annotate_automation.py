"""Label automation wired to the queue: label errors sent back for review, model pre-labels as
suggestions, and active-learning priorities. The stage code (annotate/label_errors.py,
prelabel.py, active.py) is pure; this module turns a project's tasks into feature rows, runs it,
and writes the outcome through `AnnotationRepository` (priorities, suggestions).

Priority bands, so the two writers do not undo each other: active learning sets open tasks in
(1, 2) (the next pick highest) and resets its own stale picks in [1, 2) to 0; label review puts
flagged items in (2, 3] (the worst label highest), above any active-learning pick.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import polars as pl

from loopline.core.errors import InvalidInput
from loopline.core.labeling import LabelProject, Task
from loopline.store.contracts import AnnotationRepository

ITEM_COLUMNS = ("item_id", "_item_id")
REVIEW_BAND = 2.0
ACTIVE_BAND = 1.0


def _open(task: Task, overlap: int) -> bool:
    return task.gold is None and task.done < overlap


class LabelAutomation:
    def __init__(
        self, repo: AnnotationRepository, columns_of: Callable[[str], list[str]] | None = None
    ) -> None:
        self.repo = repo
        self.columns_of = columns_of  # artifact id -> its columns in order (tasks store rows as JSON)

    def feature_rows(
        self,
        spec: LabelProject,
        tasks: Sequence[Task],
        features: Any = None,
        columns: Sequence[str] | None = None,
    ) -> pl.DataFrame | np.ndarray:
        """Feature rows in the order of `tasks`: from `features` (a table with an item_id or
        _item_id column, joined on the tasks' item ids; or an array with one row per task) or,
        when None, from what each task shows (a table row's numeric columns, in the dataset's
        column order: a model fitted on an array knows its features only by position)."""
        if isinstance(features, np.ndarray):
            if len(features) != len(tasks):
                raise InvalidInput(f"{len(features)} feature rows for {len(tasks)} tasks")
            return features
        if features is None:
            table = pl.DataFrame([t.data for t in tasks], infer_schema_length=None)
            if self.columns_of is not None:
                order = [c for c in self.columns_of(spec.artifact_id) if c in table.columns]
                table = table.select(order + [c for c in table.columns if c not in order])
        else:
            if not isinstance(features, pl.DataFrame):
                raise InvalidInput(f"features must be a table or an array, got {type(features).__name__}")
            key = next((c for c in ITEM_COLUMNS if c in features.columns), None)
            if key is None:
                raise InvalidInput(
                    "the features table has no item_id column to match the tasks",
                    hint="add the items' ids (the dataset's _item_id, or the blob hash of a file)",
                )
            wanted = pl.DataFrame({key: [t.item_id for t in tasks]}, schema={key: pl.String})
            table = wanted.join(
                features.with_columns(pl.col(key).cast(pl.String)).unique(key, keep="first"),
                on=key,
                how="left",
                maintain_order="left",
            )
            # rows without features: the join's all-null feature cells
            missing = table.drop(key).select(pl.all_horizontal(pl.all().is_null())).to_series()
            if missing.any():
                item = table[key][int(missing.arg_true()[0])]
                raise InvalidInput(
                    f"{int(missing.sum())} tasks have no row in the features table, e.g. item {item!r}",
                    hint="compute features for every item of the project's dataset",
                )
            table = table.drop(key)
        if columns:
            absent = [c for c in columns if c not in table.columns]
            if absent:
                raise InvalidInput(f"no feature column {absent[0]!r}", hint=f"columns: {table.columns}")
            table = table.select(columns)
        return table

    # -- label errors ------------------------------------------------------------------------
    def review(
        self,
        name: str,
        features: Any = None,
        *,
        columns: Sequence[str] | None = None,
        method: str = "dawid_skene",
        model: Any = None,
        cv: int = 5,
        seed: int = 0,
        suggest: bool = True,
    ) -> dict[str, Any]:
        """Find likely label errors among the consensus labels of answered tasks and put the
        flagged ones first in the queue (and, with `suggest`, show the model's label as a
        suggestion). A flagged task that already has all its answers is reopened: the queue asks
        one more answer of it."""
        from loopline.annotate.aggregate import aggregate
        from loopline.annotate.label_errors import find_label_issues
        from loopline.annotate.projects import answers_frame

        spec = self.repo.get_project(name)
        tasks = [t for t in self.repo.tasks(name) if t.gold is None]
        answers = answers_frame(self.repo.annotations(name), tasks=tasks)
        if answers.is_empty():
            raise InvalidInput(f"{name} has no answers to review yet")
        consensus = aggregate(
            answers.select(task="item_id", annotator="annotator", label="label"), spec.labels, method
        ).labels
        given = dict(zip(consensus["task"].to_list(), consensus["label"].to_list(), strict=True))
        answered = [t for t in tasks if t.item_id in given]
        rows = self.feature_rows(spec, answered, features, columns)
        found = find_label_issues(
            rows,
            [given[t.item_id] for t in answered],
            spec.labels,
            model=model,
            cv=cv,
            seed=seed,
            item_ids=[t.item_id for t in answered],
        )
        flagged = found.filter("is_issue").sort("quality")
        priorities = {
            item: REVIEW_BAND + (1.0 - q)
            for item, q in zip(flagged["item_id"].to_list(), flagged["quality"].to_list(), strict=True)
        }
        self.repo.set_priorities(name, priorities)
        if suggest and priorities:
            suggestions = dict(zip(flagged["item_id"].to_list(), flagged["suggested"].to_list(), strict=True))
            self.repo.set_suggestions(name, suggestions, "model")
        closed = [t.item_id for t in answered if t.item_id in priorities and t.done >= spec.overlap + t.extra]
        self.repo.reopen(name, closed)
        return {
            "project": name,
            "items": found.height,
            "flagged": flagged.height,
            "reopened": len(closed),
            "issues": flagged.select("item_id", "given", "suggested", "quality").to_dicts(),
        }

    # -- pre-labels --------------------------------------------------------------------------
    def prelabel(
        self,
        name: str,
        model: Any,
        features: Any = None,
        *,
        columns: Sequence[str] | None = None,
        min_confidence: float = 0.0,
    ) -> dict[str, Any]:
        """The model's label as a suggestion (source "model") on every task that is not gold
        (a suggestion on a gold task would bias the measure of annotators) and whose
        confidence reaches `min_confidence`."""
        from loopline.annotate.prelabel import prelabel

        spec = self.repo.get_project(name)
        tasks = [t for t in self.repo.tasks(name) if t.gold is None]
        if not tasks:
            raise InvalidInput(f"{name} has no tasks to pre-label")
        out = prelabel(
            model,
            self.feature_rows(spec, tasks, features, columns),
            spec.labels,
            items=[t.item_id for t in tasks],
        )
        kept = out.filter(pl.col("confidence") >= min_confidence)
        written = self.repo.set_suggestions(
            name, dict(zip(kept["item"].to_list(), kept["suggestion"].to_list(), strict=True)), "model"
        )
        return {
            "project": name,
            "suggested": written,
            "below_confidence": out.height - kept.height,
            "mean_confidence": float(out.select(pl.col("confidence").mean()).item() or 0.0),
            "by_label": dict(kept.group_by("suggestion").len().sort("suggestion").iter_rows()),
        }

    # -- active learning ---------------------------------------------------------------------
    def prioritize(
        self,
        name: str,
        model: Any = None,
        features: Any = None,
        *,
        proba: np.ndarray | None = None,
        columns: Sequence[str] | None = None,
        strategy: str = "least_confidence",
        diversity: float = 0.0,
        k: int | None = None,
        seed: int = 0,
    ) -> dict[str, Any]:
        """Rank the open tasks (not gold, answers below the overlap) by `select` and set their
        priorities so the queue serves the k most useful first. Give a fitted `model` (its
        predict_proba on the tasks' features) or `proba` (one row per open task, in task order)."""
        from loopline.annotate.active import select
        from loopline.annotate.features import feature_matrix
        from loopline.annotate.prelabel import predict_proba

        spec = self.repo.get_project(name)
        tasks = self.repo.tasks(name)
        open_tasks = [t for t in tasks if _open(t, spec.overlap)]
        if not open_tasks:
            return {"project": name, "open": 0, "prioritized": 0, "reset": 0, "next": []}
        needs_rows = proba is None or diversity > 0
        rows = self.feature_rows(spec, open_tasks, features, columns) if needs_rows else None
        if proba is None:
            if model is None:
                raise InvalidInput("prioritize needs a model or probabilities", hint="pass a model")
            assert rows is not None  # needs_rows: there is no proba
            proba = predict_proba(model, rows, spec.labels)
        elif len(proba) != len(open_tasks):
            raise InvalidInput(f"{len(proba)} probability rows for {len(open_tasks)} open tasks")
        matrix = feature_matrix(rows)[0] if diversity > 0 else None
        k = len(open_tasks) if k is None else k
        picked = select(np.asarray(proba), k, strategy, features=matrix, diversity=diversity, seed=seed)
        n = max(len(picked), 1)
        priorities = {
            open_tasks[i].item_id: ACTIVE_BAND + (n - rank) / (n + 1) for rank, i in enumerate(picked)
        }
        stale = {
            t.item_id: 0.0
            for t in open_tasks
            if ACTIVE_BAND <= t.priority < REVIEW_BAND and t.item_id not in priorities
        }
        self.repo.set_priorities(name, priorities | stale)
        return {
            "project": name,
            "open": len(open_tasks),
            "prioritized": len(priorities),
            "reset": len(stale),
            "strategy": strategy,
            "diversity": diversity,
            "next": [open_tasks[i].item_id for i in picked[:10]],
        }
