"""Labeling functions: applying them, the coverage/overlap/conflict table, and a label model that
beats the majority vote and recovers how good each function is, without gold."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy.stats import spearmanr

from loopline.annotate.labeling_functions import (
    apply_lfs,
    fit_label_model,
    labeling_function,
    lf_summary,
)
from loopline.core.errors import InvalidInput

LABELS = ["a", "b", "c"]
# one-label rules (target, P(vote | truth is target), P(vote | truth is another)): good to bad
RULES = [
    (0, 0.6, 0.03),
    (1, 0.5, 0.04),
    (2, 0.5, 0.05),
    (0, 0.5, 0.15),
    (1, 0.6, 0.25),
    (2, 0.5, 0.2),
    (0, 0.5, 0.35),
    (1, 0.5, 0.4),
    (2, 0.4, 0.35),
]


def _simulate(seed: int, n: int = 3000) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
    """A label matrix of one-label rules with known accuracies (as keyword rules are)."""
    rng = np.random.default_rng(seed)
    truth = rng.choice(3, n, p=[0.4, 0.35, 0.25])
    columns, accuracy = {}, []
    for j, (target, hit, false_alarm) in enumerate(RULES):
        votes = np.where(truth == target, rng.random(n) < hit, rng.random(n) < false_alarm)
        columns[f"lf{j}"] = pl.Series([LABELS[target] if v else None for v in votes], dtype=pl.String)
        accuracy.append(float((truth[votes] == target).mean()))
    return pl.DataFrame({"item": np.arange(n), **columns}), np.array(LABELS)[truth], np.array(accuracy)


def _accuracy(labels: pl.DataFrame, truth: np.ndarray) -> float:
    got = labels["label"].to_numpy()
    voted = labels["n"].to_numpy() > 0
    return float((got[voted] == truth[voted]).mean())


def test_label_model_beats_majority_and_recovers_the_accuracy_order() -> None:
    matrix, truth, true_accuracy = _simulate(seed=0)
    model = fit_label_model(matrix, LABELS)
    majority = fit_label_model(matrix, LABELS, "majority")
    votes_only = fit_label_model(matrix, LABELS, "dawid_skene")
    # measured on seeds 0-2: label model 0.77-0.80, majority 0.69-0.70, Dawid-Skene on votes 0.34
    assert _accuracy(model.labels, truth) >= _accuracy(majority.labels, truth) + 0.06
    assert _accuracy(model.labels, truth) >= 0.76
    assert _accuracy(votes_only.labels, truth) < 0.5  # one-label rules are invisible to it
    estimated = model.accuracies["accuracy"].to_numpy()
    assert model.accuracies["lf"].to_list() == [f"lf{j}" for j in range(len(RULES))]
    assert spearmanr(estimated, true_accuracy)[0] >= 0.95  # measured 0.98-1.0
    assert np.abs(estimated - true_accuracy).max() <= 0.08
    assert np.argmax(estimated) == np.argmax(true_accuracy)
    assert np.argmin(estimated) == np.argmin(true_accuracy)
    # items no rule labels stay unlabeled; the others carry a posterior confidence
    silent = model.labels.filter(pl.col("n") == 0)
    assert silent.height > 0 and silent["label"].null_count() == silent.height
    assert silent["confidence"].null_count() == silent.height
    voted = model.labels.filter(pl.col("n") > 0)
    assert voted["label"].null_count() == 0 and voted["confidence"].min() >= 1 / 3
    assert model.labels["item"].to_list() == matrix["item"].to_list()
    assert model.posteriors is not None and model.posteriors.columns == ["item", *LABELS]


def test_gold_clamps_items() -> None:
    matrix, _, _ = _simulate(seed=1, n=600)
    gold = {i: "c" for i in range(50)}
    model = fit_label_model(matrix, LABELS, gold=gold)
    head = model.labels.filter(pl.col("item") < 50, pl.col("n") > 0)
    assert set(head["label"].to_list()) == {"c"}


def test_apply_and_summary_on_a_small_table() -> None:
    table = pl.DataFrame(
        {
            "item_id": ["i0", "i1", "i2", "i3"],
            "text": ["refund please", "great, thanks", "refund, thanks", "hello"],
        }
    )

    @labeling_function(name="refund")
    def _refund(row):
        return "complaint" if "refund" in row["text"] else None

    @labeling_function
    def thanks(row):
        return "praise" if "thanks" in row["text"] else None

    def polite(row):  # a plain function works too
        return "praise" if "please" in row["text"] else None

    matrix = apply_lfs(table, [_refund, thanks, polite], labels=["complaint", "praise"])
    assert matrix.columns == ["item", "refund", "thanks", "polite"]
    assert matrix["item"].to_list() == ["i0", "i1", "i2", "i3"]
    assert matrix["refund"].to_list() == ["complaint", None, "complaint", None]
    gold = {"i0": "complaint", "i1": "praise", "i2": "praise"}
    summary = lf_summary(matrix, ["complaint", "praise"], gold)
    rows = {r["lf"]: r for r in summary.iter_rows(named=True)}
    assert rows["refund"]["polarity"] == ["complaint"]
    assert rows["refund"]["coverage"] == 0.5  # i0, i2
    assert rows["refund"]["overlaps"] == 0.5  # i0 with polite, i2 with thanks
    assert rows["refund"]["conflicts"] == 0.5  # both disagree
    assert rows["thanks"] | {"polarity": None} == {
        "lf": "thanks",
        "polarity": None,
        "coverage": 0.5,
        "overlaps": 0.25,
        "conflicts": 0.25,
        "correct": 2,
        "incorrect": 0,
        "accuracy": 1.0,
    }
    assert rows["refund"]["accuracy"] == 0.5
    model = fit_label_model(matrix, ["complaint", "praise"], "majority")
    assert model.labels.filter(pl.col("item") == "i1")["label"].item() == "praise"
    assert model.labels.filter(pl.col("item") == "i3")["label"].item() is None
    with_model = lf_summary(matrix, ["complaint", "praise"], model=model)
    assert "estimated_accuracy" in with_model.columns


def test_rows_without_item_ids_are_numbered_and_bad_functions_are_named() -> None:
    rows = [{"x": 1}, {"x": -1}, {"x": 0}]
    matrix = apply_lfs(rows, [lambda r: "pos" if r["x"] > 0 else None])
    assert matrix["item"].to_list() == [0, 1, 2] and matrix.columns == ["item", "<lambda>"]

    def sign(row):
        return "pos" if row["x"] > 0 else "zero" if row["x"] == 0 else "neg"

    with pytest.raises(InvalidInput, match="'sign' returned 'zero'") as info:
        apply_lfs(rows, [sign], labels=["pos", "neg"])
    assert info.value.where == "row 2"

    def broken(row):
        return row["missing"]

    with pytest.raises(InvalidInput, match="'broken' raised KeyError"):
        apply_lfs(rows, [broken])
    with pytest.raises(InvalidInput, match="unique"):
        apply_lfs(rows, [sign, sign])
    with pytest.raises(InvalidInput, match="unknown label model"):
        fit_label_model(apply_lfs(rows, [sign]), ["pos", "neg", "zero"], "snorkel")
    with pytest.raises(InvalidInput, match="abstained on every item"):
        fit_label_model(apply_lfs(rows, [lambda r: None]), ["pos"])
