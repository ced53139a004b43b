"""BLAKE3 content hashes: the identity of every blob, table, item and step in loopline.

A table's id hashes its *logical* content (column names, types and values in row order), not
the bytes of some file format, so the same frame written twice with different Parquet
compression has one id.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import blake3

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa

# Files above this size are hashed from a memory map with BLAKE3's own threads.
_MMAP_THRESHOLD = 4 * 1024 * 1024
_TABLE_BATCH_ROWS = 65_536
_TABLE_TAG = b"loopline-table-v1\0"


def hash_bytes(data: bytes | memoryview) -> str:
    return blake3.blake3(data).hexdigest()


def hash_text(text: str) -> str:
    return hash_bytes(text.encode())


def hash_file(path: str | os.PathLike[str]) -> str:
    size = os.path.getsize(path)
    if size >= _MMAP_THRESHOLD:
        return blake3.blake3(max_threads=blake3.blake3.AUTO).update_mmap(path).hexdigest()
    with open(path, "rb") as handle:
        return hash_bytes(handle.read())


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: equal values give equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str, allow_nan=True)


def hash_json(value: Any) -> str:
    return hash_text(canonical_json(value))


def _canonical_arrow(table: pa.Table) -> pa.Table:
    """Bring a table to one physical form: polars' Arrow export, one chunk, no metadata."""
    import polars as pl

    frame = pl.from_arrow(table) if not isinstance(table, pl.DataFrame) else table
    assert isinstance(frame, pl.DataFrame)
    return frame.rechunk().to_arrow().replace_schema_metadata(None)


def hash_table(table: pa.Table | pl.DataFrame) -> str:
    """Hash of schema and values, streamed batch by batch through Arrow IPC encoding."""
    arrow = _canonical_arrow(table)
    hasher = blake3.blake3(_TABLE_TAG)
    hasher.update(str(arrow.schema).encode())
    hasher.update(arrow.num_rows.to_bytes(8, "little"))
    for batch in arrow.to_batches(max_chunksize=_TABLE_BATCH_ROWS):
        hasher.update(batch.serialize())
    return hasher.hexdigest()


def hash_manifest(entries: Iterable[tuple[str, int, str]]) -> str:
    """Id of a blob set: its sorted (relative path, size, blob hash) entries.

    Computed without Arrow so that checking an unchanged folder stays cheap.
    """
    hasher = blake3.blake3(b"loopline-blobs-v1\0")
    for path, size, digest in sorted(entries):
        hasher.update(f"{path}\t{size}\t{digest}\n".encode())
    return hasher.hexdigest()


def item_ids(frame: pl.DataFrame, key: list[str] | None = None) -> pl.Series:
    """One stable id per row: BLAKE3 of the row's JSON (or of its key columns' JSON)."""
    import polars as pl

    columns = key or frame.columns
    encoded = frame.select(pl.struct(columns).struct.json_encode().alias("_row")).to_series()
    return pl.Series("item_id", [blake3.blake3(row.encode()).hexdigest()[:32] for row in encoded], pl.String)


def fingerprint(parts: Mapping[str, Any]) -> str:
    """A step's fingerprint: hash of code, params, input ids and declared environment."""
    return hash_json({"fingerprint-v1": parts})
