"""Collect sources as pipeline nodes: they run first, always (new data may have arrived, so a
cache hit would be wrong), in this process, and version their artifact only when something new
arrived, so the steps downstream stay cache hits when nothing did."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopline import collect
from loopline.collect.merge import merge_blobsets, merge_table, without_paths
from loopline.collect.schema import version_changes
from loopline.collect.spec import SourceSpec
from loopline.core.errors import LooplineError
from loopline.core.hashing import item_ids

if TYPE_CHECKING:
    import polars as pl

    from loopline.store.artifacts import BlobSet
    from loopline.store.blobs import BlobStore
    from loopline.store.metadata import MetadataStore

QUARANTINE_COLUMNS = ("_origin", "_line", "_reason", "_raw")


def _quarantine(frame: pl.DataFrame | None) -> pl.DataFrame:
    import polars as pl

    if frame is None or not frame.height:
        return pl.DataFrame(
            {**{c: [] for c in QUARANTINE_COLUMNS}, "_item_id": []},
            schema={**dict.fromkeys(QUARANTINE_COLUMNS, pl.String), "_line": pl.Int64, "_item_id": pl.String},
        )
    return frame.with_columns(item_ids(frame).alias("_item_id"))


def run_source(
    spec: SourceSpec,
    meta: MetadataStore,
    blobs: BlobStore,
    root: Path,
    stat_cache: Path,
    run_id: str,
    scratch: Path,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, float], dict[str, Any]]:
    """Collect once: (values per output name, new source state, report figures, details: per
    file what was read, and every change to the columns). A table value is a TableFile in
    `scratch`, which must live until it is stored. Rows of the files the batch replaces are
    dropped from the previous version (and its quarantine) first."""
    import polars as pl

    from loopline.store.artifacts import load_value, scan_table
    from loopline.store.statcache import StatCache

    previous_art = meta.latest_version(spec.name)
    previous: pl.LazyFrame | None = None  # the current version: a table scanned, never loaded whole
    blobset: BlobSet | None = None
    if previous_art is not None and previous_art.kind == "table":
        previous = scan_table(blobs, previous_art)
    elif previous_art is not None:
        blobset = load_value(blobs, previous_art)
    old_quarantine_art = meta.latest_version(spec.quarantine_name)
    old_quarantine = scan_table(blobs, old_quarantine_art) if old_quarantine_art is not None else None
    cache = StatCache(stat_cache)
    started = time.perf_counter()
    try:
        seen = {e.blob for e in blobset.entries} if blobset is not None else set()
        paths = {e.path for e in blobset.entries} if blobset is not None else set()
        state, now = meta.source_state(spec.name), datetime.now(UTC)
        ctx = collect.CollectContext(
            root, state, blobs, cache, run_id, now, seen, paths, previous=previous, scratch=scratch
        )
        batch = collect.read(spec, ctx)
    finally:
        cache.close()
    merged: Any
    dropped = cleared = 0
    changes: list[str] = []
    if batch.table is not None:
        if previous is not None and batch.replaces:
            previous, dropped = _without(previous, batch.replaces, file_of_origin())
            old_quarantine, cleared = _without(old_quarantine, batch.replaces, pl.col("_origin"))
        merged, added, items = merge_table(previous, batch.table, scratch, spec.name, rewrite=dropped > 0)
        if merged is not None and previous_art is not None:
            assert previous is not None  # a table source's current version, scanned above
            changes = version_changes(previous.collect_schema(), merged.scan().collect_schema())
    elif batch.blobs is not None:
        if blobset is not None and batch.replaces:
            blobset, dropped = without_paths(blobset, set(batch.replaces)), len(batch.replaces)
        merged, added = merge_blobsets(blobset, batch.blobs)
        items = len(merged)
    else:
        raise LooplineError(f"source {spec.name!r}: its reader returned neither a table nor files")
    quarantine, rejected, _ = merge_table(
        old_quarantine, _quarantine(batch.quarantine), scratch, spec.quarantine_name, rewrite=cleared > 0
    )
    report = {
        **{k: float(v) for k, v in batch.report.items() if isinstance(v, int | float)},
        "added": float(added),
        "dropped": float(dropped),
        "items": float(items),
        "quarantined": float(rejected),
        "seconds": time.perf_counter() - started,
    }
    # Nothing new: hand back the current versions as they are, not re-written and re-hashed.
    unchanged = not added and not dropped and previous_art is not None
    values = {
        spec.name: previous_art if unchanged else merged,
        spec.quarantine_name: old_quarantine_art
        if not rejected and not cleared and old_quarantine_art
        else quarantine,
    }
    details = {**batch.details, "version_changes": changes} if changes else dict(batch.details)
    return values, batch.state, report, details


def file_of_origin() -> pl.Expr:
    """The file part of a row's `_origin` (`path:line`)."""
    import polars as pl

    return pl.col("_origin").str.replace(r":\d+$", "")


def _without(
    table: pl.LazyFrame | None, origins: tuple[str, ...], file: pl.Expr
) -> tuple[pl.LazyFrame | None, int]:
    """table without the rows of the files named, and how many rows that drops."""
    import polars as pl

    if table is None:
        return None, 0
    kept = table.filter(~file.is_in(list(origins)))
    count = table.select(pl.len()).collect().item() - kept.select(pl.len()).collect().item()
    return kept, int(count)
