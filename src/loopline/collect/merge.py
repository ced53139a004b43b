"""Incremental collection: a new version holds every item seen so far, each exactly once.

Functions on frames (and, for tables, the scratch folder the merged table streams to); the
readers add provenance, the runner stores the result.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from loopline.core.errors import Integrity
from loopline.core.hashing import item_ids
from loopline.core.types import TableFile
from loopline.store.tablefile import slices, write_frames

if TYPE_CHECKING:
    import polars as pl

    from loopline.store.artifacts import BlobSet

ITEM_ID = "_item_id"
PROVENANCE = ("_source", "_origin", "_collected_at", "_run_id")
_SLICE = 65_536  # rows read and written at a time: what bounds a merge's memory
_IDS_PER_PASS = 1 << 19  # ids grouped at a time to find the new ones (Polars: ~80 MB)


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


def unseen(table: pl.DataFrame, previous: pl.LazyFrame | None) -> int:
    """Rows of table whose item is not in previous (a reader's `new` figure)."""
    if previous is None:
        return table.height
    return table.join(previous.select(ITEM_ID).collect(), on=ITEM_ID, how="anti").height


def merge_table(
    previous: pl.LazyFrame | None,
    batch: pl.DataFrame | TableFile,
    scratch: Path,
    name: str,
    *,
    rewrite: bool = False,
) -> tuple[TableFile | None, int, int]:
    """previous + the rows of batch whose item is new (in neither previous nor an earlier row
    of batch), written to `scratch/NAME.parquet`: (that table, rows added, rows in all). The
    table is None when nothing is added to a previous version (unless `rewrite`: previous had
    rows dropped), which stays as it is; it is the
    batch's own file when every row is new and there was none before (hashed when stored, one
    read of the file: cheaper than writing it again and hashing the rows on the way).

    Neither table is held whole: the rows stream to the new table a slice at a time, columns
    missing on one side null on it, types relaxed to a common one (as `pl.concat(how=
    "diagonal_relaxed")`); which rows are new is found from the `_item_id` columns alone."""
    import polars as pl

    rows_of = batch.scan() if isinstance(batch, TableFile) else batch.lazy()
    rows = _height(rows_of)
    before = _height(previous) if previous is not None else 0
    keep = _new_rows(previous, rows_of, rows, scratch / f"{name}.ids.parquet")
    added = int(keep.sum())
    if previous is not None and not added and not rewrite:
        return None, 0, before
    if isinstance(batch, TableFile) and not before and added == rows:
        return batch, added, added
    empty = pl.DataFrame(schema=rows_of.collect_schema())
    if previous is not None and before:
        empty = pl.concat([pl.DataFrame(schema=previous.collect_schema()), empty], how="diagonal_relaxed")

    def relaxed(frame: pl.DataFrame) -> pl.DataFrame:
        return frame if frame.schema == empty.schema else pl.concat([empty, frame], how="diagonal_relaxed")

    def frames() -> Iterator[pl.DataFrame]:
        if previous is not None and before:
            yield from map(relaxed, slices(previous, before, _SLICE))
        offset = 0
        for frame in slices(rows_of, rows, _SLICE):
            yield relaxed(frame.filter(keep.slice(offset, frame.height)))
            offset += frame.height

    return write_frames(frames(), scratch / f"{name}.parquet", empty.schema), added, before + added


def _height(table: pl.LazyFrame) -> int:
    import polars as pl

    return int(table.select(pl.len()).collect().item())


def _new_rows(previous: pl.LazyFrame | None, batch: pl.LazyFrame, rows: int, spill: Path) -> pl.Series:
    """Which rows of batch hold a new item: the first row of each id not in previous.

    Every id, previous ones first, is spilled to a file as its 128 bits (two integers) and its
    row (-1 for previous), then the ids are grouped a share of them at a time (by `hi` modulo the
    number of passes): each group's smallest row is new when it is not -1. Memory is one share
    and one bit per row, however many ids there are."""
    import polars as pl

    def keys(ids: pl.DataFrame, first: int | None) -> pl.DataFrame:
        if (ids.get_column(ITEM_ID).str.len_bytes().fill_null(0) != 32).any():
            raise Integrity(f"an {ITEM_ID} is not 32 hex digits", hint="the table was not made by loopline")
        return ids.select(
            pl.col(ITEM_ID).str.slice(0, 16).str.to_integer(base=16, dtype=pl.UInt64).alias("hi"),
            pl.col(ITEM_ID).str.slice(16, 16).str.to_integer(base=16, dtype=pl.UInt64).alias("lo"),
            pl.int_range(first, first + ids.height, dtype=pl.Int64).alias("row")
            if first is not None
            else pl.repeat(-1, ids.height, dtype=pl.Int64).alias("row"),
        )

    def spilled() -> Iterator[pl.DataFrame]:
        if previous is not None:
            for ids in slices(previous.select(ITEM_ID), _height(previous), _SLICE):
                yield keys(ids, None)
        for offset, ids in zip(
            range(0, rows, _SLICE), slices(batch.select(ITEM_ID), rows, _SLICE), strict=True
        ):
            yield keys(ids, offset)

    schema = pl.Schema({"hi": pl.UInt64, "lo": pl.UInt64, "row": pl.Int64})
    total = _height(write_frames(spilled(), spill, schema, hashed=False).scan())
    passes = max(1, -(-total // _IDS_PER_PASS))
    keep = pl.repeat(False, rows, dtype=pl.Boolean, eager=True)
    for share in range(passes):
        ids = pl.scan_parquet(spill)
        if passes > 1:
            ids = ids.filter(pl.col("hi") % passes == share)
        first = ids.group_by("hi", "lo").agg(pl.col("row").min()).filter(pl.col("row") >= 0)
        new = first.select("row").collect(engine="streaming").get_column("row")
        if new.len():
            keep.scatter(new, True)  # in place: the rows found are dropped before the next pass
    return keep


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


def without_paths(blobset: BlobSet, paths: set[str]) -> BlobSet:
    """blobset less the files at paths (a mirrored folder's removed files)."""
    import polars as pl

    from loopline.store.artifacts import BlobSet

    attributes = blobset.attributes
    if attributes is not None:
        attributes = attributes.filter(~pl.col("path").is_in(list(paths)))
    kept = [e for e in blobset.entries if e.path not in paths]
    return BlobSet(kept, store=blobset._store, staged=blobset._staged or None, attributes=attributes)
