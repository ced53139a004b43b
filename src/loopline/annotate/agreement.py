"""Inter-annotator agreement on a frame of answers (columns task, annotator, label).

- `cohen_kappa(answers, a, b)`: two annotators on the tasks both answered; `pairwise_kappa` does
  every pair at once (one self-join of the answers, no Python loop over pairs).
- `fleiss_kappa(answers, labels)`: Fleiss (1971). It assumes every task has the same number of
  answers; with unequal counts each task's agreement uses its own count n_i,
  P_i = (sum_j n_ij^2 - n_i) / (n_i (n_i - 1)), P-bar is their plain mean, and the label shares
  p_j are pooled over all answers: exactly Fleiss' formula when the counts are equal. Tasks with
  fewer than two answers carry no agreement and are left out.
- `krippendorff_alpha(answers, labels, level)`: Krippendorff's alpha from the coincidence matrix,
  so missing answers are simply absent rows; tasks with a single answer are not pairable and
  drop out. Levels nominal, ordinal (rank order = the order of `labels`), interval and ratio
  (numeric labels, e.g. "1".."5"; for interval, non-numeric labels use their positions).
- `confusion(answers, reference, labels)`: counts of (true label, given label), overall or per
  annotator, against known labels or an aggregation's consensus.

An annotator answering one task twice counts once, with its first answer (row order), for the
kappas; Fleiss and Krippendorff count every answer. A figure that is undefined (no shared task,
or no variation at all so chance agreement is 1) is NaN, never an exception.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import polars as pl

from loopline.annotate._crowd import REQUIRED, encode, required_columns
from loopline.core.errors import InvalidInput

Level = Literal["nominal", "ordinal", "interval", "ratio"]
LEVELS = ("nominal", "ordinal", "interval", "ratio")

__all__ = [
    "cohen_kappa",
    "confusion",
    "fleiss_kappa",
    "krippendorff_alpha",
    "pairwise_kappa",
    "summary",
]


def _answers(answers: pl.DataFrame) -> pl.DataFrame:
    return (
        required_columns(answers)
        .drop_nulls()
        .with_columns(pl.col("annotator").cast(pl.String), pl.col("label").cast(pl.String))
        .unique(subset=["task", "annotator"], keep="first", maintain_order=True)
    )


def _kappas(
    a: np.ndarray, b: np.ndarray, la: np.ndarray, lb: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cohen's kappa per pair code from one row per (pair, shared task): the pair codes, n and
    kappa, all with bincounts over the flat pair index (no loop over pairs)."""
    width = int(max(a.max(), b.max())) + 1
    flat = a * width + b
    pair, index = np.unique(flat, return_inverse=True)
    m = len(pair)
    n = np.bincount(index, minlength=m).astype(np.float64)
    agree = np.bincount(index, weights=(la == lb).astype(np.float64), minlength=m)
    left = np.bincount(index * k + la, minlength=m * k).reshape(m, k)
    right = np.bincount(index * k + lb, minlength=m * k).reshape(m, k)
    po = agree / n
    pe = (left * right).sum(axis=1) / n**2
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = np.where(pe < 1.0, (po - pe) / (1.0 - pe), np.nan)
    return pair // width, pair % width, n.astype(np.int64), kappa


def _pairs(frame: pl.DataFrame) -> tuple[pl.Series, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Annotators coded by sorted name, labels by sorted value, and one row per (a < b, task)."""
    names = frame["annotator"].unique().sort()
    values = frame["label"].unique().sort()
    coded = frame.select(
        "task",
        w=pl.col("annotator").replace_strict(names, pl.Series(range(len(names))), return_dtype=pl.Int64),
        y=pl.col("label").replace_strict(values, pl.Series(range(len(values))), return_dtype=pl.Int64),
    )
    pairs = coded.join(coded, on="task", suffix="_b").filter(pl.col("w") < pl.col("w_b"))
    w, w_b, y, y_b = (pairs[c].to_numpy() for c in ("w", "w_b", "y", "y_b"))
    return names, w, w_b, y, y_b, max(len(values), 1)


def pairwise_kappa(answers: pl.DataFrame) -> pl.DataFrame:
    """Cohen's kappa for every pair of annotators sharing at least one task: columns a, b
    (a < b), kappa, n (shared tasks)."""
    names, a, b, la, lb, k = _pairs(_answers(answers))
    schema = {"a": pl.String, "b": pl.String, "kappa": pl.Float64, "n": pl.Int64}
    if len(a) == 0:
        return pl.DataFrame(schema=schema)
    wa, wb, n, kappa = _kappas(a, b, la, lb, k)
    return pl.DataFrame({"a": names.gather(wa), "b": names.gather(wb), "kappa": kappa, "n": n}, schema=schema)


def cohen_kappa(answers: pl.DataFrame, a: str, b: str) -> float:
    """Cohen's kappa of annotators a and b on the tasks both answered (NaN if none or undefined)."""
    frame = _answers(answers).filter(pl.col("annotator").is_in([a, b]))
    if a == b:
        raise InvalidInput(f"cohen_kappa needs two different annotators, got {a!r} twice")
    _, wa, wb, la, lb, k = _pairs(frame)
    if len(wa) == 0:
        return float("nan")
    return float(_kappas(wa, wb, la, lb, k)[3][0])


def _counts(answers: pl.DataFrame, labels: Sequence[str]) -> np.ndarray:
    """(tasks x labels) answer counts, only tasks with at least two answers (a null is no answer)."""
    counts = encode(answers.select(REQUIRED).drop_nulls(), labels).votes()
    return counts[counts.sum(axis=1) >= 2]


def fleiss_kappa(answers: pl.DataFrame, labels: Sequence[str]) -> float:
    """Fleiss' kappa over all tasks with two or more answers (see the module note on unequal
    counts). NaN when no task has two answers or every answer is the same label."""
    counts = _counts(answers, labels)
    if counts.shape[0] == 0:
        return float("nan")
    n_i = counts.sum(axis=1)
    p_i = ((counts**2).sum(axis=1) - n_i) / (n_i * (n_i - 1))
    p_bar = float(p_i.mean())
    p_j = counts.sum(axis=0) / counts.sum()
    p_e = float((p_j**2).sum())
    if p_e >= 1.0:
        return float("nan")
    return (p_bar - p_e) / (1.0 - p_e)


def _values(labels: Sequence[str], level: str) -> np.ndarray:
    try:
        return np.array([float(x) for x in labels])
    except ValueError:
        if level == "ratio":
            raise InvalidInput(
                "the ratio level needs numeric labels", hint="use level='ordinal' or 'nominal'"
            ) from None
        return np.arange(len(labels), dtype=np.float64)


def _distance(level: str, labels: Sequence[str], n_c: np.ndarray) -> np.ndarray:
    """Squared difference delta^2(c, k) between label c and label k for this level."""
    k = len(labels)
    if level == "nominal":
        return 1.0 - np.eye(k)
    if level == "ordinal":
        cum = np.concatenate([[0.0], np.cumsum(n_c)])
        lo, hi = np.minimum.outer(np.arange(k), np.arange(k)), np.maximum.outer(np.arange(k), np.arange(k))
        between = cum[hi + 1] - cum[lo]  # sum of n_g for g from c to k inclusive
        return (between - (n_c[:, None] + n_c[None, :]) / 2.0) ** 2
    v = _values(labels, level)
    if level == "interval":
        return np.subtract.outer(v, v) ** 2
    total = np.add.outer(v, v)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(total == 0, 0.0, np.subtract.outer(v, v) / total)
    return ratio**2


def krippendorff_alpha(answers: pl.DataFrame, labels: Sequence[str], level: Level = "nominal") -> float:
    """Krippendorff's alpha; missing answers are allowed (a task needs two answers to count).
    NaN when fewer than two pairable answers exist or there is no variation at all."""
    if level not in LEVELS:
        raise InvalidInput(f"unknown level {level!r}", hint=f"use one of {', '.join(LEVELS)}")
    counts = _counts(answers, labels)
    if counts.shape[0] == 0:
        return float("nan")
    m_u = counts.sum(axis=1)
    scaled = counts / (m_u - 1.0)[:, None]
    coincidence = scaled.T @ counts - np.diag(scaled.sum(axis=0))
    n_c = coincidence.sum(axis=1)
    n = float(n_c.sum())
    delta = _distance(level, labels, n_c)
    observed = float((coincidence * delta).sum()) / n
    expected = float((np.outer(n_c, n_c) * delta).sum()) / (n * (n - 1.0))
    if expected == 0.0 or math.isnan(expected):
        return float("nan")
    return 1.0 - observed / expected


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def summary(answers: pl.DataFrame, labels: Sequence[str]) -> dict[str, Any]:
    """The agreement report as JSON-ready values (an undefined figure is None): tasks,
    pairable_tasks (two answers or more), fleiss_kappa, krippendorff_alpha (nominal) and
    pairs [{a, b, kappa, n}]."""
    frame = answers.select(REQUIRED).drop_nulls()
    per_task = frame.group_by("task").len()
    pairs = pairwise_kappa(frame)
    return {
        "tasks": per_task.height,
        "pairable_tasks": per_task.filter(pl.col("len") >= 2).height,
        "fleiss_kappa": _finite(fleiss_kappa(frame, labels)),
        "krippendorff_alpha": _finite(krippendorff_alpha(frame, labels)),
        "pairs": [{"a": a, "b": b, "kappa": _finite(kappa), "n": n} for a, b, kappa, n in pairs.iter_rows()],
    }


def _reference(reference: Any, tasks: pl.Series) -> pl.DataFrame:
    if isinstance(reference, pl.DataFrame):
        if not {"task", "label"} <= set(reference.columns):
            raise InvalidInput(
                "the reference frame needs columns task and label",
                where=f"columns {reference.columns}",
                hint="pass Aggregated.labels or a {task: label} mapping",
            )
        frame = reference.select("task", pl.col("label").cast(pl.String))
    elif hasattr(reference, "labels") and isinstance(reference.labels, pl.DataFrame):
        return _reference(reference.labels, tasks)
    elif isinstance(reference, Mapping):
        frame = pl.DataFrame({"task": list(reference.keys()), "label": [str(v) for v in reference.values()]})
    else:
        raise InvalidInput(
            f"cannot use a {type(reference).__name__} as the reference",
            hint="pass a {task: label} mapping, Aggregated.labels or an Aggregated",
        )
    return frame.with_columns(pl.col("task").cast(tasks.dtype, strict=False)).rename({"label": "true"})


def confusion(
    answers: pl.DataFrame,
    reference: Mapping[Any, str] | pl.DataFrame | Any,
    labels: Sequence[str],
    *,
    per_annotator: bool = False,
) -> pl.DataFrame:
    """Counts of answers by (true, given) label on the tasks the reference knows: columns
    [annotator,] true, given, n, with every label pair present (zeros included)."""
    frame = answers.select(REQUIRED).with_columns(
        pl.col("annotator").cast(pl.String), pl.col("label").cast(pl.String)
    )
    encode(frame, labels)  # checks the labels (and the columns) with row-precise errors
    ref = _reference(reference, frame["task"])
    bad = ref.filter(~pl.col("true").is_in(list(labels)))
    if bad.height:
        raise InvalidInput(
            f"reference label {bad['true'][0]!r} is not in the label set {list(labels)}",
            where=f"reference task {bad['task'][0]!r}",
        )
    joined = frame.join(ref.unique("task", keep="first"), on="task").rename({"label": "given"})
    keys = ["annotator", "true", "given"] if per_annotator else ["true", "given"]
    counted = joined.group_by(keys).agg(n=pl.len())
    names = pl.Series(list(labels), dtype=pl.String)
    grid = pl.DataFrame({"true": names}).join(pl.DataFrame({"given": names}), how="cross")
    if per_annotator:
        who = frame.select(pl.col("annotator").unique().sort())
        grid = who.join(grid, how="cross")
    order = {name: i for i, name in enumerate(labels)}
    return (
        grid.join(counted, on=keys, how="left")
        .with_columns(pl.col("n").fill_null(0).cast(pl.Int64))
        .with_columns(
            _t=pl.col("true").replace_strict(order, return_dtype=pl.Int64),
            _g=pl.col("given").replace_strict(order, return_dtype=pl.Int64),
        )
        .sort([*keys[:-2], "_t", "_g"])
        .drop("_t", "_g")
    )
