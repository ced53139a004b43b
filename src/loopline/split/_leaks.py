"""The leak check: an item, or a row of the same content, in two splits makes the test lie."""

from __future__ import annotations

from typing import TypedDict

import numpy as np
import polars as pl

from loopline.split._spec import SPLITS

SHOWN = 5


class Leak(TypedDict):
    id: str
    splits: list[str]
    rows: list[int]  # 0-based, the first SHOWN


def find_leaks(ids: pl.Series, splits: np.ndarray) -> list[Leak]:
    """Every id found in more than one split: {"id", "splits", "rows"} (rows 0-based, capped)."""
    frame = pl.DataFrame({"id": ids, "split": splits, "row": np.arange(len(ids))})
    frame = frame.filter(pl.col("id").is_duplicated())  # most ids are alone: nothing to group
    spread = (
        frame.group_by("id", maintain_order=True)
        .agg(pl.col("split").unique().sort(), pl.col("row").head(SHOWN))
        .filter(pl.col("split").list.len() > 1)
    )
    return [
        {"id": row["id"], "splits": [SPLITS[s] for s in row["split"]], "rows": row["row"]}
        for row in spread.iter_rows(named=True)
    ]


def describe(kind: str, leaks: list[Leak]) -> str:
    shown = "; ".join(
        f"{kind} {str(leak['id'])[:16]} in {' and '.join(leak['splits'])} (rows {leak['rows']})"
        for leak in leaks[:SHOWN]
    )
    more = f"; and {len(leaks) - SHOWN} more" if len(leaks) > SHOWN else ""
    return f"{len(leaks)} {kind}(s) in two splits: {shown}{more}"
