"""Demo steps: pure functions on Polars frames, as any loopline step."""

from __future__ import annotations

import numpy as np
import polars as pl


def make_points(n: int, noise: float, ctx) -> pl.DataFrame:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(ctx.seed)
    x = rng.uniform(-10, 10, n)
    y = 3.0 * x + 2.0 + rng.normal(0, noise, n)
    y[rng.choice(n, n // 100, replace=False)] += rng.normal(0, 50, n // 100)  # some outliers
    return pl.DataFrame({"id": np.arange(n), "x": x, "y": y})


def drop_outliers(points: pl.DataFrame, z: float) -> pl.DataFrame:
    resid = pl.col("y") - pl.col("y").mean()
    return points.filter((resid / pl.col("y").std()).abs() < z)


def split(clean: pl.DataFrame, test_share: float) -> dict[str, pl.DataFrame]:
    bucket = (clean["id"].hash(seed=7) % 1000) / 1000
    return {"train": clean.filter(bucket >= test_share), "test": clean.filter(bucket < test_share)}


def fit_line(train: pl.DataFrame, ctx) -> dict[str, float]:  # type: ignore[no-untyped-def]
    slope, intercept = np.polyfit(train["x"].to_numpy(), train["y"].to_numpy(), 1)
    ctx.log_metric("train_rows", train.height)
    return {"slope": float(slope), "intercept": float(intercept)}


def evaluate(model: dict[str, float], test: pl.DataFrame) -> dict[str, float]:
    pred = model["slope"] * test["x"].to_numpy() + model["intercept"]
    rmse = float(np.sqrt(np.mean((test["y"].to_numpy() - pred) ** 2)))
    return {"rmse": round(rmse, 6), "test_rows": test.height, **model}
