"""Real crowd data: repeated answers of one annotator to one item (kept, first, last or refused)
and the tie rules of the vote, with crowd-kit as the oracle where it has the same rule."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from loopline.annotate.aggregate import aggregate
from loopline.annotate.agreement import fleiss_kappa
from loopline.annotate.projects import labels_table
from loopline.annotate.repeats import resolve
from loopline.annotate.scoring import score
from loopline.core.errors import InvalidInput

pytestmark = pytest.mark.filterwarnings("ignore::Warning:crowdkit")
LABELS = ["bird", "cat", "dog"]


def messy_crowd(n: int = 300, seed: int = 5) -> tuple[pl.DataFrame, dict[str, str]]:
    """Five annotators of falling accuracy (the last a spammer), each answering 60% of the
    tasks, a third of those answers repeated once or twice, each repeat drawn afresh (so some
    repeats conflict), as published crowd sets record them."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, n)
    rows = []
    for t in range(n):
        for who, p in {"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.6, "e": 0.34}.items():
            if rng.random() < 0.6:
                for _ in range(1 + int(rng.random() < 0.3) + int(rng.random() < 0.2)):
                    label = truth[t] if rng.random() < p else rng.integers(0, 3)
                    rows.append((f"t{t:03d}", who, LABELS[label]))
    frame = pl.DataFrame(rows, schema=["task", "annotator", "label"], orient="row")
    return frame, {f"t{t:03d}": LABELS[k] for t, k in enumerate(truth)}


def _pandas(frame: pl.DataFrame):
    return frame.rename({"annotator": "worker"}).to_pandas()


def _located(*rows: tuple[str, str, str]) -> list:
    return [(f"line {n}", (item, who, label, 0.0, "human")) for n, (item, who, label) in enumerate(rows, 2)]


# -- what to do with repeats ------------------------------------------------------------------
def test_resolve_keeps_first_last_or_refuses_repeats():
    rows = _located(
        ("i1", "w1", "cat"),
        ("i2", "w1", "dog"),
        ("i1", "w1", "dog"),  # a conflicting repeat
        ("i1", "w1", "cat"),  # and a third answer
        ("i2", "w2", "dog"),
        ("i2", "w1", "dog"),  # a repeat that agrees
    )
    keep = resolve(rows, "keep")
    assert (keep.repeated, keep.conflicting, keep.dropped) == (3, 1, 0)
    assert keep.rows == [r for _, r in rows]
    first = resolve(rows, "first")
    assert [(r[0], r[1], r[2]) for r in first.rows] == [
        ("i1", "w1", "cat"),
        ("i2", "w1", "dog"),
        ("i2", "w2", "dog"),
    ]
    assert (first.repeated, first.conflicting, first.dropped) == (3, 1, 3)
    last = resolve(rows, "last")
    assert [(r[0], r[1], r[2]) for r in last.rows] == [
        ("i1", "w1", "cat"),
        ("i2", "w2", "dog"),
        ("i2", "w1", "dog"),
    ]
    assert last.summary("last") == {"duplicates": "last", "repeated": 3, "conflicting": 1, "dropped": 3}
    with pytest.raises(InvalidInput, match=r"'w1' answers item 'i1' again \(first at line 2\)") as caught:
        resolve(rows, "error")
    assert caught.value.where == "line 4"
    with pytest.raises(InvalidInput, match="unknown --duplicates"):
        resolve(rows, "merge")
    assert resolve(_located(("i1", "w1", "cat"), ("i1", "w2", "cat")), "error").repeated == 0


# -- repeats count as votes, as crowd-kit counts them ----------------------------------------------
def test_repeats_count_as_votes_as_in_crowdkit():
    ca = pytest.importorskip("crowdkit.aggregation")
    frame, truth = messy_crowd()
    repeats = frame.group_by("task", "annotator").len().filter(pl.col("len") > 1)
    assert repeats.height > 100 and repeats["len"].max() == 3  # the data is as messy as claimed
    ours = aggregate(frame, LABELS, "dawid_skene")
    theirs = ca.DawidSkene(n_iter=100, tol=1e-5).fit(_pandas(frame)).probas_.sort_index()[LABELS]
    assert np.abs(ours.posteriors.sort("task").select(LABELS).to_numpy() - theirs.to_numpy()).max() < 1e-6
    glad = ca.GLAD(n_iter=100).fit_predict(_pandas(frame)).sort_index().to_numpy()
    agree = (aggregate(frame, LABELS, "glad").labels.sort("task")["label"].to_numpy() == glad).mean()
    assert agree > 0.97
    # majority: the same shares, so the same winner wherever there is no tie
    shares = ca.MajorityVote().fit_predict_proba(_pandas(frame)).sort_index()[LABELS].to_numpy()
    mv = aggregate(frame, LABELS, "majority")
    ours_shares = mv.posteriors.sort("task").select(LABELS).to_numpy()
    np.testing.assert_allclose(ours_shares, shares)
    # a repeat is one more vote: dropping them changes the shares of the tasks that have them
    once = aggregate(frame.unique(["task", "annotator", "label"]), LABELS, "majority").posteriors
    assert not np.allclose(once.sort("task").select(LABELS).to_numpy(), ours_shares)
    # and one more answer in Fleiss' kappa's counts
    assert fleiss_kappa(frame, LABELS) != pytest.approx(
        fleiss_kappa(frame.unique(["task", "annotator"]), LABELS)
    )
    right = [truth[t] == label for t, label in ours.labels.select("task", "label").iter_rows()]
    assert np.mean(right) > 0.85


# -- ties ------------------------------------------------------------------------------------------
def test_tie_rules_smallest_and_abstain_against_crowdkit():
    ca = pytest.importorskip("crowdkit.aggregation")
    frame, _ = messy_crowd(seed=9)
    theirs = ca.MajorityVote().fit_predict(_pandas(frame)).sort_index().to_numpy()
    shares = aggregate(frame, LABELS, "majority").posteriors.sort("task").select(LABELS).to_numpy()
    top = shares.max(axis=1, keepdims=True)
    tied = np.isclose(shares, top)
    is_tie = tied.sum(axis=1) > 1
    assert 10 < is_tie.sum() < 150
    smallest = aggregate(frame, LABELS, "majority", ties="smallest").labels.sort("task")
    got = smallest["label"].to_numpy()
    assert (got[~is_tie] == theirs[~is_tie]).all()  # crowd-kit's winner wherever there is one
    first_tied = np.array(LABELS)[np.argmax(tied, axis=1)]  # LABELS are in name order
    assert (got[is_tie] == first_tied[is_tie]).all()
    names = np.array(LABELS)
    assert all(theirs[i] in names[tied[i]] for i in np.flatnonzero(is_tie))  # crowd-kit picks a tied one too
    # the rule does not depend on a seed, the random rule does
    assert aggregate(frame, LABELS, "majority", ties="smallest", seed=7).labels.equals(smallest)
    draws = {tuple(aggregate(frame, LABELS, "majority", seed=s).labels["label"].to_list()) for s in range(3)}
    assert len(draws) == 3
    abstain = aggregate(frame, LABELS, "majority", ties="abstain").labels.sort("task")
    assert abstain["label"].is_null().to_numpy().tolist() == is_tie.tolist()
    assert (abstain["label"].to_numpy()[~is_tie] == theirs[~is_tie]).all()
    assert abstain.filter(pl.col("label").is_null())["confidence"].to_numpy() == pytest.approx(top[is_tie, 0])
    table = labels_table(abstain, {t: t for t in abstain["task"].to_list()})
    assert table.height == int((~is_tie).sum()) and table["label"].null_count() == 0
    with pytest.raises(InvalidInput, match="unknown tie rule"):
        aggregate(frame, LABELS, "majority", ties="first")
    with pytest.raises(InvalidInput, match="tol"):
        aggregate(frame, LABELS, "dawid_skene", tol=0.0)


def test_iteration_limit_and_tolerance_reach_the_models():
    frame, _ = messy_crowd(n=200, seed=2)
    assert aggregate(frame, LABELS, "dawid_skene", max_iter=2).iterations == 2
    loose = aggregate(frame, LABELS, "dawid_skene", tol=1e-1).iterations
    tight = aggregate(frame, LABELS, "dawid_skene", tol=1e-9, max_iter=500).iterations
    assert loose < tight
    assert aggregate(frame, LABELS, "glad", max_iter=1).iterations <= 10
    assert (
        aggregate(frame, LABELS, "glad", tol=1e-9).iterations
        > aggregate(frame, LABELS, "glad", tol=1e-1).iterations
    )


# -- scoring against gold ----------------------------------------------------------------------
def test_score_against_gold_matches_crowdkit_accuracies():
    ca = pytest.importorskip("crowdkit.aggregation")
    frame, truth = messy_crowd(seed=11)
    answers = frame.rename({"task": "item_id"})
    gold = {t: label for t, label in truth.items() if int(t[1:]) % 3 == 0}
    gold["not-an-item"] = "cat"
    got = score(answers, LABELS, gold, items=list(truth), ties="smallest")
    scored = [t for t in gold if t in set(frame["task"].to_list())]
    assert got["scored_items"] == len(scored) and got["unknown_items"] == 1
    assert got["unanswered_items"] == len(gold) - 1 - len(scored)

    def accuracy(labels) -> float:
        return float(np.mean([labels[t] == gold[t] for t in scored]))

    pdf = _pandas(frame)
    by_method = {m["method"]: m["accuracy"] for m in got["methods"]}
    assert by_method["dawid_skene"] == pytest.approx(
        accuracy(ca.DawidSkene(n_iter=100, tol=1e-5).fit_predict(pdf))
    )
    assert abs(by_method["glad"] - accuracy(ca.GLAD(n_iter=100).fit_predict(pdf))) < 0.03
    assert by_method["dawid_skene"] > by_method["majority"] > 0.7
    # not clamped: gold would make every method 100% right on these items
    assert max(by_method.values()) < 1.0
    mine = frame.filter(pl.col("task").is_in(scored)).with_columns(
        right=pl.col("label") == pl.col("task").replace_strict(gold, return_dtype=pl.String)
    )
    expected = (
        mine.group_by("annotator").agg(answers=pl.len(), accuracy=pl.col("right").mean()).sort("annotator")
    )
    assert [a["answers"] for a in got["annotators"]] == expected["answers"].to_list()
    assert [a["accuracy"] for a in got["annotators"]] == pytest.approx(expected["accuracy"].to_list())
    with pytest.raises(InvalidInput, match="not in the label set") as caught:
        score(answers, LABELS, {"t000": "cow"}, items=list(truth))
    assert caught.value.where == "gold item 't000'"


def test_repeats_are_located_in_every_import_format():
    from loopline.annotate.interop import from_text_at

    one = '{"item_id": "i1", "annotator": "w", "label": "%s"}\n'
    jsonl = one % "cat" + "\n" + one % "dog"
    with pytest.raises(InvalidInput, match=r"first at line 1") as caught:
        resolve(from_text_at(jsonl, "jsonl", "classification", {}), "error")
    assert caught.value.where == "line 3"  # the blank line counts
    quoted = 'item_id,annotator,label,source\ni1,w,cat,"human"\ni2,w,"dog",human\ni1,w,dog,human\n'
    with pytest.raises(InvalidInput, match=r"first at line 2") as caught:
        resolve(from_text_at(quoted, "csv", "classification", {}), "error")
    assert caught.value.where == "line 4"
    choice = [{"type": "choices", "value": {"choices": ["cat"]}}]
    studio = [{"id": 7, "data": {}, "annotations": [{"completed_by": "w", "result": choice}] * 2}]
    with pytest.raises(InvalidInput, match=r"first at task 0, annotation 0") as caught:
        resolve(from_text_at(json.dumps(studio), "labelstudio", "classification", {7: "i1"}), "error")
    assert caught.value.where == "task 0, annotation 1"
