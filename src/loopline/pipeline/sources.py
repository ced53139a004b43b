"""Collect sources as pipeline nodes: they run first, always (new data may have arrived, so a
cache hit would be wrong), in this process, and version their artifact only when something new
arrived, so the steps downstream stay cache hits when nothing did."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopline import collect
from loopline.collect.merge import merge_blobsets, merge_table
from loopline.collect.spec import SourceSpec
from loopline.core.errors import LooplineError
from loopline.core.hashing import item_ids
from loopline.pipeline.step import Step

if TYPE_CHECKING:
    import polars as pl

    from loopline.store.artifacts import BlobSet
    from loopline.store.blobs import BlobStore
    from loopline.store.metadata import MetadataStore

QUARANTINE_COLUMNS = ("_origin", "_line", "_reason", "_raw")


def source_step(spec: SourceSpec) -> Step:
    return Step(
        name=f"collect.{spec.name}",
        fn=collect.read,
        uses=f"loopline.collect:{spec.type}",
        outputs=(spec.name, spec.quarantine_name),
        params=spec.to_json(),
        where=spec.where,
        collects=spec,
    )


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
) -> tuple[dict[str, Any], dict[str, Any], dict[str, float]]:
    """Collect once: (values per output name, new source state, report figures). A table
    value is a TableFile in `scratch`, which must live until it is stored."""
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
        state, now = meta.source_state(spec.name), datetime.now(UTC)
        ctx = collect.CollectContext(
            root, state, blobs, cache, run_id, now, seen, previous=previous, scratch=scratch
        )
        batch = collect.read(spec, ctx)
    finally:
        cache.close()
    merged: Any
    if batch.table is not None:
        merged, added, items = merge_table(previous, batch.table, scratch, spec.name)
    elif batch.blobs is not None:
        merged, added = merge_blobsets(blobset, batch.blobs)
        items = len(merged)
    else:
        raise LooplineError(f"source {spec.name!r}: its reader returned neither a table nor files")
    quarantine, rejected, _ = merge_table(
        old_quarantine, _quarantine(batch.quarantine), scratch, spec.quarantine_name
    )
    report = {
        **{k: float(v) for k, v in batch.report.items() if isinstance(v, int | float)},
        "added": float(added),
        "items": float(items),
        "quarantined": float(rejected),
        "seconds": time.perf_counter() - started,
    }
    # Nothing new: hand back the current versions as they are, not re-written and re-hashed.
    unchanged = not added and previous_art is not None
    values = {
        spec.name: previous_art if unchanged else merged,
        spec.quarantine_name: old_quarantine_art if not rejected and old_quarantine_art else quarantine,
    }
    return values, batch.state, report
