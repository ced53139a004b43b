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
_TABLE_TAG = b"loopline-table-v2\0"
_ITEM_CHUNK = 65_536


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


def _update_values(hasher: Any, array: pa.Array) -> None:
    """Feed the bytes of a fixed-width array without nulls: exactly its slots, nothing around them."""
    width = array.type.bit_width // 8
    data = array.buffers()[1]
    if data is not None and len(array):
        hasher.update(memoryview(data)[array.offset * width : (array.offset + len(array)) * width])


def _update_array(hasher: Any, array: pa.Array) -> None:
    """Feed one column's logical content: its length, which slots are null, and the valid values.

    Arrow leaves some bytes undefined (values under null slots, spare bits of a bitmap, string
    bytes no offset points at), and Parquet readers fill them differently; hashing raw buffers
    would give one frame several ids. Nulls are recorded as a mask and then dropped, so only
    defined bytes reach the hash.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    hasher.update(len(array).to_bytes(8, "little"))
    if array.null_count:
        valid = array.is_valid()
        hasher.update(b"\1")
        _update_values(hasher, valid.cast(pa.uint8()))
        array = array.filter(valid)
    else:
        hasher.update(b"\0")
    kind = array.type
    if pa.types.is_dictionary(kind):
        _update_array(hasher, array.dictionary_decode())
    elif pa.types.is_struct(kind):
        for child in array.flatten():
            _update_array(hasher, child)
    elif pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        _update_values(hasher, pc.list_value_length(array).cast(pa.int64()))
        _update_array(hasher, array.flatten())
    elif pa.types.is_boolean(kind):
        _update_values(hasher, array.cast(pa.uint8()))
    elif (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_string_view(kind)
        or pa.types.is_binary_view(kind)
    ):
        array = array.cast(pa.large_binary())
        _validity, offsets_buffer, data = array.buffers()
        offsets = pa.Array.from_buffers(
            pa.int64(), len(array) + 1, [None, offsets_buffer], offset=array.offset
        )
        start, end = offsets[0].as_py(), offsets[-1].as_py()
        _update_values(hasher, pc.subtract(offsets, start) if start else offsets)
        if data is not None and end > start:
            hasher.update(memoryview(data)[start:end])
    elif pa.types.is_null(kind):
        pass
    elif kind.num_buffers == 2 and kind.bit_width % 8 == 0:  # ints, floats, temporal, decimal
        _update_values(hasher, array)
    else:  # a type polars never exports; IPC bytes at least are deterministic for one writer
        hasher.update(pa.record_batch([array], names=["v"]).serialize())


def hash_table(table: pa.Table | pl.DataFrame) -> str:
    """Hash of schema and values, column by column, over defined bytes only. A frame is exported
    to Arrow one column at a time, so hashing holds at most one column's copy."""
    import polars as pl

    if not isinstance(table, pl.DataFrame):
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
    else:
        frame = table
    schema = _canonical_arrow(frame.head(0)).schema
    hasher = blake3.blake3(_TABLE_TAG, max_threads=blake3.blake3.AUTO)
    hasher.update(str(schema).encode())
    hasher.update(frame.height.to_bytes(8, "little"))
    for name in frame.columns:
        column = frame.select(name).rechunk().to_arrow().column(0)
        _update_array(hasher, column.combine_chunks())
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
    parts = []
    for start in range(0, max(frame.height, 1), _ITEM_CHUNK):  # bounded Python garbage per chunk
        part = frame.slice(start, _ITEM_CHUNK).select(pl.struct(columns).struct.json_encode().alias("_row"))
        hexes = [blake3.blake3(row.encode()).hexdigest()[:32] for row in part.to_series()]
        parts.append(pl.Series("item_id", hexes, pl.String))
    return parts[0] if len(parts) == 1 else pl.concat(parts, rechunk=True)


def fingerprint(parts: Mapping[str, Any]) -> str:
    """A step's fingerprint: hash of code, params, input ids and declared environment."""
    return hash_json({"fingerprint-v1": parts})
