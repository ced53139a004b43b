"""Incremental collection: a new version holds every item seen so far, each exactly once.

Pure functions on frames; the readers add provenance, the runner stores the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from loopline.core.hashing import item_ids

if TYPE_CHECKING:
    import polars as pl

    from loopline.store.artifacts import BlobSet

ITEM_ID = "_item_id"
PROVENANCE = ("_source", "_origin", "_collected_at", "_run_id")


def with_provenance(
    frame: pl.DataFrame,
    *,
    source: str,
    origins: pl.Series | str,
    collected_at: datetime,
    run_id: str,
    key: Sequence[str] = (),
) -> pl.DataFrame:
    """Add `_item_id` (hash of the key columns, or of the whole row) and provenance columns."""
    import polars as pl

    data_columns = [c for c in frame.columns if c != ITEM_ID and c not in PROVENANCE]
    ids = item_ids(frame.select(data_columns), list(key) or None)
    origin = origins if isinstance(origins, pl.Series) else pl.repeat(origins, frame.height, eager=True)
    return frame.select(data_columns).with_columns(
        ids.alias(ITEM_ID),
        pl.lit(source).alias("_source"),
        origin.cast(pl.String).alias("_origin"),
        pl.lit(collected_at).cast(pl.Datetime("us", "UTC")).alias("_collected_at"),
        pl.lit(run_id).alias("_run_id"),
    )


def merge_new(previous: pl.DataFrame | None, batch: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """previous + the items of batch not seen before (by `_item_id`, first occurrence wins)."""
    import polars as pl

    fresh = batch  # most batches hold each item once: no copy for them
    if batch.height and batch.select(pl.col(ITEM_ID).n_unique()).item() < batch.height:
        fresh = batch.unique(subset=[ITEM_ID], keep="first", maintain_order=True)
    if previous is not None and previous.height:
        fresh = fresh.join(previous.select(ITEM_ID), on=ITEM_ID, how="anti")
    if not fresh.height:
        return (previous if previous is not None else batch.head(0)), 0
    if previous is None or not previous.height:
        return fresh, fresh.height
    return pl.concat([previous, fresh], how="diagonal_relaxed"), fresh.height


def merge_blobsets(previous: BlobSet | None, batch: BlobSet) -> tuple[BlobSet, int]:
    """previous + files of batch whose content is new. A new content at a known path replaces
    that path's entry (older versions keep the old one); a known content at a new path is a
    duplicate and skipped."""
    import polars as pl

    from loopline.store.artifacts import BlobSet

    known = {e.blob for e in previous.entries} if previous is not None else set()
    fresh = [e for e in batch.entries if e.blob not in known]
    unique = list({e.blob: e for e in reversed(fresh)}.values())  # first occurrence of a content
    if not unique:
        return (previous if previous is not None else batch), 0
    paths = {e.path for e in unique}
    kept = [e for e in previous.entries if e.path not in paths] if previous is not None else []
    frames = [
        f.filter(pl.col("path").is_in(list(keep)))
        for f, keep in (
            (previous.attributes if previous is not None else None, {e.path for e in kept}),
            (batch.attributes, paths),
        )
        if f is not None
    ]
    attributes = pl.concat(frames, how="diagonal_relaxed") if frames else None
    staged = batch._staged if batch._staged else None
    store = batch._store or (previous._store if previous is not None else None)
    return BlobSet([*kept, *unique], store=store, staged=staged, attributes=attributes), len(unique)
