"""The streamed merge of a table source against the in-memory one it replaced (the oracle below):
the same rows, columns and types, so the same artifact id, computed while the table is written;
with slices and id passes made tiny so that every boundary is crossed."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from loopline.collect import merge
from loopline.collect.merge import ITEM_ID, merge_table
from loopline.core.errors import Integrity
from loopline.core.hashing import hash_table, hash_text
from loopline.core.types import TableFile
from loopline.store.tablefile import write_frames


def in_memory_merge(previous: pl.DataFrame | None, batch: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """The merge before it streamed (collect/merge.py merge_new at c346206)."""
    fresh = batch
    if batch.height and batch.select(pl.col(ITEM_ID).n_unique()).item() < batch.height:
        fresh = batch.unique(subset=[ITEM_ID], keep="first", maintain_order=True)
    if previous is not None and previous.height:
        fresh = fresh.join(previous.select(ITEM_ID), on=ITEM_ID, how="anti")
    if not fresh.height:
        return (previous if previous is not None else batch.head(0)), 0
    if previous is None or not previous.height:
        return fresh, fresh.height
    return pl.concat([previous, fresh], how="diagonal_relaxed"), fresh.height


def _table(keys: list[int], *, extra: bool, floats: bool) -> pl.DataFrame:
    """Rows whose item is `key` (ids spread over all 128 bits, as BLAKE3 ids are)."""
    columns: dict[str, pl.Series] = {
        "n": pl.Series(keys, dtype=pl.Int64),
        "score": pl.Series([k / 2 for k in keys]) if floats else pl.Series(keys, dtype=pl.Int64),
        "name": pl.Series([None if k % 3 == 0 else f"item {k}" for k in keys], dtype=pl.String),
    }
    if extra:
        columns["city"] = pl.Series([f"c{k % 4}" for k in keys], dtype=pl.String)
    columns[ITEM_ID] = pl.Series([hash_text(str(k))[:32] for k in keys], dtype=pl.String)
    return pl.DataFrame(columns)


_KEYS = st.lists(st.integers(0, 40), max_size=30)


@settings(max_examples=60, deadline=None)
@given(
    old=st.none() | _KEYS,
    new=_KEYS,
    extra=st.tuples(st.booleans(), st.booleans()),
    floats=st.tuples(st.booleans(), st.booleans()),
    streamed=st.booleans(),
)
def test_streamed_merge_equals_the_in_memory_one(
    tmp_path_factory: pytest.TempPathFactory,
    old: list[int] | None,
    new: list[int],
    extra: tuple[bool, bool],
    floats: tuple[bool, bool],
    streamed: bool,
) -> None:
    """The batch as a frame (http, sql) or as the file a reader streamed it to (files)."""
    scratch = tmp_path_factory.mktemp("merge")
    previous = _table(old, extra=extra[0], floats=floats[0]) if old is not None else None
    batch = _table(new, extra=extra[1], floats=floats[1])
    expected, added = in_memory_merge(previous, batch)
    given_batch: pl.DataFrame | TableFile = batch
    if streamed:
        given_batch = write_frames(
            batch.iter_slices(3), scratch / "batch.parquet", batch.schema, hashed=False
        )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(merge, "_SLICE", 4)
        patch.setattr(merge, "_IDS_PER_PASS", 7)
        table, got_added, items = merge_table(
            previous.lazy() if previous is not None else None, given_batch, scratch, "t"
        )
    assert got_added == added
    if previous is not None and not added:
        assert table is None and items == previous.height
        return
    assert table is not None
    got = pl.read_parquet(table.path)
    assert_frame_equal(got, expected)
    assert items == expected.height
    assert hash_table(got) == hash_table(expected)
    written = {"t.ids.parquet"} | ({"batch.parquet"} if streamed else set())
    if table.path.name == "batch.parquet":  # every row new, nothing before: the batch as it is
        assert streamed and (previous is None or not previous.height) and added == batch.height
        assert table.known_id is None  # hashed when stored
    else:
        assert table.known_id == hash_table(expected)  # hashed as it was written
        written.add("t.parquet")
    assert {p.name for p in scratch.iterdir()} == written  # and no temp file left


def test_an_id_that_is_not_loopline_s_is_a_clear_error(tmp_path: Path) -> None:
    batch = pl.DataFrame({"n": [1], ITEM_ID: ["not-hex"]})
    with pytest.raises(Integrity, match="32 hex digits"):
        merge_table(None, batch, tmp_path, "t")
