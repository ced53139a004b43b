"""A frame of crowd answers as integer codes, the one form every aggregation model works on.

Tasks and annotators are coded by their sorted order (not by first appearance), so shuffling the
rows or renaming nothing changes the codes: results do not depend on row order. Models then run
on flat NumPy arrays and sparse count matrices, never on Python objects per answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from scipy import sparse

from loopline.core.errors import InvalidInput

REQUIRED = ("task", "annotator", "label")


@dataclass(frozen=True)
class Crowd:
    """Answers as codes: answer i is annotator `w[i]` giving label `l[i]` to task `t[i]`."""

    t: np.ndarray  # int64 task code per answer
    w: np.ndarray  # int64 annotator code per answer
    l: np.ndarray  # int64 label code per answer  # noqa: E741
    tasks: pl.Series  # task id per code, sorted
    annotators: pl.Series  # annotator name per code, sorted
    labels: tuple[str, ...]
    gold: np.ndarray  # label code per task code, -1 where unknown
    weight: np.ndarray | None = None  # per-answer weight (None: every answer weighs 1)

    @property
    def n_tasks(self) -> int:
        return len(self.tasks)

    @property
    def n_annotators(self) -> int:
        return len(self.annotators)

    @property
    def n_labels(self) -> int:
        return len(self.labels)

    def task_counts(self) -> np.ndarray:
        return np.bincount(self.t, minlength=self.n_tasks)

    def annotator_counts(self) -> np.ndarray:
        return np.bincount(self.w, minlength=self.n_annotators)

    def weighted(self, values: np.ndarray) -> np.ndarray:
        """Per-answer values times the answers' weights."""
        return values if self.weight is None else values * self.weight

    def votes(self) -> np.ndarray:
        """(tasks x labels) sum of answer weights (counts when no weights)."""
        k = self.n_labels
        flat = np.bincount(self.t * k + self.l, weights=self.weight, minlength=self.n_tasks * k)
        return flat.reshape(self.n_tasks, k).astype(np.float64)

    def by_task_answer(self) -> sparse.csr_matrix:
        """(tasks x annotators*labels) counts: row t, column w*K+l counts w's answers l on t
        (sums their weights)."""
        k = self.n_labels
        data = self.weighted(np.ones(len(self.t), dtype=np.float64))
        shape = (self.n_tasks, self.n_annotators * k)
        return sparse.csr_matrix((data, (self.t, self.w * k + self.l)), shape=shape)

    def clamp(self, probas: np.ndarray) -> np.ndarray:
        """Posteriors with every gold task set to its known label (in place)."""
        known = self.gold >= 0
        if known.any():
            probas[known] = 0.0
            probas[known, self.gold[known]] = 1.0
        return probas


def check_labels(labels: Sequence[str]) -> tuple[str, ...]:
    out = tuple(labels)
    if not out:
        raise InvalidInput("the label set is empty", hint="pass the project's labels, e.g. ['cat', 'dog']")
    if len(set(out)) != len(out):
        dupes = sorted({x for x in out if out.count(x) > 1})
        raise InvalidInput(f"the label set repeats {dupes}", hint="give each label once")
    if "task" in out:
        raise InvalidInput(
            "a label may not be named 'task' (it names the task column of the posteriors)",
            hint="rename the label",
        )
    return out


def required_columns(answers: pl.DataFrame) -> pl.DataFrame:
    """The task, annotator and label columns; InvalidInput naming the missing ones."""
    missing = [c for c in REQUIRED if c not in answers.columns]
    if missing:
        raise InvalidInput(
            f"the answers frame lacks column(s) {missing}",
            where=f"columns {answers.columns}",
            hint="answers need one row per answer with columns task, annotator, label",
        )
    return answers.select(REQUIRED)


def encode(answers: pl.DataFrame, labels: Sequence[str], gold: Mapping[Any, str] | None = None) -> Crowd:
    """Code an answers frame (task, annotator, label); a bad frame raises InvalidInput."""
    names = check_labels(labels)
    frame = required_columns(answers)
    nulls = frame.null_count().row(0)
    if any(nulls):
        col = REQUIRED[next(i for i, n in enumerate(nulls) if n)]
        row = int(frame[col].is_null().arg_true()[0])
        raise InvalidInput(f"{col} is missing", where=f"answers row {row}", hint="drop unanswered rows")
    code = {name: i for i, name in enumerate(names)}
    frame = frame.with_columns(pl.col("annotator").cast(pl.String), pl.col("label").cast(pl.String))
    tasks = frame["task"].unique().sort()
    annotators = frame["annotator"].unique().sort()
    coded = (
        frame.join(_codes(tasks, "t"), on="task", how="left", maintain_order="left")
        .join(_codes(annotators, "w"), on="annotator", how="left", maintain_order="left")
        .join(
            _codes(pl.Series("label", names, dtype=pl.String), "l"),
            on="label",
            how="left",
            maintain_order="left",
        )
    )
    unknown = coded["l"].is_null()
    if unknown.any():
        row = int(unknown.arg_true()[0])
        raise InvalidInput(
            f"label {coded['label'][row]!r} is not in the label set {list(names)}",
            where=f"answers row {row}",
            hint="fix the answer or add the label to the project's label set",
        )
    t, w, l_codes = (coded[c].to_numpy() for c in ("t", "w", "l"))
    gold_codes = np.full(len(tasks), -1, dtype=np.int64)
    if gold:
        index = {task: i for i, task in enumerate(tasks.to_list())}
        for task, label in gold.items():
            if label not in code:
                raise InvalidInput(
                    f"gold label {label!r} is not in the label set {list(names)}",
                    where=f"gold task {task!r}",
                    hint="fix the gold answer",
                )
            i = index.get(task)
            if i is not None:  # a gold task nobody answered has no row to clamp
                gold_codes[i] = code[label]
    return Crowd(
        t=np.ascontiguousarray(t, dtype=np.int64),
        w=np.ascontiguousarray(w, dtype=np.int64),
        l=np.ascontiguousarray(l_codes, dtype=np.int64),
        tasks=tasks,
        annotators=annotators,
        labels=names,
        gold=gold_codes,
    )


def _codes(values: pl.Series, name: str) -> pl.DataFrame:
    return pl.DataFrame([values, pl.Series(name, np.arange(len(values), dtype=np.int64))])


def row_max(x: np.ndarray) -> np.ndarray:
    """x.max(axis=1, keepdims=True) for a tall, narrow array: NumPy reduces a contiguous
    (K, tasks) copy about 5x faster than K-wide rows."""
    return np.ascontiguousarray(x.T).max(axis=0)[:, None]


def row_sum(x: np.ndarray) -> np.ndarray:
    """x.sum(axis=1, keepdims=True), the same way as `row_max`."""
    return np.ascontiguousarray(x.T).sum(axis=0)[:, None]


def tied_top(probas: np.ndarray) -> np.ndarray:
    """(tasks x labels) True where a label is at its task's top (within rounding)."""
    top = row_max(probas)
    return probas >= top - 1e-12 * np.maximum(np.abs(top), 1.0)


def pick(probas: np.ndarray, priority: np.ndarray) -> np.ndarray:
    """Row-wise argmax; a tie goes to the label with the higher `priority` (then the earlier one).

    Priority is a per-label score (e.g. the overall vote share), so ties do not depend on row
    order. (The label model of labeling_functions breaks its ties this way.)
    """
    k = probas.shape[1]
    order = np.empty(k, dtype=np.float64)
    order[np.lexsort((np.arange(k), -np.asarray(priority)))] = np.arange(k, 0, -1)
    return np.argmax(np.where(tied_top(probas), order, 0.0), axis=1)


def pick_seeded(probas: np.ndarray, seed: int) -> np.ndarray:
    """Row-wise argmax; among labels tied at the top, one drawn with `seed` (row by row, so for
    a given seed the draw of a task depends only on its place in the sorted task list)."""
    draw = np.random.default_rng(seed).random(probas.shape)
    return np.argmax(np.where(tied_top(probas), draw, -1.0), axis=1)
