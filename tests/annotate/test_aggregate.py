"""Crowd aggregation: crowd-kit as the oracle on small seeded crowds, invariants (unanimity, order
and names do not matter, perfect annotators and spammers are recognised, gold is clamped) and
hypothesis on random answer sets."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loopline.annotate.aggregate import METHODS, Aggregated, aggregate
from loopline.core.errors import InvalidInput

LABELS = ["c0", "c1", "c2", "c3"]

# crowd-kit 1.4.2 on pandas 3 warns about its own use of inplace= and copy=
pytestmark = pytest.mark.filterwarnings("ignore::Warning:crowdkit")


def simulate(
    n_tasks: int = 400,
    n_annotators: int = 30,
    per_task: int = 5,
    n_labels: int = 4,
    spam: float = 0.1,
    seed: int = 0,
) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
    """A crowd with accuracies 0.5-0.95, confusions drawn per annotator, and uniform spammers.
    Returns the answers, the true labels (by task) and the spammers' names."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_labels, n_tasks)
    acc = rng.uniform(0.5, 0.95, n_annotators)
    wrong = rng.dirichlet(np.ones(n_labels - 1), size=(n_annotators, n_labels))
    conf = np.empty((n_annotators, n_labels, n_labels))
    for k in range(n_labels):
        conf[:, k] = np.insert(wrong[:, k] * (1 - acc)[:, None], k, acc, axis=1)
    spammers = rng.choice(n_annotators, max(1, round(spam * n_annotators)), replace=False)
    conf[spammers] = 1.0 / n_labels
    who = np.argsort(rng.random((n_tasks, n_annotators)), axis=1)[:, :per_task]
    t = np.repeat(np.arange(n_tasks), per_task)
    w = who.ravel()
    given_ = (rng.random(len(t))[:, None] > conf[w, truth[t]].cumsum(axis=1)).sum(axis=1)
    names = np.array([f"c{k}" for k in range(n_labels)])
    people = np.array([f"w{i:03d}" for i in range(n_annotators)])
    frame = pl.DataFrame(
        {"task": t, "annotator": people[w], "label": names[np.minimum(given_, n_labels - 1)]}
    )
    return frame, names[truth], people[spammers]


def _crowdkit_frame(frame: pl.DataFrame):
    return frame.rename({"annotator": "worker"}).to_pandas()


def _accuracy(result: Aggregated, truth: np.ndarray) -> float:
    return float((result.labels.sort("task")["label"].to_numpy() == truth).mean())


# -- crowd-kit as the oracle ------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_majority_matches_crowdkit(seed: int) -> None:
    ca = pytest.importorskip("crowdkit.aggregation")
    frame, _, _ = simulate(seed=seed)
    theirs = ca.MajorityVote().fit_predict_proba(_crowdkit_frame(frame)).sort_index()
    ours = aggregate(frame, LABELS, "majority")
    shares = theirs.reindex(columns=LABELS, fill_value=0.0).to_numpy()
    assert ours.posteriors is not None
    np.testing.assert_allclose(ours.posteriors.select(LABELS).to_numpy(), shares, atol=1e-12)
    top = np.sort(shares, axis=1)
    untied = top[:, -1] > top[:, -2]
    picked = np.array(LABELS)[shares.argmax(axis=1)]
    assert (ours.labels["label"].to_numpy() == picked)[untied].all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dawid_skene_matches_crowdkit(seed: int) -> None:
    ca = pytest.importorskip("crowdkit.aggregation")
    frame, _, _ = simulate(seed=seed)
    ds = ca.DawidSkene(n_iter=100)
    theirs = ds.fit_predict_proba(_crowdkit_frame(frame)).sort_index()
    ours = aggregate(frame, LABELS, "dawid_skene")
    assert ours.iterations == len(ds.loss_history_)
    assert ours.posteriors is not None
    np.testing.assert_allclose(
        ours.posteriors.select(LABELS).to_numpy(), theirs[LABELS].to_numpy(), atol=1e-6
    )
    assert ours.labels["label"].to_list() == list(ds.labels_.sort_index())


def test_dawid_skene_with_gold_matches_crowdkit() -> None:
    ca = pytest.importorskip("crowdkit.aggregation")
    import pandas as pd

    frame, truth, _ = simulate(seed=4)
    gold = {i: str(truth[i]) for i in range(0, 400, 10)}
    theirs = ca.DawidSkene(n_iter=100).fit_predict_proba(
        _crowdkit_frame(frame), pd.Series(gold, name="label")
    )
    ours = aggregate(frame, LABELS, "dawid_skene", gold=gold)
    assert ours.posteriors is not None
    np.testing.assert_allclose(
        ours.posteriors.select(LABELS).to_numpy(), theirs.sort_index()[LABELS].to_numpy(), atol=1e-6
    )


def test_glad_agrees_with_crowdkit_and_is_as_accurate() -> None:
    ca = pytest.importorskip("crowdkit.aggregation")
    frame, truth, _ = simulate(n_tasks=300, n_annotators=20, seed=5)
    theirs = ca.GLAD(n_iter=100).fit_predict(_crowdkit_frame(frame)).sort_index().to_numpy()
    ours = aggregate(frame, LABELS, "glad")
    mine = ours.labels["label"].to_numpy()
    assert (mine == theirs).mean() >= 0.97
    assert _accuracy(ours, truth) >= (theirs == truth).mean() - 0.01


# -- invariants ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_shapes_and_columns(method: str) -> None:
    frame, _, _ = simulate(n_tasks=50, n_annotators=8, seed=6)
    result = aggregate(frame, LABELS, method)
    assert result.labels.columns == ["task", "label", "confidence", "n", "method"]
    assert result.skills.columns == ["annotator", "skill", "n"]
    assert result.posteriors is not None
    assert result.posteriors.columns == ["task", *LABELS]
    assert result.labels["task"].to_list() == list(range(50))
    assert result.labels["n"].sum() == frame.height == result.skills["n"].sum()
    assert set(result.labels["method"]) == {method}
    np.testing.assert_allclose(result.posteriors.select(LABELS).to_numpy().sum(axis=1), 1.0)


@pytest.mark.parametrize("method", METHODS)
def test_unanimous_task_gets_its_label_with_confidence_near_one(method: str) -> None:
    frame, _, _ = simulate(n_tasks=200, n_annotators=12, seed=7)
    unanimous = pl.DataFrame(
        {"task": [999] * 5, "annotator": [f"w{i:03d}" for i in range(5)], "label": ["c2"] * 5}
    )
    result = aggregate(pl.concat([frame, unanimous]), LABELS, method)
    row = result.labels.filter(pl.col("task") == 999)
    assert row["label"].item() == "c2"
    assert row["confidence"].item() > 0.99


@pytest.mark.parametrize("method", METHODS)
def test_row_order_and_annotator_names_do_not_matter(method: str) -> None:
    frame, _, _ = simulate(n_tasks=150, n_annotators=12, seed=8)
    base = aggregate(frame, LABELS, method)
    rename = {f"w{i:03d}": f"z{(7 * i) % 12:02d}-{i}" for i in range(12)}  # a new sort order too
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=3).with_columns(
        pl.col("annotator").replace_strict(rename)
    )
    other = aggregate(shuffled, LABELS, method)
    assert other.labels["label"].to_list() == base.labels["label"].to_list()
    np.testing.assert_allclose(other.labels["confidence"], base.labels["confidence"], atol=1e-6)
    skills = base.skills.with_columns(pl.col("annotator").replace_strict(rename)).sort("annotator")
    np.testing.assert_allclose(other.skills["skill"], skills["skill"], atol=1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_perfect_annotator_high_skill_spammers_low(method: str) -> None:
    frame, truth, spammers = simulate(n_tasks=600, n_annotators=20, spam=0.15, seed=9)
    perfect = pl.DataFrame({"task": np.arange(0, 600, 2), "annotator": "oracle", "label": truth[::2]})
    result = aggregate(pl.concat([frame, perfect]), LABELS, method)
    skill = dict(result.skills.select("annotator", "skill").iter_rows())
    # the majority measures skill against its own consensus, which is itself ~92% right here
    assert skill["oracle"] > (0.9 if method == "majority" else 0.97)
    assert max(skill[s] for s in spammers) < 0.4
    others = [v for k, v in skill.items() if k not in set(spammers) | {"oracle"}]
    assert min(others) > max(skill[s] for s in spammers)


def test_models_beat_the_majority_on_a_crowd_with_spammers() -> None:
    frame, truth, _ = simulate(n_tasks=2000, n_annotators=40, per_task=5, spam=0.1, seed=10)
    accuracy = {m: _accuracy(aggregate(frame, LABELS, m), truth) for m in METHODS}
    assert accuracy["dawid_skene"] > accuracy["majority"]
    assert accuracy["glad"] > accuracy["majority"]


@pytest.mark.parametrize("method", METHODS)
def test_gold_tasks_are_clamped(method: str) -> None:
    frame, truth, _ = simulate(n_tasks=100, n_annotators=10, seed=11)
    gold = {0: "c3", 1: "c3", 2: str(truth[2]), 12345: "c1"}  # 12345: nobody answered it
    result = aggregate(frame, LABELS, method, gold=gold)
    rows = result.labels.filter(pl.col("task") < 3)
    assert rows["label"].to_list() == ["c3", "c3", truth[2]]
    assert rows["confidence"].to_list() == pytest.approx([1.0, 1.0, 1.0])
    assert 12345 not in result.labels["task"].to_list()


def test_ties_are_broken_without_favouring_a_label() -> None:
    # 300 tasks, each a 1-1 tie between two labels: about half should go each way
    frame = pl.DataFrame(
        {
            "task": np.repeat(np.arange(300), 2),
            "annotator": ["a", "b"] * 300,
            "label": ["c0", "c1"] * 150 + ["c1", "c0"] * 150,
        }
    )
    picked = aggregate(frame, LABELS, "majority").labels["label"]
    assert 100 < (picked == "c0").sum() < 200
    assert set(picked) == {"c0", "c1"}


def test_majority_weights_and_ties() -> None:
    frame = pl.DataFrame(
        {
            "task": ["t1", "t1", "t1", "t2", "t2", "t3", "t3"],
            "annotator": ["a", "b", "c", "a", "b", "a", "c"],
            "label": ["x", "y", "y", "x", "y", "y", "y"],
        }
    )
    plain = aggregate(frame, ["x", "y"], "majority")
    assert plain.labels["confidence"].to_list() == pytest.approx([2 / 3, 0.5, 1.0])
    assert plain.labels["label"].to_list()[::2] == ["y", "y"]
    # t2 is a tie: the seed draws the winner, the same seed the same one, and no label is favoured
    picks = {
        seed: aggregate(frame, ["x", "y"], "majority", seed=seed).labels["label"][1] for seed in range(40)
    }
    assert set(picks.values()) == {"x", "y"}
    assert all(
        aggregate(frame, ["x", "y"], "majority", seed=s).labels["label"][1] == picks[s] for s in range(5)
    )
    weighted = aggregate(frame, ["x", "y"], "majority", weights={"a": 3.0})
    assert weighted.labels["label"].to_list() == ["x", "x", "y"]
    assert weighted.labels["confidence"].to_list() == pytest.approx([0.6, 0.75, 1.0])
    muted = aggregate(frame, ["x", "y"], "majority", weights={"b": 0.0, "c": 0.0})
    assert muted.labels["label"].to_list() == ["x", "x", "y"]
    with pytest.raises(InvalidInput, match="weight"):
        aggregate(frame, ["x", "y"], "majority", weights={"a": -1.0})


def test_zero_weight_excludes_a_spammer_from_dawid_skene() -> None:
    frame, truth, spammers = simulate(n_tasks=300, n_annotators=10, spam=0.3, seed=12)
    base = aggregate(frame, LABELS, "dawid_skene")
    cut = aggregate(frame, LABELS, "dawid_skene", weights=dict.fromkeys(spammers, 0.0))
    without = aggregate(frame.filter(~pl.col("annotator").is_in(list(spammers))), LABELS, "dawid_skene")
    kept = cut.labels.join(without.labels, on="task", suffix="_w")
    assert (kept["label"] == kept["label_w"]).mean() > 0.99
    assert _accuracy(base, truth) > 0  # the unweighted fit still runs on the same answers


def test_deterministic_and_string_task_ids() -> None:
    frame, _, _ = simulate(n_tasks=80, n_annotators=9, seed=13)
    frame = frame.with_columns(pl.format("item-{}", pl.col("task")).alias("task"))
    for method in METHODS:
        first = aggregate(frame, LABELS, method, seed=1)
        again = aggregate(frame, LABELS, method, seed=1)
        assert first.labels.equals(again.labels)
        assert first.skills.equals(again.skills)
        assert first.labels["task"].dtype == pl.String


def test_bad_input_is_rejected_with_where_and_what() -> None:
    frame = pl.DataFrame({"task": [1, 1], "annotator": ["a", "b"], "label": ["x", "q"]})
    with pytest.raises(InvalidInput, match="'q' is not in the label set") as info:
        aggregate(frame, ["x", "y"])
    assert info.value.where == "answers row 1"
    with pytest.raises(InvalidInput, match="lacks column"):
        aggregate(frame.drop("annotator"), ["x", "y"])
    with pytest.raises(InvalidInput, match="unknown aggregation method"):
        aggregate(frame, ["x", "q"], "median")
    with pytest.raises(InvalidInput, match="missing"):
        aggregate(frame.with_columns(pl.lit(None, dtype=pl.String).alias("label")), ["x", "y"])
    with pytest.raises(InvalidInput, match="repeats"):
        aggregate(frame, ["x", "x"])
    with pytest.raises(InvalidInput, match="gold label"):
        aggregate(frame, ["x", "q"], gold={1: "z"})


# -- hypothesis ---------------------------------------------------------------------------------

answer_sets = st.lists(
    st.tuples(
        st.integers(0, 8), st.sampled_from(["a", "b", "c", "d", "e"]), st.sampled_from(["x", "y", "z"])
    ),
    min_size=1,
    max_size=50,
)


@settings(max_examples=40, deadline=None)
@given(answer_sets, st.sampled_from(METHODS))
def test_any_answer_set_gives_one_valid_label_per_task(rows: list[tuple[int, str, str]], method: str) -> None:
    frame = pl.DataFrame(rows, schema=["task", "annotator", "label"], orient="row")
    result = aggregate(frame, ["x", "y", "z"], method)
    tasks = sorted({t for t, _, _ in rows})
    assert result.labels["task"].to_list() == tasks
    assert set(result.labels["label"]) <= {"x", "y", "z"}
    conf = result.labels["confidence"].to_numpy()
    assert ((conf >= 0) & (conf <= 1)).all()
    skill = result.skills["skill"].to_numpy()
    assert ((skill >= 0) & (skill <= 1)).all()
    assert result.posteriors is not None
    probas = result.posteriors.select("x", "y", "z").to_numpy()
    np.testing.assert_allclose(probas.sum(axis=1), 1.0, atol=1e-9)
    # the chosen label is the most probable one
    assert (probas.max(axis=1) - conf <= 1e-9).all()
