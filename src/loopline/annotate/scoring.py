"""How well each aggregation method and each annotator does on items whose truth is known: the
check a user runs on a published crowd set before trusting loopline's labels on their own.

Unlike `aggregate(gold=...)`, nothing is clamped: every method sees only the answers, so its
accuracy on the gold items is an honest estimate, not 100% by construction. Gold items the
project does not know, and known ones nobody answered, are counted, not errors (a published
gold file often covers more items than the crowd file).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import polars as pl

from loopline.annotate.aggregate import METHODS, aggregate
from loopline.annotate.projects import gold_accuracy
from loopline.core.errors import InvalidInput

__all__ = ["score"]


def score(
    answers: pl.DataFrame,
    labels: Sequence[str],
    gold: Mapping[str, Any],
    *,
    items: Collection[str],
    methods: Sequence[str] = METHODS,
    **options: Any,
) -> dict[str, Any]:
    """Accuracy per method and per annotator on the gold items.

    `answers` has item_id, annotator, label; `items` are the project's item ids; options go to
    `aggregate` (ties, seed, max_iter, tol). An abstained item counts as not right. Raises
    InvalidInput for a gold label outside `labels`."""
    names = set(labels)
    for item, label in gold.items():
        if not isinstance(label, str) or label not in names:
            raise InvalidInput(
                f"gold label {label!r} is not in the label set {list(labels)}",
                where=f"gold item {item!r}",
                hint="fix the gold file or the project's labels",
            )
    known = set(items)
    unknown = sorted(i for i in gold if i not in known)
    answered = set(answers["item_id"].to_list())
    truth = {i: label for i, label in gold.items() if i in known}
    scored = {i: label for i, label in truth.items() if i in answered}
    result: dict[str, Any] = {
        "gold_items": len(gold),
        "unknown_items": len(unknown),
        "unknown_examples": unknown[:10],
        "unanswered_items": len(truth) - len(scored),
        "scored_items": len(scored),
        "methods": [],
        "annotators": [],
    }
    if not scored:
        return result
    frame = answers.select(pl.col("item_id").alias("task"), "annotator", "label")
    for method in methods:
        fit = aggregate(frame, labels, method, **options)
        picked = dict(fit.labels.select("task", "label").iter_rows())
        right = sum(1 for i, label in scored.items() if picked.get(i) == label)
        abstained = sum(1 for i in scored if picked.get(i) is None)
        result["methods"].append(
            {
                "method": method,
                "correct": right,
                "scored": len(scored),
                "abstained": abstained,
                "accuracy": right / len(scored),
                "iterations": fit.iterations,
            }
        )
    per = gold_accuracy(answers, scored).filter(pl.col("gold_answers") > 0)
    result["annotators"] = per.rename(
        {"gold_answers": "answers", "gold_correct": "correct", "gold_accuracy": "accuracy"}
    ).to_dicts()
    return result
