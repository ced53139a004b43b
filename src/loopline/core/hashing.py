"""BLAKE3 content hashes: the identity of every blob, table, item and step in loopline.

A table's id hashes its *logical* content (column names, types and values in row order), not
the bytes of some file format, so the same frame written twice with different Parquet
compression has one id.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import blake3

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa

# Files from this size are hashed a chunk at a time with BLAKE3's own threads.
_LARGE_FILE = 4 * 1024 * 1024
_FILE_CHUNK = 8 * 1024 * 1024
_TABLE_TAG = b"loopline-table-v2\0"
_ITEM_CHUNK = 65_536
_HASH_SLICE = 1 << 20  # rows of a column exported to Arrow at a time while hashing a frame
_PARQUET_BATCH = 1 << 18  # rows of a column decoded at a time while hashing a Parquet file
_SPOOL_CHUNK = 8 << 20  # bytes of a spooled column part read back at a time


def hash_bytes(data: bytes | memoryview) -> str:
    return blake3.blake3(data).hexdigest()


def hash_text(text: str) -> str:
    return hash_bytes(text.encode())


def hash_file(path: str | os.PathLike[str]) -> str:
    """A large file is read a chunk at a time into one buffer (BLAKE3's threads hash each
    chunk): a memory map would be as fast but count the whole file in the process's RSS."""
    with open(path, "rb", buffering=0) as handle:
        if os.fstat(handle.fileno()).st_size < _LARGE_FILE:
            return hash_bytes(handle.read())
        hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
        buffer = bytearray(_FILE_CHUNK)
        view = memoryview(buffer)
        while n := handle.readinto(buffer):
            hasher.update(view[:n])
        return hasher.hexdigest()


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
    elif _is_bytes(kind):  # offsets from 0, then the bytes: a one-slice `_update_sliced`
        hasher.update(bytes(8))
        _feed_offsets(hasher, array, 0)
        _feed_bytes(hasher, array)
    elif pa.types.is_null(kind):
        pass
    elif kind.num_buffers == 2 and kind.bit_width % 8 == 0:  # ints, floats, temporal, decimal
        _update_values(hasher, array)
    else:  # a type polars never exports; IPC bytes at least are deterministic for one writer
        hasher.update(pa.record_batch([array], names=["v"]).serialize())


def hash_table(table: pa.Table | pl.DataFrame) -> str:
    """Hash of schema and values, column by column, over defined bytes only. A column is
    exported to Arrow a slice at a time, so hashing holds no whole-column copy."""
    import polars as pl

    if not isinstance(table, pl.DataFrame):
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
    else:
        frame = table

    def column(name: str, kind: pa.DataType) -> Column:
        series = frame.get_column(name)
        starts = range(0, frame.height, _HASH_SLICE) if frame.height else range(1)
        return series.null_count(), lambda: (series.slice(s, _HASH_SLICE).to_arrow() for s in starts)

    return _hash_columns(frame.head(0), frame.height, column, lambda name: frame.select(name))


def hash_parquet(path: str | os.PathLike[str]) -> str:
    """`hash_table` of the table in a Parquet file, each column read a batch at a time (and read
    again for each pass over it): memory bounded by a batch, whatever the table's size. The id
    of a table a step streamed to a file.

    pyarrow decodes the batches (here twice as fast as Polars reading the same slices), and
    each is cast to the type Polars reads the column as, so the values are the ones
    `pl.read_parquet` gives (a TIME(MILLIS) column is time32 to pyarrow, time64 to Polars)."""
    import polars as pl
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path, pre_buffer=False)  # pre-buffering would read ahead: ~100 MB more
    meta = parquet.metadata

    def batches(name: str, kind: pa.DataType) -> Iterator[pa.Array]:
        for batch in parquet.iter_batches(batch_size=_PARQUET_BATCH, columns=[name], use_threads=False):
            array = batch.column(0)
            yield array if array.type == kind or _is_bytes(kind) else array.cast(kind)

    def column(name: str, kind: pa.DataType) -> Column:
        j = parquet.schema_arrow.get_field_index(name)
        stats = [meta.row_group(g).column(j).statistics for g in range(meta.num_row_groups)]
        if all(s is not None and s.has_null_count for s in stats):
            nulls = sum(s.null_count for s in stats if s is not None)
        else:
            nulls = sum(array.null_count for array in batches(name, kind))
        return nulls, lambda: batches(name, kind)

    return _hash_columns(
        pl.read_parquet(os.fspath(path), n_rows=0),
        meta.num_rows,
        column,
        lambda name: pl.read_parquet(os.fspath(path), columns=[name]),
    )


# A column to hash: its null count, and a way to go over its Arrow slices (as often as needed).
Column = tuple[int, Callable[[], Iterator["pa.Array"]]]


def _hash_columns(
    empty: pl.DataFrame,
    height: int,
    column: Callable[[str, pa.DataType], Column],
    whole: Callable[[str], pl.DataFrame],
) -> str:
    schema = _canonical_arrow(empty).schema
    hasher = blake3.blake3(_TABLE_TAG, max_threads=blake3.blake3.AUTO)
    hasher.update(str(schema).encode())
    hasher.update(height.to_bytes(8, "little"))
    for name, kind in zip(empty.columns, schema.types, strict=True):
        if _flat(kind):
            _update_sliced(hasher, height, *column(name, kind), kind)
        else:  # nested or dictionary columns: exported whole
            _update_array(hasher, whole(name).rechunk().to_arrow().column(0).combine_chunks())
    return hasher.hexdigest()


def _flat(kind: pa.DataType) -> bool:
    import pyarrow as pa

    if pa.types.is_boolean(kind) or _is_bytes(kind) or pa.types.is_null(kind):
        return True
    if pa.types.is_nested(kind) or pa.types.is_dictionary(kind) or kind.num_buffers != 2:
        return False
    return bool(kind.bit_width % 8 == 0)  # ints, floats, temporal, decimal


def _is_null(kind: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_null(kind))


def _is_bytes(kind: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_string_view(kind)
        or pa.types.is_binary_view(kind)
    )


def _update_sliced(
    hasher: Any, n: int, nulls: int, slices: Callable[[], Iterator[pa.Array]], kind: pa.DataType
) -> None:
    """`_update_array` of a flat column of n rows, fed a slice at a time: the same bytes in the
    same order, without whole-column Arrow copies (a string column's would be several times its
    size). Each pass goes over the slices again: the null mask, the values (for strings, all the
    offsets first, then all the bytes)."""
    import pyarrow as pa

    hasher.update(n.to_bytes(8, "little"))
    hasher.update(b"\1" if nulls else b"\0")
    if nulls:
        for array in slices():
            _feed_mask(hasher, array)
    if pa.types.is_null(kind):
        return
    if _is_bytes(kind):
        hasher.update(bytes(8))  # the first offset, 0 (an empty column has only that one)
        total = 0
        for array in slices():
            total = _feed_offsets(hasher, array, total)
        for array in slices():
            _feed_bytes(hasher, array)
    else:
        for array in slices():
            _feed_values(hasher, array)


# What one slice of a flat column adds to each part of the column's hash (the parts follow one
# another: mask, then values; for strings offsets, then bytes). Nulls are left out of the values.


def _valid(array: pa.Array) -> pa.Array:
    return array.filter(array.is_valid()) if array.null_count else array


def _feed_mask(sink: Any, array: pa.Array) -> None:
    import pyarrow as pa

    _update_values(sink, array.is_valid().cast(pa.uint8()))


def _feed_values(sink: Any, array: pa.Array) -> None:
    """A fixed-width or boolean slice's valid values (booleans as one byte each)."""
    import pyarrow as pa

    array = _valid(array)
    _update_values(sink, array.cast(pa.uint8()) if pa.types.is_boolean(array.type) else array)


def _feed_offsets(sink: Any, array: pa.Array, total: int) -> int:
    """A string slice's offsets after the first, as one array's would run on from `total` (the
    bytes so far); returns the new total."""
    import pyarrow.compute as pc

    offsets, _ = _offsets(_valid(array))
    base = offsets[0].as_py()
    _update_values(sink, (pc.add(pc.subtract(offsets, base), total) if base != total else offsets).slice(1))
    return int(total + offsets[-1].as_py() - base)


def _feed_bytes(sink: Any, array: pa.Array) -> None:
    offsets, data = _offsets(_valid(array))
    start, end = offsets[0].as_py(), offsets[-1].as_py()
    if data is not None and end > start:
        sink.update(memoryview(data)[start:end])


class TableHasher:
    """`hash_table` of a table that arrives a partition at a time, in row order, and is never
    held whole (a step streaming its output to a file feeds it what it writes).

    The id takes the columns one after another, so each part of each column's hash (its null
    mask, its values; a string column's offsets and bytes) is spooled to a file in `folder` as
    the partitions arrive, and the files are fed in order at the end: memory is one partition,
    the files go through the page cache. Only flat columns (`supports`)."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        import tempfile  # not at the top: every command imports this module, few stream tables

        self._folder = tempfile.TemporaryDirectory(dir=folder, prefix=".hash-")
        self._empty: pl.DataFrame | None = None
        self._spools: list[dict[str, Any]] = []
        self._nulls: list[int] = []
        self._totals: list[int] = []
        self._height = 0

    @property
    def height(self) -> int:
        """Rows fed so far."""
        return self._height

    @staticmethod
    def supports(schema: pa.Schema) -> bool:
        return all(_flat(kind) for kind in schema.types)

    def update(self, part: pl.DataFrame) -> None:
        if self._empty is None:
            self._empty = part.head(0)
            for j, kind in enumerate(_canonical_arrow(self._empty).schema.types):
                parts = ["mask"] + (
                    [] if _is_null(kind) else ["offsets", "bytes"] if _is_bytes(kind) else ["values"]
                )
                self._spools.append({k: _Spool(os.path.join(self._folder.name, f"{j}.{k}")) for k in parts})
            self._nulls = [0] * part.width
            self._totals = [0] * part.width
        self._height += part.height
        for j, series in enumerate(part.get_columns()):
            spool = self._spools[j]
            for array in (
                series.slice(s, _HASH_SLICE).to_arrow() for s in range(0, len(series), _HASH_SLICE)
            ):
                self._nulls[j] += array.null_count
                _feed_mask(spool["mask"], array)
                if "values" in spool:
                    _feed_values(spool["values"], array)
                elif "offsets" in spool:
                    self._totals[j] = _feed_offsets(spool["offsets"], array, self._totals[j])
                    _feed_bytes(spool["bytes"], array)

    def hexdigest(self) -> str:
        assert self._empty is not None, "a table has at least one partition, if empty"
        try:
            hasher = blake3.blake3(_TABLE_TAG, max_threads=blake3.blake3.AUTO)
            hasher.update(str(_canonical_arrow(self._empty).schema).encode())
            hasher.update(self._height.to_bytes(8, "little"))
            for spool, nulls in zip(self._spools, self._nulls, strict=True):
                hasher.update(self._height.to_bytes(8, "little"))
                hasher.update(b"\1" if nulls else b"\0")
                if nulls:
                    spool["mask"].into(hasher)
                if "offsets" in spool:
                    hasher.update(bytes(8))
                for part in ("values", "offsets", "bytes"):
                    if part in spool:
                        spool[part].into(hasher)
            return hasher.hexdigest()
        finally:
            for spool in self._spools:
                for file in spool.values():
                    file.close()
            self._folder.cleanup()


class _Spool:
    """An append-only file with a hasher's `update`, fed back to a hasher once complete."""

    def __init__(self, path: str) -> None:
        self._file = open(path, "w+b")  # noqa: SIM115 - closed by the TableHasher

    def update(self, data: Any) -> None:
        self._file.write(data)

    def into(self, hasher: Any) -> None:
        self._file.flush()
        self._file.seek(0)
        buffer = bytearray(_SPOOL_CHUNK)
        while n := self._file.readinto(buffer):
            hasher.update(memoryview(buffer)[:n])

    def close(self) -> None:
        self._file.close()


def _offsets(array: pa.Array) -> tuple[pa.Array, Any]:
    """The int64 offsets of a string or binary array and its data buffer."""
    import pyarrow as pa

    array = array.cast(pa.large_binary())
    _validity, offsets_buffer, data = array.buffers()
    return pa.Array.from_buffers(
        pa.int64(), len(array) + 1, [None, offsets_buffer], offset=array.offset
    ), data


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
