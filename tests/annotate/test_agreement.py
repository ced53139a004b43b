"""Agreement figures against published worked examples, scikit-learn's Cohen's kappa, and
definitions coded the slow, obvious way in the test itself."""

from __future__ import annotations

import itertools
import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score

from loopline.annotate.aggregate import aggregate
from loopline.annotate.agreement import (
    cohen_kappa,
    confusion,
    fleiss_kappa,
    krippendorff_alpha,
    pairwise_kappa,
    summary,
)
from loopline.core.errors import InvalidInput

# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", the example with missing
# data: 4 observers, 12 units, values 1..5, "." = no answer.
KRIPPENDORFF = {
    "A": "1 2 3 3 2 1 4 1 2 . . .",
    "B": "1 2 3 3 2 2 4 1 2 5 . 3",
    "C": ". 3 3 3 2 3 4 2 2 5 1 .",
    "D": "1 2 3 3 2 4 4 1 2 5 1 .",
}
FIVE = ["1", "2", "3", "4", "5"]

# Fleiss' kappa worked example (Wikipedia, "Fleiss' kappa"): 10 subjects, 14 raters each,
# 5 categories; P-bar = 0.378, P-e = 0.213, kappa = 0.210.
FLEISS = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def _krippendorff_frame() -> pl.DataFrame:
    rows = [
        (unit, who, value)
        for who, line in KRIPPENDORFF.items()
        for unit, value in enumerate(line.split())
        if value != "."
    ]
    return pl.DataFrame(rows, schema=["task", "annotator", "label"], orient="row")


def _from_counts(counts: list[list[int]], labels: list[str]) -> pl.DataFrame:
    rows = []
    for task, row in enumerate(counts):
        rater = 0
        for label, count in zip(labels, row, strict=True):
            for _ in range(count):
                rows.append((task, f"r{rater:02d}", label))
                rater += 1
    return pl.DataFrame(rows, schema=["task", "annotator", "label"], orient="row")


def _alpha_by_pairs(frame: pl.DataFrame, labels: list[str], metric) -> float:
    """Krippendorff's alpha straight from its definition: 1 - D_o / D_e over pairable values."""
    units = [g["label"].to_list() for _, g in frame.group_by("task")]
    units = [u for u in units if len(u) >= 2]
    values = [v for u in units for v in u]
    n = len(values)
    d_o = (
        sum(
            metric(a, b) / (len(u) - 1)
            for u in units
            for i, a in enumerate(u)
            for j, b in enumerate(u)
            if i != j
        )
        / n
    )
    d_e = sum(metric(a, b) for i, a in enumerate(values) for j, b in enumerate(values) if i != j) / (
        n * (n - 1)
    )
    return 1 - d_o / d_e


@pytest.mark.parametrize(
    ("level", "published"),
    [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)],
)
def test_krippendorff_worked_example_with_missing_data(level: str, published: float) -> None:
    alpha = krippendorff_alpha(_krippendorff_frame(), FIVE, level)
    assert alpha == pytest.approx(published, abs=5e-4)


def test_krippendorff_nominal_and_interval_match_the_pairwise_definition() -> None:
    frame = _krippendorff_frame()
    nominal = _alpha_by_pairs(frame, FIVE, lambda a, b: float(a != b))
    interval = _alpha_by_pairs(frame, FIVE, lambda a, b: (float(a) - float(b)) ** 2)
    assert krippendorff_alpha(frame, FIVE, "nominal") == pytest.approx(nominal, rel=1e-12)
    assert krippendorff_alpha(frame, FIVE, "interval") == pytest.approx(interval, rel=1e-12)


def test_krippendorff_perfect_agreement_is_one_and_single_answers_drop_out() -> None:
    frame = pl.DataFrame(
        {"task": [1, 1, 2, 2, 3], "annotator": ["a", "b", "a", "b", "a"], "label": ["x", "x", "y", "y", "x"]}
    )
    assert krippendorff_alpha(frame, ["x", "y"]) == pytest.approx(1.0)
    assert math.isnan(krippendorff_alpha(frame.filter(pl.col("task") == 1), ["x", "y"]))
    with pytest.raises(InvalidInput):
        krippendorff_alpha(frame, ["x", "y"], "cardinal")  # type: ignore[arg-type]


def test_fleiss_worked_example() -> None:
    labels = ["c1", "c2", "c3", "c4", "c5"]
    kappa = fleiss_kappa(_from_counts(FLEISS, labels), labels)
    counts = np.array(FLEISS, dtype=float)
    p_i = ((counts**2).sum(1) - 14) / (14 * 13)
    p_j = counts.sum(0) / counts.sum()
    expected = (p_i.mean() - (p_j**2).sum()) / (1 - (p_j**2).sum())
    assert kappa == pytest.approx(expected, rel=1e-12)
    assert kappa == pytest.approx(0.210, abs=5e-4)


def test_fleiss_with_unequal_counts_uses_each_tasks_own_count() -> None:
    # Task 0: 3 answers (2 agree); task 1: 2 answers (agree); task 2: a single answer (left out).
    frame = pl.DataFrame(
        {
            "task": [0, 0, 0, 1, 1, 2],
            "annotator": ["a", "b", "c", "a", "b", "a"],
            "label": ["x", "x", "y", "y", "y", "x"],
        }
    )
    p_bar = ((4 + 1 - 3) / 6 + (4 - 2) / 2) / 2  # (1/3 + 1) / 2
    p_e = (2 / 5) ** 2 + (3 / 5) ** 2
    assert fleiss_kappa(frame, ["x", "y"]) == pytest.approx((p_bar - p_e) / (1 - p_e))
    assert math.isnan(fleiss_kappa(frame.filter(pl.col("task") == 2), ["x", "y"]))


def _random_pair_frame(seed: int) -> tuple[pl.DataFrame, list[str], list[str]]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, 60)
    a = np.where(rng.random(60) < 0.7, truth, rng.integers(0, 3, 60))
    b = np.where(rng.random(60) < 0.6, truth, rng.integers(0, 3, 60))
    names = np.array(["neg", "neu", "pos"])
    frame = pl.DataFrame(
        {
            "task": [*range(60), *range(5, 65)],  # b misses tasks 0-4 and answers 60-64 alone
            "annotator": ["ann"] * 60 + ["bob"] * 60,
            "label": [*names[a], *names[np.concatenate([b[5:], b[:5]])]],
        }
    )
    shared_a = list(names[a][5:])
    shared_b = list(names[b][5:])
    return frame, shared_a, shared_b


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cohen_kappa_matches_scikit_learn_on_shared_tasks(seed: int) -> None:
    frame, shared_a, shared_b = _random_pair_frame(seed)
    expected = cohen_kappa_score(shared_a, shared_b)
    assert cohen_kappa(frame, "ann", "bob") == pytest.approx(expected, rel=1e-12)
    assert cohen_kappa(frame, "bob", "ann") == pytest.approx(expected, rel=1e-12)
    table = pairwise_kappa(frame)
    assert table.rows() == [("ann", "bob", pytest.approx(expected, rel=1e-12), 55)]


def test_pairwise_kappa_covers_every_pair_with_shared_tasks() -> None:
    frame = _krippendorff_frame()
    table = pairwise_kappa(frame)
    assert table.columns == ["a", "b", "kappa", "n"]
    assert [(a, b) for a, b in table.select("a", "b").rows()] == list(itertools.combinations("ABCD", 2))
    for a, b, kappa, n in table.rows():
        both = frame.filter(pl.col("annotator") == a).join(frame.filter(pl.col("annotator") == b), on="task")
        assert n == both.height
        assert kappa == pytest.approx(cohen_kappa_score(both["label"], both["label_right"]), rel=1e-12)


def test_kappa_is_nan_when_undefined() -> None:
    frame = pl.DataFrame({"task": [1, 2, 3], "annotator": ["a", "a", "b"], "label": ["x", "x", "x"]})
    assert math.isnan(cohen_kappa(frame, "a", "b"))  # task 3 is b's alone: nothing shared
    same = pl.DataFrame({"task": [1, 1], "annotator": ["a", "b"], "label": ["x", "x"]})
    assert math.isnan(cohen_kappa(same, "a", "b"))  # chance agreement 1


def test_confusion_against_a_mapping_and_against_an_aggregation() -> None:
    frame = pl.DataFrame(
        {
            "task": ["t1", "t1", "t2", "t2", "t3", "t3", "t4"],
            "annotator": ["a", "b", "a", "b", "a", "b", "a"],
            "label": ["cat", "cat", "dog", "cat", "dog", "dog", "cat"],
        }
    )
    labels = ["cat", "dog"]
    truth = {"t1": "cat", "t2": "dog", "t3": "dog"}  # t4 has no reference: left out
    table = confusion(frame, truth, labels)
    assert table.columns == ["true", "given", "n"]
    assert table.rows() == [("cat", "cat", 2), ("cat", "dog", 0), ("dog", "cat", 1), ("dog", "dog", 3)]
    per = confusion(frame, truth, labels, per_annotator=True)
    assert per.filter(pl.col("annotator") == "b").rows() == [
        ("b", "cat", "cat", 1),
        ("b", "cat", "dog", 0),
        ("b", "dog", "cat", 1),
        ("b", "dog", "dog", 1),
    ]
    consensus = aggregate(frame, labels, "majority")
    assert confusion(frame, consensus, labels)["n"].sum() == frame.height
    assert confusion(frame, consensus.labels, labels).equals(confusion(frame, consensus, labels))
    with pytest.raises(InvalidInput, match="not in the label set"):
        confusion(frame, {"t1": "bird"}, labels)


answer_sets = st.lists(
    st.tuples(st.integers(0, 6), st.sampled_from(["a", "b", "c", "d"]), st.sampled_from(["x", "y", "z"])),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(answer_sets)
def test_agreement_figures_stay_in_range(rows: list[tuple[int, str, str]]) -> None:
    frame = pl.DataFrame(rows, schema=["task", "annotator", "label"], orient="row")
    labels = ["x", "y", "z"]
    for value in (fleiss_kappa(frame, labels), krippendorff_alpha(frame, labels)):
        assert math.isnan(value) or value <= 1.0 + 1e-9  # no fixed lower bound on small samples
    for kappa in pairwise_kappa(frame)["kappa"]:
        assert math.isnan(kappa) or -1.0 - 1e-9 <= kappa <= 1.0 + 1e-9
    assert confusion(frame, {t: "x" for t, _, _ in rows}, labels)["n"].sum() == len(rows)


def test_summary_is_json_ready_with_none_for_undefined_figures() -> None:
    import json

    frame = _krippendorff_frame()
    report = summary(frame, FIVE)
    assert report["tasks"] == 12
    assert report["pairable_tasks"] == 11  # unit 12 has one answer
    assert report["krippendorff_alpha"] == pytest.approx(0.743, abs=5e-4)
    assert report["fleiss_kappa"] == pytest.approx(fleiss_kappa(frame, FIVE))
    assert report["pairs"] == pairwise_kappa(frame).to_dicts()
    json.dumps(report, allow_nan=False)
    lonely = summary(pl.DataFrame({"task": [1], "annotator": ["a"], "label": ["1"]}), FIVE)
    assert lonely == {
        "tasks": 1,
        "pairable_tasks": 0,
        "fleiss_kappa": None,
        "krippendorff_alpha": None,
        "pairs": [],
    }
