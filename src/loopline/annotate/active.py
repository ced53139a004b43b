"""Active learning: which unlabeled items to label next so the model learns most per label.

Uncertainty alone picks near-duplicates (ten copies of the same confusing 3-or-8 teach one
thing), so `select` can trade some uncertainty for spread: among the most uncertain candidates
it picks greedily, each time the item with the best mix of its own uncertainty and its distance
to everything already picked (k-center on the features). `diversity=0` is pure uncertainty,
`diversity=1` pure k-center inside the candidate pool.
"""

from __future__ import annotations

import numpy as np

from loopline.core.errors import InvalidInput

STRATEGIES = ("least_confidence", "margin", "entropy", "random")
CANDIDATES_PER_PICK = 10  # with diversity > 0, the pool is the k * 10 most uncertain items

__all__ = ["STRATEGIES", "select", "uncertainty"]


def _proba(proba: np.ndarray) -> np.ndarray:
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise InvalidInput(
            f"probabilities must be items x classes (at least 2), got shape {p.shape}",
            hint="pass model.predict_proba(features)",
        )
    if not np.isfinite(p).all() or (p < 0).any():
        raise InvalidInput("probabilities must be finite and non-negative")
    return p


def uncertainty(proba: np.ndarray, strategy: str = "least_confidence") -> np.ndarray:
    """Per item, higher means more uncertain: 1 - max p (least confidence), 1 - (p1 - p2)
    (margin between the two likeliest classes), or the entropy of p in nats."""
    p = _proba(proba)
    if strategy == "least_confidence":
        return 1.0 - p.max(axis=1)
    if strategy == "margin":
        top2 = np.partition(p, -2, axis=1)[:, -2:]
        return 1.0 - (top2[:, 1] - top2[:, 0])
    if strategy == "entropy":
        safe = np.clip(p, 1e-12, None)
        return -(p * np.log(safe)).sum(axis=1)
    raise InvalidInput(
        f"unknown uncertainty strategy {strategy!r}",
        hint=f"use one of {', '.join(s for s in STRATEGIES if s != 'random')}",
    )


def select(
    proba: np.ndarray,
    k: int,
    strategy: str = "least_confidence",
    *,
    features: np.ndarray | None = None,
    diversity: float = 0.0,
    seed: int = 0,
) -> np.ndarray:
    """Indices (into the rows of `proba`) of the k items to label next, most useful first.
    Ties are broken by a seeded shuffle, so equal scores do not favour early rows.
    `strategy="random"` is the baseline: a seeded sample."""
    p = _proba(proba)
    n = p.shape[0]
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 0:
        raise InvalidInput(f"k must be a whole number >= 0, got {k!r}")
    if not 0.0 <= diversity <= 1.0:
        raise InvalidInput(f"diversity must be between 0 and 1, got {diversity!r}")
    k = min(int(k), n)
    rng = np.random.default_rng(seed)
    if strategy not in STRATEGIES:
        raise InvalidInput(f"unknown strategy {strategy!r}", hint=f"use one of {', '.join(STRATEGIES)}")
    if strategy == "random" or k == 0:
        return rng.permutation(n)[:k].astype(np.int64)
    score = uncertainty(p, strategy)
    shuffled = rng.permutation(n)
    ranked = shuffled[np.argsort(-score[shuffled], kind="stable")]
    if diversity == 0.0 or k <= 1:
        return ranked[:k].astype(np.int64)
    if features is None:
        raise InvalidInput("diversity needs the items' features", hint="pass features=, one row per item")
    x = np.asarray(features, dtype=np.float64).reshape(n, -1) if len(features) == n else None
    if x is None:
        raise InvalidInput(f"{len(features)} feature rows for {n} items")
    pool = ranked[: min(n, k * CANDIDATES_PER_PICK)]
    return pool[_greedy_spread(x[pool], score[pool], k, diversity)].astype(np.int64)


def _greedy_spread(x: np.ndarray, score: np.ndarray, k: int, diversity: float) -> np.ndarray:
    """Greedy picks maximising (1 - diversity) * uncertainty + diversity * distance to the
    picked set, each divided by its largest value in the pool (a ratio, not a min-max stretch
    that would make 0.9 against 1.0 look like 0 against 1); the first pick is the most
    uncertain."""
    top = score.max()
    u = score / top if top > 0 else np.ones_like(score)
    chosen = [0]  # the pool is sorted, most uncertain first
    nearest = np.linalg.norm(x - x[0], axis=1)
    scale = nearest.max()
    for _ in range(1, k):
        spread = nearest / scale if scale > 0 else nearest
        value = (1.0 - diversity) * u + diversity * spread
        value[chosen] = -np.inf
        pick = int(np.argmax(value))
        chosen.append(pick)
        nearest = np.minimum(nearest, np.linalg.norm(x - x[pick], axis=1))
    return np.asarray(chosen, dtype=np.int64)
