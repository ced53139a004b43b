"""Labeling functions: plain Python rules that label an item or abstain, combined by a label
model that learns how far to trust each one without any known answer (as Snorkel does).

    @labeling_function(name="mentions_refund")
    def refund(row):
        return "complaint" if "refund" in row["text"].lower() else None   # None: abstain

    matrix = apply_lfs(table, [refund, greeting, ...], labels=["complaint", "praise"])
    lf_summary(matrix, ["complaint", "praise"])          # coverage, overlaps, conflicts per LF
    model = fit_label_model(matrix, ["complaint", "praise"])
    model.labels                                           # item, label, confidence, n, method

Why the label model is not plain Dawid-Skene on the votes: most labeling functions only ever
emit one label (a keyword rule says "complaint" or nothing). Given that it voted, such a
function always says the same thing, so a model that conditions on votes learns nothing from it.
What tells a good rule from a bad one is *when* it abstains. The label model is therefore
Dawid-Skene with the abstain as an observed answer: per function and true class, the
probabilities of each label and of abstaining (a K x (K+1) confusion matrix), fitted by the
same EM as `aggregate` (`_dawid_skene.fit`, not a second implementation), from the majority
vote, with the true class never "abstain". Each function's estimated accuracy is then
P(its label is right | it voted).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import polars as pl

from loopline.annotate import _dawid_skene
from loopline.annotate._crowd import encode, pick
from loopline.annotate.aggregate import aggregate
from loopline.core.errors import InvalidInput

ABSTAIN = "<abstain>"
ITEM = "item"
METHODS = ("label_model", "majority", "dawid_skene", "glad")

__all__ = [
    "ABSTAIN",
    "METHODS",
    "LabelModel",
    "LabelingFunction",
    "apply_lfs",
    "fit_label_model",
    "labeling_function",
    "lf_summary",
]


@dataclass(frozen=True)
class LabelingFunction:
    name: str
    fn: Callable[[Mapping[str, Any]], Any]

    def __call__(self, row: Mapping[str, Any]) -> Any:
        return self.fn(row)


def labeling_function(
    fn: Callable[[Mapping[str, Any]], Any] | None = None, *, name: str | None = None
) -> Any:
    """Decorator, with or without arguments: `@labeling_function` or `@labeling_function(name=...)`."""
    if fn is None:
        return partial(labeling_function, name=name)
    own: str = getattr(fn, "__name__", "lf")
    return LabelingFunction(name or own, fn)


def _name(lf: Callable[..., Any]) -> str:
    return lf.name if isinstance(lf, LabelingFunction) else getattr(lf, "__name__", repr(lf))


def apply_lfs(
    frame: pl.DataFrame | Sequence[Mapping[str, Any]],
    lfs: Sequence[Callable[[Mapping[str, Any]], Any]],
    labels: Sequence[str] | None = None,
) -> pl.DataFrame:
    """The label matrix: column `item` (the table's item_id, else the row number), then one
    String column per function (named after it) holding its label, null where it abstained.
    A label outside `labels` (when given) or an exception in a function is an InvalidInput
    naming the function and the row."""
    names = [_name(lf) for lf in lfs]
    if not names:
        raise InvalidInput("no labeling functions given")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes or ITEM in names:
        raise InvalidInput(
            f"labeling function names must be unique and not {ITEM!r}: {dupes or [ITEM]}",
            hint="name them with @labeling_function(name=...)",
        )
    rows = list(frame.iter_rows(named=True)) if isinstance(frame, pl.DataFrame) else list(frame)
    allowed = None if labels is None else {str(label) for label in labels}
    columns: dict[str, list[str | None]] = {}
    for lf, name in zip(lfs, names, strict=True):
        out: list[str | None] = []
        for i, row in enumerate(rows):
            try:
                value = lf(row)
            except Exception as exc:
                raise InvalidInput(
                    f"labeling function {name!r} raised {type(exc).__name__}: {exc}",
                    where=f"row {i}",
                    hint="make it return None (abstain) for rows it cannot handle",
                ) from exc
            if value is not None:
                value = str(value)
                if allowed is not None and value not in allowed:
                    raise InvalidInput(
                        f"labeling function {name!r} returned {value!r}, not in the label set "
                        f"{sorted(allowed)}",
                        where=f"row {i}",
                        hint="return one of the labels, or None to abstain",
                    )
            out.append(value)
        columns[name] = out
    if isinstance(frame, pl.DataFrame) and "item_id" in frame.columns:
        item = frame["item_id"].cast(pl.String)
    else:
        item = pl.Series(np.arange(len(rows), dtype=np.int64))
    return pl.DataFrame([item.alias(ITEM), *(pl.Series(n, v, dtype=pl.String) for n, v in columns.items())])


def _lf_columns(matrix: pl.DataFrame) -> list[str]:
    names = [c for c in matrix.columns if c != ITEM]
    if ITEM not in matrix.columns or not names:
        raise InvalidInput(
            "a label matrix has an `item` column and one column per labeling function",
            hint="build it with apply_lfs",
        )
    return names


def _gold_array(matrix: pl.DataFrame, gold: Sequence[Any] | Mapping[Any, Any] | None) -> np.ndarray | None:
    """Gold labels aligned with the matrix rows (None where unknown)."""
    if gold is None:
        return None
    if isinstance(gold, Mapping):
        values = [gold.get(item) for item in matrix[ITEM].to_list()]
    else:
        values = list(gold)
        if len(values) != matrix.height:
            raise InvalidInput(f"{len(values)} gold labels for {matrix.height} items")
    return np.array([None if v is None else str(v) for v in values], dtype=object)


def lf_summary(
    matrix: pl.DataFrame,
    labels: Sequence[str],
    gold: Sequence[Any] | Mapping[Any, Any] | None = None,
    *,
    model: LabelModel | None = None,
) -> pl.DataFrame:
    """Per function: `polarity` (the labels it emits), `coverage` (share of items it labels),
    `overlaps` (share of items it labels that another function labels too), `conflicts` (share
    of items it labels that another function labels differently; all three as shares of all
    items, as Snorkel reports them). With `gold` (aligned with the rows, or item -> label;
    None unknown): `correct`, `incorrect` and `accuracy` on the gold items it labels. With a
    fitted `model`: `estimated_accuracy`, the label model's P(right | voted)."""
    names = _lf_columns(matrix)
    code = {label: i for i, label in enumerate(labels)}
    votes = np.full((matrix.height, len(names)), -1, dtype=np.int64)
    for j, name in enumerate(names):
        column = matrix[name].to_list()
        for i, value in enumerate(column):
            if value is not None:
                if value not in code:
                    raise InvalidInput(f"{name!r} holds {value!r}, not in the label set {list(labels)}")
                votes[i, j] = code[value]
    voted = votes >= 0
    n_voting = voted.sum(axis=1)
    # per item: the smallest and largest label voted; they differ exactly when votes disagree
    low = np.where(voted, votes, len(labels)).min(axis=1)
    high = votes.max(axis=1)
    n = max(matrix.height, 1)
    rows: dict[str, list[Any]] = {
        "lf": names,
        "polarity": [],
        "coverage": [],
        "overlaps": [],
        "conflicts": [],
    }
    for j in range(len(names)):
        mine = voted[:, j]
        rows["polarity"].append([labels[k] for k in np.unique(votes[mine, j])])
        rows["coverage"].append(mine.sum() / n)
        rows["overlaps"].append((mine & (n_voting > 1)).sum() / n)
        rows["conflicts"].append((mine & (low != high)).sum() / n)
    summary = pl.DataFrame(rows, schema_overrides={"polarity": pl.List(pl.String)})
    truth = _gold_array(matrix, gold)
    if truth is not None:
        known = np.array([t is not None for t in truth])
        truth_code = np.array([code.get(t, -2) if t is not None else -2 for t in truth])
        correct = [int((voted[:, j] & known & (votes[:, j] == truth_code)).sum()) for j in range(len(names))]
        judged = [int((voted[:, j] & known).sum()) for j in range(len(names))]
        summary = summary.with_columns(
            correct=pl.Series(correct, dtype=pl.Int64),
            incorrect=pl.Series([d - c for c, d in zip(correct, judged, strict=True)], dtype=pl.Int64),
            accuracy=pl.Series([c / d if d else None for c, d in zip(correct, judged, strict=True)]),
        )
    if model is not None:
        summary = summary.join(
            model.accuracies.select("lf", estimated_accuracy="accuracy"), on="lf", how="left"
        )
    return summary


@dataclass(frozen=True)
class LabelModel:
    # item, label (null where every function abstained), confidence, n (votes), method
    labels: pl.DataFrame
    # lf, accuracy (estimated P(right | voted)), n (votes)
    accuracies: pl.DataFrame
    # item + one probability column per label (None for majority)
    posteriors: pl.DataFrame | None
    iterations: int


def _long_votes(matrix: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    return (
        matrix.unpivot(index=ITEM, on=names, variable_name="annotator", value_name="label")
        .rename({ITEM: "task"})
        .drop_nulls("label")
    )


def fit_label_model(
    matrix: pl.DataFrame,
    labels: Sequence[str],
    method: str = "label_model",
    *,
    gold: Mapping[Any, str] | None = None,
    max_iter: int = 200,
    tol: float = 1e-6,
) -> LabelModel:
    """Combine the functions' votes into one label per item. `label_model` (default) learns
    each function's accuracy from agreements and abstains, without gold; `majority` is the
    vote; `dawid_skene` and `glad` are `aggregate`'s crowd models on the votes alone (fine for
    functions that emit several labels, blind to one-label rules). `gold` (item -> label)
    clamps known items."""
    if method not in METHODS:
        raise InvalidInput(f"unknown label model {method!r}", hint=f"use one of {', '.join(METHODS)}")
    names = _lf_columns(matrix)
    labels = tuple(str(label) for label in labels)
    if ABSTAIN in labels:
        raise InvalidInput(f"{ABSTAIN!r} is reserved for abstaining", hint="rename that label")
    votes = _long_votes(matrix, names)
    n_votes = matrix.select(ITEM, n=pl.sum_horizontal(pl.col(names).is_not_null()).cast(pl.Int64))
    if votes.is_empty():
        raise InvalidInput("every labeling function abstained on every item", hint="check the functions")
    if method != "label_model":
        result = aggregate(votes, labels, method, gold=gold, max_iter=max_iter, tol=tol)
        table = result.labels.rename({"task": ITEM}).drop("n")
        accuracies = result.skills.rename({"annotator": "lf", "skill": "accuracy"})
        found = result.posteriors if method != "majority" else None
        posteriors = found.rename({"task": ITEM}) if found is not None else None
        iterations = result.iterations
    else:
        table, accuracies, posteriors, iterations = _abstain_aware(matrix, names, labels, gold, max_iter, tol)
    out = (
        n_votes.join(table, on=ITEM, how="left", maintain_order="left")
        .with_columns(method=pl.lit(method))
        .select(ITEM, "label", "confidence", "n", "method")
    )
    order = pl.DataFrame({"lf": names})
    accuracies = order.join(accuracies.select("lf", "accuracy", "n"), on="lf", how="left")
    return LabelModel(labels=out, accuracies=accuracies, posteriors=posteriors, iterations=iterations)


def _abstain_aware(
    matrix: pl.DataFrame,
    names: list[str],
    labels: tuple[str, ...],
    gold: Mapping[Any, str] | None,
    max_iter: int,
    tol: float,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, int]:
    """Dawid-Skene over K labels plus abstain as answers, the truth kept among the K labels."""
    k = len(labels)
    every = matrix.unpivot(index=ITEM, on=names, variable_name="annotator", value_name="label")
    every = every.rename({ITEM: "task"}).with_columns(pl.col("label").fill_null(ABSTAIN))
    crowd = encode(every, (*labels, ABSTAIN), gold)
    votes = crowd.votes()
    votes[:, k] = 0.0  # start from the majority of the real votes; the truth is never abstain
    total = votes.sum(axis=1, keepdims=True)
    init = np.where(total > 0, votes / np.where(total > 0, total, 1.0), 1.0 / k)
    init[:, k] = 0.0
    fit = _dawid_skene.fit(crowd, init, max_iter=max_iter, tol=tol)
    probas = fit.probas[:, :k] / fit.probas[:, :k].sum(axis=1, keepdims=True)
    prior = fit.priors[:k] / fit.priors[:k].sum()
    chosen = pick(probas, prior)
    real = votes[:, :k].sum(axis=1) > 0
    label_names = pl.Series("label", labels, dtype=pl.String).gather(chosen)
    table = pl.DataFrame(
        {
            "task": crowd.tasks,
            "label": label_names.scatter(np.flatnonzero(~real), None) if (~real).any() else label_names,
            "confidence": np.where(real, probas[np.arange(len(chosen)), chosen], np.nan),
        }
    ).with_columns(pl.col("confidence").fill_nan(None))
    table = table.rename({"task": ITEM}).with_columns(pl.col(ITEM).cast(matrix[ITEM].dtype))
    # errors[w, given, true]: P(right | voted) = sum_k prior_k P(k|k) / sum_k prior_k P(voted|k)
    errors = fit.errors[:, :, :k]
    right = np.einsum("wkk,k->w", errors[:, :k, :k], prior)
    voted = (1.0 - errors[:, k, :]) @ prior
    accuracy = right / np.maximum(voted, 1e-12)
    n = np.bincount(crowd.w, weights=(crowd.l < k).astype(np.float64), minlength=crowd.n_annotators)
    accuracies = pl.DataFrame({"lf": crowd.annotators, "accuracy": accuracy, "n": n.astype(np.int64)})
    posteriors = pl.DataFrame(
        [
            crowd.tasks.alias(ITEM).cast(matrix[ITEM].dtype),
            *(pl.Series(lb, probas[:, j]) for j, lb in enumerate(labels)),
        ]
    )
    return table, accuracies, posteriors, fit.iterations
