"""What a labeling project is made of and what comes out of it, as pure functions: the tasks a
dataset yields, annotator accuracy on gold tasks and the policy that acts on it, and the
**labels** table built from the aggregated answers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

from loopline.core.errors import InvalidInput
from loopline.core.hashing import item_ids
from loopline.core.labeling import Annotation, Task

ITEM_ID = "_item_id"
LABELS_SCHEMA = {
    "item_id": pl.String,
    "label": pl.String,
    "confidence": pl.Float64,
    "n_annotations": pl.Int64,
    "method": pl.String,
}
ANSWERS_SCHEMA = {
    "item_id": pl.String,
    "annotator": pl.String,
    "label": pl.String,
    "seconds": pl.Float64,
    "source": pl.String,
}
Action = Literal["exclude", "downweight"]


def task_items(value: Any, text_field: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(item_id, what the annotator sees) per item of a dataset value.

    A table gives one task per row, its id from an `_item_id` column when the table has one,
    else the row's content hash; a blob set one task per file, its id the file's hash.
    """
    if isinstance(value, pl.DataFrame):
        frame = value
        if text_field is not None and text_field not in frame.columns:
            raise InvalidInput(
                f"the dataset has no column {text_field!r} to show",
                hint=f"columns: {', '.join(frame.columns)}",
            )
        if ITEM_ID in frame.columns:
            ids = frame.get_column(ITEM_ID).cast(pl.String)
            data = frame.drop(ITEM_ID)
        else:
            ids, data = item_ids(frame), frame
        if ids.null_count():
            raise InvalidInput(f"the dataset's {ITEM_ID} column has nulls")
        return list(zip(ids.to_list(), data.to_dicts(), strict=True))
    manifest = getattr(value, "manifest", None)
    if callable(manifest):  # a BlobSet: annotators see the file (path, blob, type, size, attributes)
        rows = manifest().to_dicts()
        return [(row["blob"], row) for row in rows]
    raise InvalidInput(
        f"cannot label a {type(value).__name__}", hint="label a table or a blob set (a folder of files)"
    )


def answers_frame(annotations: Sequence[Annotation], *, tasks: Sequence[Task] = ()) -> pl.DataFrame:
    """One row per answer: item_id, annotator, label, seconds, source (+ task id)."""
    item_of = {t.id: t.item_id for t in tasks}
    return pl.DataFrame(
        {
            "task": [a.task_id for a in annotations],
            "item_id": [a.item_id or item_of.get(a.task_id) for a in annotations],
            "annotator": [a.annotator for a in annotations],
            "label": [a.label if isinstance(a.label, str) else str(a.label) for a in annotations],
            "seconds": [float(a.seconds) for a in annotations],
            "source": [a.source for a in annotations],
        },
        schema={"task": pl.Int64, **ANSWERS_SCHEMA},
    )


def gold_accuracy(answers: pl.DataFrame, gold: Mapping[str, str]) -> pl.DataFrame:
    """Per annotator: gold tasks answered, answered right, and the accuracy (null without gold)."""
    known = pl.DataFrame(
        {"item_id": list(gold), "gold": list(gold.values())},
        schema={"item_id": pl.String, "gold": pl.String},
    )
    scored = answers.join(known, on="item_id", how="left")
    return (
        scored.group_by("annotator")
        .agg(
            pl.col("gold").is_not_null().sum().cast(pl.Int64).alias("gold_answers"),
            (pl.col("label") == pl.col("gold")).fill_null(False).sum().cast(pl.Int64).alias("gold_correct"),
        )
        .with_columns(
            pl.when(pl.col("gold_answers") > 0)
            .then(pl.col("gold_correct") / pl.col("gold_answers"))
            .otherwise(None)
            .alias("gold_accuracy")
        )
        .sort("annotator")
    )


@dataclass(frozen=True)
class Policy:
    """What to do with annotators whose gold accuracy is under `min_gold_accuracy`."""

    min_gold_accuracy: float = 0.7
    action: Action = "exclude"
    min_gold_answers: int = 1  # fewer gold answers than this: not judged

    @classmethod
    def parse(cls, spec: Mapping[str, Any] | None) -> Policy | None:
        if spec is None:
            return None
        unknown = set(spec) - {"min_gold_accuracy", "action", "min_gold_answers"}
        if unknown:
            raise InvalidInput(
                f"unknown policy key(s): {', '.join(sorted(unknown))}",
                hint="policy: {min_gold_accuracy: 0.7, action: exclude|downweight, min_gold_answers: 1}",
            )
        threshold = spec.get("min_gold_accuracy", 0.7)
        action = spec.get("action", "exclude")
        least = spec.get("min_gold_answers", 1)
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
            raise InvalidInput(f"min_gold_accuracy must be between 0 and 1, got {threshold!r}")
        if action not in ("exclude", "downweight"):
            raise InvalidInput(f"policy action must be exclude or downweight, got {action!r}")
        if isinstance(least, bool) or not isinstance(least, int) or least < 1:
            raise InvalidInput(f"min_gold_answers must be a whole number >= 1, got {least!r}")
        return cls(float(threshold), action, least)

    def weights(self, accuracy: pl.DataFrame) -> tuple[dict[str, float], list[str]]:
        """(annotator -> weight, flagged annotators). Excluded annotators weigh 0; down-weighted
        ones their accuracy over the threshold (so 0.35 under a 0.7 threshold weighs 0.5)."""
        weights: dict[str, float] = {}
        flagged: list[str] = []
        for row in accuracy.iter_rows(named=True):
            judged = row["gold_answers"] >= self.min_gold_answers and row["gold_accuracy"] is not None
            if judged and row["gold_accuracy"] < self.min_gold_accuracy:
                flagged.append(row["annotator"])
                share = row["gold_accuracy"] / self.min_gold_accuracy if self.min_gold_accuracy else 0.0
                weights[row["annotator"]] = 0.0 if self.action == "exclude" else share
        return weights, flagged


def labels_table(
    consensus: pl.DataFrame, item_of_task: Mapping[Any, str], gold: Mapping[str, str] | None = None
) -> pl.DataFrame:
    """The labels artifact: item_id, label, confidence, n_annotations, method; gold items carry
    their known answer (confidence 1, method "gold"). A task left unlabelled (a tie under
    `ties="abstain"`) has no row. Sorted by item_id, so equal answers give an equal table and so
    the same artifact id."""
    rows = consensus.filter(pl.col("label").is_not_null()).select(
        pl.col("task").replace_strict(item_of_task, return_dtype=pl.String).alias("item_id"),
        pl.col("label").cast(pl.String),
        pl.col("confidence").cast(pl.Float64),
        pl.col("n").cast(pl.Int64).alias("n_annotations"),
        pl.col("method").cast(pl.String),
    )
    if gold:
        counts = dict(zip(rows["item_id"].to_list(), rows["n_annotations"].to_list(), strict=True))
        known = pl.DataFrame(
            {
                "item_id": list(gold),
                "label": list(gold.values()),
                "confidence": [1.0] * len(gold),
                "n_annotations": [counts.get(i, 0) for i in gold],
                "method": ["gold"] * len(gold),
            },
            schema=LABELS_SCHEMA,
        )
        rows = pl.concat([rows.filter(~pl.col("item_id").is_in(list(gold))), known])
    return rows.sort("item_id")
