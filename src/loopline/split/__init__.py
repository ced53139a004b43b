"""Split: train / validation / test sets that stay put as the data grows.

As a step in loopline.yaml::

    steps:
      split:
        uses: loopline.split:split
        inputs: {table: labeled}
        params:
          ratios: {train: 0.7, validation: 0.15, test: 0.15}   # the default
          seed: 0
          # key: id              # what identifies an item: `_item_id` if the table has one,
          #                      # else the hash of its content (columns not starting with `_`)
          # stratify: label      # exact ratios within each class
          # group: user_id       # all rows of a group in one split
          # time: {column: ts, validation_from: 2024-01-01, test_from: 2024-03-01}
        outputs: [train, validation, test]

Each item's place in [0, 1) is BLAKE3(seed, key), so it depends on nothing but the item: adding
rows in a new dataset version never moves an old item (the sealed test set stays the test set).
`stratify` ranks the items of each class by that place and cuts at the ratios: exact per class,
and an item moves only if its class grows, to the neighbouring split (see `_assign`). `time`
cuts at dates instead of ratios.

The ``test`` output is *sealed*: the runner lets only a step that reads sealed data (the
built-in ``loopline.evaluate:evaluate``, or a step declared with ``reads_sealed: true``) take it
as input, and records every such read.

The leak check fails the step (CheckFailed) naming the items when one item id, or one exact
content (the hash of the columns not starting with `_`), lands in two splits: a duplicate with
a different key, or an item with two labels or two times. A label column that does not exist is
a ConfigError before any data is read; a class too small to put an item in each split is an
InvalidInput naming the class.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np
import polars as pl

from loopline.core.errors import CheckFailed as _CheckFailed
from loopline.core.hashing import item_ids as _item_ids
from loopline.split._assign import assign
from loopline.split._assign import content_columns as _content_columns
from loopline.split._leaks import describe as _describe
from loopline.split._leaks import find_leaks as _find_leaks
from loopline.split._spec import ITEM_ID as _ITEM_ID
from loopline.split._spec import SPLITS, SplitSpec, check, parse

__all__ = ["SPLITS", "MetricLogger", "SplitSpec", "assign", "check", "leak_check", "parse", "split"]


class MetricLogger(Protocol):
    def log_metric(self, key: str, value: float, step: int | None = None) -> None: ...


def leak_check(frame: pl.DataFrame, splits: np.ndarray) -> None:
    """CheckFailed naming the items when an item id or an exact content is in two splits."""
    problems = []
    if _ITEM_ID in frame.columns:
        leaks = _find_leaks(frame[_ITEM_ID].cast(pl.String), splits)
        if leaks:
            problems.append(_describe("item", leaks))
    columns = _content_columns(frame)
    twins = frame.select(columns).is_duplicated()  # exact comparison; only twins get hashed
    if twins.any():
        rows = np.flatnonzero(twins.to_numpy())
        ids = _item_ids(frame[rows].select(columns))
        leaks = [
            leak | {"rows": [int(rows[r]) for r in leak["rows"]]} for leak in _find_leaks(ids, splits[rows])
        ]
    else:
        leaks = []
    if leaks:
        problems.append(_describe("duplicate content", leaks))
    if problems:
        raise _CheckFailed(
            "split leak: " + "\n".join(problems),
            hint="deduplicate the table (e.g. `{rule: dedupe}` in clean), give one label per item, "
            "or split by `group:` so related rows stay together",
        )


def split(
    table: pl.DataFrame,
    ratios: Mapping[str, float] | None = None,
    seed: int = 0,
    key: str | list[str] | None = None,
    stratify: str | None = None,
    group: str | None = None,
    time: Mapping[str, Any] | None = None,
    ctx: MetricLogger | None = None,
) -> dict[str, pl.DataFrame]:
    """{train, validation, test}: the input's rows, in input order, each in exactly one."""
    params = {"ratios": ratios, "seed": seed, "key": key, "stratify": stratify, "group": group, "time": time}
    check(params, {"table": {name: str(dtype) for name, dtype in table.schema.items()}})
    spec = parse(params)
    splits = assign(table, spec)
    leak_check(table, splits)
    out = {name: table.filter(pl.Series(splits == index)) for index, name in enumerate(SPLITS)}
    if ctx is not None:
        for name, part in out.items():
            ctx.log_metric(f"{name}_rows", part.height)
    return out


split.check = check  # type: ignore[attr-defined]  # the preflight hook the pipeline engine reads
split.sealed_outputs = ("test",)  # type: ignore[attr-defined]  # a flag the pipeline engine reads
