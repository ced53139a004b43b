"""The drift workload of the test and of benchmarks/drift.py: 25 columns (20 numeric of several
shapes, 5 categorical), a window where 5 of them moved, some only a little."""

from __future__ import annotations

import numpy as np
import polars as pl

SHIFTED = ("num_00", "num_07", "num_13", "cat_1", "cat_3")
CATEGORIES = ["north", "south", "east", "west", "centre", "other"]
P = np.array([0.3, 0.25, 0.2, 0.1, 0.1, 0.05])


def _column(rng: np.random.Generator, i: int, n: int, shifted: bool) -> np.ndarray:
    shape = i % 4
    if shape == 0:
        return rng.normal(10 + 0.1 * shifted, 1, n)  # a tenth of a standard deviation
    if shape == 1:
        return rng.lognormal(0, 0.5 * (1.1 if shifted else 1.0), n)  # spread 10 % wider
    if shape == 2:
        return rng.exponential(2.0, n) + (0.5 if shifted else 0.0)  # a quarter of its scale
    return rng.uniform(0, 100, n) if not shifted else rng.uniform(10, 110, n)  # a tenth of its range


def frames(n: int, seed: int = 7) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(reference, current), n rows each."""
    rng = np.random.default_rng(seed)
    reference: dict[str, object] = {}
    current: dict[str, object] = {}
    for i in range(20):
        name = f"num_{i:02d}"
        reference[name] = _column(rng, i, n, False)
        current[name] = _column(rng, i, n, name in SHIFTED)
    for i in range(5):
        name = f"cat_{i}"
        reference[name] = rng.choice(CATEGORIES, p=P, size=n)
        if name == "cat_1":  # three points of share move from north to west
            p = P + np.array([-0.03, 0, 0, 0.03, 0, 0])
            current[name] = rng.choice(CATEGORIES, p=p, size=n)
        elif name == "cat_3":  # a category never seen in training, on 3 % of rows
            current[name] = np.where(rng.random(n) < 0.03, "atlantis", rng.choice(CATEGORIES, p=P, size=n))
        else:
            current[name] = rng.choice(CATEGORIES, p=P, size=n)
    return pl.DataFrame(reference), pl.DataFrame(current)
