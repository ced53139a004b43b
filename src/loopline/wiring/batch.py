"""The task a Dask worker runs for `loopline score`: one row partition scored, its rows and the
model read from the blob store by URL (never the project folder, which the worker may not have).

A module of its own so that a worker unpickling the task imports only this, the blob store and
the pure scoring (serve/batch.py), not the serving app beside `score_dataset` in serve.py."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from loopline.serve.batch import score_frame
from loopline.store.artifacts import scan_table
from loopline.store.blobs import BlobStore, open_blob_store
from loopline.store.models import read_model

if TYPE_CHECKING:
    import polars as pl

    from loopline.core.types import Artifact


@lru_cache(maxsize=4)
def _worker_blobs(url: str) -> BlobStore:
    return open_blob_store(url)  # a remote store caches in the worker's own temp folder


def score_partition(
    blobs_url: str,
    model: Artifact,
    dataset: Artifact,
    bounds: tuple[int, int],
    inputs: list[str],
    keys: list[str],
) -> pl.DataFrame:
    """Rows [start, end) of the dataset, scored by the model (checked against its id, as
    Registry.load does); the row numbers, without keys, count from the dataset's first row."""
    blobs = _worker_blobs(blobs_url)
    start, end = bounds
    estimator = read_model(blobs, model)
    part = scan_table(blobs, dataset).slice(start, end - start).collect()
    return score_frame(estimator, part, inputs, keys, start)
