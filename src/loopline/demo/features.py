"""The demo's feature steps: each collected image's 64 pixel features, and the training table.

`pixels` (`uses: loopline.demo.features:pixels`) reads every image of the collected blob set (an
image's item id is its content's blob id) into 64 columns px00..px63, as a client of the served
model computes them; active learning ranks unlabeled items on the same table. `join` meets the
crowd's labels (item_id, label) with it. The item id stays as `_item_id`, so the split keys on
it and training ignores it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from loopline.demo.data import pixels_of

COLUMNS = [f"px{i:02d}" for i in range(64)]


def pixels(images: Any) -> pl.DataFrame:
    """images: the collected BlobSet; one row per distinct image, sorted by item id."""
    entries = sorted({e.blob: e for e in images.entries}.values(), key=lambda e: e.blob)
    rows = np.asarray([pixels_of(images.read(e.path)) for e in entries], dtype=np.float64).reshape(-1, 64)
    return pl.concat(
        [
            pl.DataFrame({"_item_id": [e.blob for e in entries]}, schema={"_item_id": pl.String}),
            pl.DataFrame(rows, schema=COLUMNS, orient="row"),
        ],
        how="horizontal",
    )


def join(labels: pl.DataFrame, pixels: pl.DataFrame) -> pl.DataFrame:
    """The labeled images: _item_id, label, px00..px63."""
    wanted = labels.select(pl.col("item_id").alias("_item_id"), pl.col("label").cast(pl.String))
    return wanted.join(pixels, on="_item_id").sort("_item_id")
