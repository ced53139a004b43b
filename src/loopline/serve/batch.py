"""Batch scoring: a model over every row of a table, in row partitions that any executor can run.

Pure functions on data; the wiring (wiring/serve.py) reads the artifacts, spreads the
partitions over the local process or a Dask cluster and records the result with its lineage.
The partitions are concatenated in order, so the scores artifact has the same id whichever
executor and however many workers scored it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from loopline.core.errors import InvalidInput

KEY = "item_id"


def partition_bounds(rows: int, partitions: int) -> list[tuple[int, int]]:
    """[start, end) of at most `partitions` contiguous, near-equal slices."""
    partitions = max(1, min(partitions, rows or 1))
    edges = np.linspace(0, rows, partitions + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges) if b > a or rows == 0]


def key_columns(frame: pl.DataFrame, keys: Sequence[str] = ()) -> list[str]:
    """The columns that say which row a score belongs to: those asked for, else item_id."""
    missing = [k for k in keys if k not in frame.columns]
    if missing:
        raise InvalidInput(f"no key column {missing[0]!r} in the dataset", hint=f"columns: {frame.columns}")
    return list(keys) or ([KEY] if KEY in frame.columns else [])


def model_inputs(frame: pl.DataFrame, inputs: Sequence[str]) -> Any:
    """What predict reads: a float64 array for numeric columns, else a pandas frame by name."""
    missing = [c for c in inputs if c not in frame.columns]
    if missing:
        raise InvalidInput(
            f"the dataset lacks the model's input {missing[0]!r}",
            hint=f"the model reads {', '.join(inputs)}",
        )
    part = frame.select(inputs)
    if all(dtype.is_numeric() or dtype == pl.Boolean for dtype in part.dtypes):
        return part.cast(pl.Float64).to_numpy()
    return part.to_pandas()


def score_frame(
    estimator: Any, frame: pl.DataFrame, inputs: Sequence[str], keys: Sequence[str], offset: int = 0
) -> pl.DataFrame:
    """Keys (or the row number), prediction and confidence (the top class probability, when the
    model has predict_proba) of every row of one partition."""
    out = (
        frame.select(keys)
        if keys
        else pl.DataFrame({"row": pl.int_range(offset, offset + frame.height, eager=True)})
    )
    if frame.height == 0:
        return out.with_columns(
            prediction=pl.Series([], dtype=pl.Null), confidence=pl.Series([], dtype=pl.Float64)
        )
    matrix = model_inputs(frame, inputs)
    predictions = np.asarray(estimator.predict(matrix))
    confidence = None
    if callable(getattr(estimator, "predict_proba", None)):
        confidence = np.max(estimator.predict_proba(matrix), axis=1)
    return out.with_columns(
        prediction=pl.Series("prediction", predictions.tolist(), strict=False),
        confidence=pl.Series("confidence", confidence, dtype=pl.Float64)
        if confidence is not None
        else pl.lit(None, dtype=pl.Float64),
    )
