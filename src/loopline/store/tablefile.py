"""A table a slice at a time: read from a lazy scan, or written to one Parquet file without
holding it (the way a step or a source returns a table too big for memory: a TableFile, stored
as it is)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from loopline.core.errors import Integrity
from loopline.core.hashing import TableHasher
from loopline.core.types import TableFile

if TYPE_CHECKING:
    import polars as pl

# Rows per row group, and so per part the writer has in flight (up to six): what it holds.
_ROW_GROUP = 32_768


def slices(table: pl.LazyFrame, rows: int, size: int) -> Iterator[pl.DataFrame]:
    """The rows of table in order, `size` at a time, each read when asked for (a Parquet scan
    reads only the row groups of the slice; `collect_batches` reads ahead of a slow consumer,
    holding more of the table the slower the consumer is)."""
    for offset in range(0, rows, size):
        yield table.slice(offset, size).collect()


def write_frames(
    frames: Iterable[pl.DataFrame], target: Path, schema: pl.Schema, *, hashed: bool = True
) -> TableFile:
    """Write frames (each of `schema`) one after another as one Parquet file, with Polars'
    streaming writer (it holds a few frames at most), atomically: a temp file beside the target,
    then a rename. `hashed`: the table's id is computed from the frames on the way, when its
    columns allow (TableHasher); it is the id `hash_table` gives the whole table in memory."""
    import polars as pl
    from polars.io.plugins import register_io_source

    target.parent.mkdir(parents=True, exist_ok=True)
    empty = pl.DataFrame(schema=schema)
    supported = hashed and TableHasher.supports(empty.to_arrow().schema)
    hasher = TableHasher(target.parent) if supported else None
    fed = False

    def source(
        with_columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None, batch_size: int | None
    ) -> Iterator[pl.DataFrame]:
        nonlocal fed
        if with_columns is not None or predicate is not None or n_rows is not None:
            raise Integrity("a plain sink asks for every column and row")  # what is hashed is written
        for frame in itertools.chain(frames, [empty]):  # the empty one: a table has a first part
            if fed and not frame.height:
                continue
            if frame.schema != schema:
                raise Integrity(f"a part of {target.name} has columns {frame.schema}, not {schema}")
            if hasher is not None:
                hasher.update(frame)
            fed = True
            yield frame

    tmp = target.with_name(f".{target.name}.tmp")
    try:
        table = register_io_source(source, schema=schema)
        table.sink_parquet(tmp, compression="zstd", statistics=True, row_group_size=_ROW_GROUP)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    if hasher is None:
        return TableFile(target)
    written = pl.scan_parquet(target).select(pl.len()).collect().item()
    if written != hasher.height:  # every frame written was hashed once: cannot happen
        raise Integrity(f"wrote {written} rows to {target.name} but hashed {hasher.height}")
    return TableFile(target, hasher.hexdigest())
