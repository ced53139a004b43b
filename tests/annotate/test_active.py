"""Active learning: uncertainty scores, the diversity term, and a small pool-based run on
digits where uncertainty sampling beats random sampling."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from loopline.annotate.active import select, uncertainty
from loopline.core.errors import InvalidInput

P = np.array(
    [
        [0.98, 0.01, 0.01],  # sure
        [0.34, 0.33, 0.33],  # lost
        [0.50, 0.50, 0.00],  # torn between two
        [0.60, 0.20, 0.20],
    ]
)


def test_scores_order_items_as_each_strategy_says() -> None:
    assert uncertainty(P, "least_confidence") == pytest.approx([0.02, 0.66, 0.5, 0.4])
    assert uncertainty(P, "margin") == pytest.approx([0.03, 0.99, 1.0, 0.6])
    entropy = uncertainty(P, "entropy")
    assert entropy[1] == pytest.approx(np.log(3), abs=1e-3) and entropy[2] == pytest.approx(np.log(2))
    assert select(P, 2, "least_confidence").tolist() == [1, 2]
    assert select(P, 2, "margin").tolist() == [2, 1]
    assert select(P, 4, "entropy").tolist() == [1, 3, 2, 0]
    assert select(P, 10, "margin").tolist() == [2, 1, 3, 0]  # k above n: everything, ranked


def test_ties_are_broken_by_the_seed_not_by_row_order() -> None:
    flat = np.full((100, 2), 0.5)
    firsts = {int(select(flat, 1, seed=s)[0]) for s in range(20)}
    assert len(firsts) > 10
    assert select(flat, 5, seed=3).tolist() == select(flat, 5, seed=3).tolist()


def test_diversity_spreads_picks_over_the_feature_space() -> None:
    rng = np.random.default_rng(0)
    # 30 near-copies of one confusing item, slightly more uncertain than 30 spread items
    copies = rng.normal(0, 0.01, size=(30, 2))
    spread = rng.uniform(-10, 10, size=(30, 2))
    features = np.vstack([copies, spread])
    proba = np.vstack([np.full((30, 2), 0.5), np.tile([0.55, 0.45], (30, 1))])
    plain = select(proba, 6, "margin", features=features)
    assert (plain < 30).all()  # pure uncertainty takes six copies of the same thing
    diverse = select(proba, 6, "margin", features=features, diversity=0.5)
    assert (diverse < 30).sum() == 1 and diverse[0] < 30  # one copy (the first pick), then spread
    spread_pick = features[diverse[1:]]
    gaps = np.linalg.norm(spread_pick[:, None] - spread_pick[None], axis=2)
    assert gaps[np.triu_indices(5, 1)].min() > 2.0


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float64, st.tuples(st.integers(1, 40), st.integers(2, 5)), elements=st.floats(0.01, 1.0)),
    st.integers(0, 50),
    st.sampled_from(["least_confidence", "margin", "entropy", "random"]),
    st.floats(0.0, 1.0),
)
def test_picks_are_distinct_valid_indices(raw, k, strategy, diversity) -> None:
    proba = raw / raw.sum(axis=1, keepdims=True)
    features = np.arange(proba.shape[0] * 2, dtype=np.float64).reshape(-1, 2)
    picked = select(proba, k, strategy, features=features, diversity=diversity)
    assert len(picked) == min(k, len(proba))
    assert len(set(picked.tolist())) == len(picked)
    assert ((picked >= 0) & (picked < len(proba))).all()
    if strategy != "random" and diversity == 0 and len(picked):
        scores = uncertainty(proba, strategy)
        assert scores[picked].min() >= np.sort(scores)[::-1][len(picked) - 1] - 1e-12


def test_bad_input() -> None:
    with pytest.raises(InvalidInput, match="unknown strategy"):
        select(P, 1, "confusion")
    with pytest.raises(InvalidInput, match="needs the items' features"):
        select(P, 2, diversity=0.5)
    with pytest.raises(InvalidInput, match="items x classes"):
        select(np.ones(4), 1)
    with pytest.raises(InvalidInput, match="k must be"):
        select(P, -1)
    with pytest.raises(InvalidInput, match="between 0 and 1"):
        select(P, 1, diversity=2.0)


def test_uncertainty_sampling_beats_random_on_digits() -> None:
    """A short pool-based run (the full one is benchmarks/active_learning.py)."""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    x, y = load_digits(return_X_y=True)
    x = StandardScaler().fit_transform(x)
    x_pool, x_test, y_pool, y_test = train_test_split(x, y, test_size=540, stratify=y, random_state=0)

    def run(strategy: str) -> float:
        labeled = list(np.random.default_rng(0).choice(len(y_pool), 20, replace=False))
        for round_no in range(8):  # 20 + 8 x 20 = 180 labels
            model = LogisticRegression(max_iter=300).fit(x_pool[labeled], y_pool[labeled])
            rest = np.setdiff1d(np.arange(len(y_pool)), labeled)
            picked = select(model.predict_proba(x_pool[rest]), 20, strategy, seed=round_no)
            labeled.extend(rest[picked].tolist())
        model = LogisticRegression(max_iter=300).fit(x_pool[labeled], y_pool[labeled])
        return float((model.predict(x_test) == y_test).mean())

    with threadpool_limits(1):  # small fits: threads only contend
        random_acc, margin_acc = run("random"), run("margin")
    assert margin_acc >= random_acc + 0.01, (margin_acc, random_acc)
