"""The demo's training table: the crowd's labels joined with the pixels of each labeled image.

A step (`uses: loopline.demo.features:join`): the labels artifact (item_id, label) meets the
collected images (a blob set: an image's item id is its content's id); file `digit-0123.png`
is scikit-learn's digit number 123, whose 8x8 pixels (0-16, scaled to 0-1) become the 64
feature columns px00..px63. The item id stays as `_item_id`, so the split keys on it and
training ignores it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl


def join(labels: pl.DataFrame, images: Any) -> pl.DataFrame:
    """images: the collected BlobSet (an image's item id is its content's blob id)."""
    from sklearn.datasets import load_digits

    pixels = load_digits().data
    files = pl.DataFrame(
        {"item_id": [e.blob for e in images.entries], "path": [e.path for e in images.entries]},
        schema={"item_id": pl.String, "path": pl.String},
    )
    index = (
        files.select(
            "item_id",
            pl.col("path").str.extract(r"digit-(\d+)\.png$", 1).cast(pl.Int64).alias("index"),
        )
        .drop_nulls()
        .unique("item_id", keep="first", maintain_order=True)  # identical images: one item
    )
    table = (
        labels.select("item_id", pl.col("label").cast(pl.String)).join(index, on="item_id").sort("item_id")
    )
    features = pl.DataFrame(
        np.asarray(pixels[table["index"].to_numpy()], dtype=np.float64) / 16.0,
        schema=[f"px{i:02d}" for i in range(pixels.shape[1])],
        orient="row",
    )
    return pl.concat([table.select(pl.col("item_id").alias("_item_id"), "label"), features], how="horizontal")
