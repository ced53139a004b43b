"""Features as the models of label errors, pre-labels and active learning want them: one numeric
matrix, rows in item order, plus the item ids when the table carries them. A table's `item_id`
column names the rows and is never a feature; so are text columns, which a model cannot read
without an encoder the user chooses (pass an array for that)."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from loopline.core.errors import InvalidInput

ITEM_COLUMN = "item_id"


def feature_matrix(features: Any) -> tuple[np.ndarray, list[str] | None]:
    """(matrix n x d of float64, item ids or None). Null cells are an error, not a silent zero."""
    if isinstance(features, pl.DataFrame):
        ids = features[ITEM_COLUMN].cast(pl.String).to_list() if ITEM_COLUMN in features.columns else None
        numeric = [
            name
            for name, dtype in features.schema.items()
            if name != ITEM_COLUMN and (dtype.is_numeric() or dtype == pl.Boolean)
        ]
        if not numeric:
            raise InvalidInput(
                "the features table has no numeric column",
                hint="pass a table of numbers (plus an optional item_id column) or a NumPy array",
            )
        table = features.select(numeric)
        nulls = [name for name, count in zip(numeric, table.null_count().row(0), strict=True) if count]
        if nulls:
            raise InvalidInput(
                f"feature column {nulls[0]!r} has missing values",
                hint="fill or drop them first (e.g. a `missing` clean rule)",
            )
        return table.to_numpy().astype(np.float64, copy=False), ids
    matrix = np.asarray(features)
    if matrix.ndim == 1:
        matrix = matrix.reshape(-1, 1)
    if matrix.ndim != 2 or not np.issubdtype(matrix.dtype, np.number):
        raise InvalidInput(
            f"features must be a 2-D numeric array, got shape {matrix.shape} of {matrix.dtype}",
            hint="pass one row per item",
        )
    if np.isnan(matrix).any():
        raise InvalidInput("the features hold NaN values", hint="fill or drop them first")
    return matrix, None
