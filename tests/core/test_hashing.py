"""A table's id is the hash of its logical content: names, types and values in row order.

It must not depend on the file format (Parquet compression, which library read the file) nor on
the bytes Arrow leaves undefined (values under null slots, spare bits of a validity bitmap,
slicing offsets, chunking).
"""

from __future__ import annotations

import datetime as dt
import io
import tempfile
from decimal import Decimal

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loopline.core import hashing
from loopline.core.hashing import (
    TableHasher,
    canonical_json,
    fingerprint,
    hash_bytes,
    hash_file,
    hash_json,
    hash_manifest,
    hash_parquet,
    hash_table,
    item_ids,
)


def sample_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "i": [1, None, 3, -4],
            "f": [0.5, float("nan"), None, -1e300],
            "s": ["a", None, "ünïcode", ""],
            "b": [True, None, False, True],
            "d": [dt.date(2020, 1, 1), None, dt.date(1969, 12, 31), dt.date(2038, 1, 19)],
            "t": [dt.datetime(2024, 5, 1, 12, 30), None, dt.datetime(1999, 1, 1), dt.datetime(2000, 2, 29)],
            "l": [[1, 2], None, [], [None, 5]],
            "st": [{"x": 1, "y": "p"}, None, {"x": None, "y": None}, {"x": 4, "y": "q"}],
            "c": pl.Series(["u", "v", None, "u"], dtype=pl.Categorical),
        }
    )


def parquet_bytes(frame: pl.DataFrame, compression: str = "zstd") -> bytes:
    buf = io.BytesIO()
    frame.write_parquet(buf, compression=compression)
    return buf.getvalue()


# -- bytes, files, JSON ---------------------------------------------------------------------------
def test_hash_bytes_is_blake3_hex_and_file_hash_agrees(tmp_path):
    import blake3

    data = b"loopline" * 1000
    assert hash_bytes(data) == blake3.blake3(data).hexdigest()
    assert len(hash_bytes(b"")) == 64
    small = tmp_path / "small.bin"
    small.write_bytes(data)
    assert hash_file(small) == hash_bytes(data)


def test_large_file_hashed_in_chunks_equals_bytes_hash(tmp_path):
    data = bytes(range(256)) * (9 * 1024 * 1024 // 256 + 7)  # above 4 MiB: two 8 MiB chunks and a bit
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    assert hash_file(path) == hash_bytes(data)


def test_canonical_json_sorts_keys_and_drops_whitespace():
    assert canonical_json({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'
    assert hash_json({"b": 1, "a": 2}) == hash_json({"a": 2, "b": 1})
    assert hash_json({"a": 1}) != hash_json({"a": 1.5})


def test_fingerprint_changes_with_every_part():
    base = {"code": "c1", "params": {"n": 1}, "inputs": {"x": "i1"}, "env": "e1"}
    assert fingerprint(base) == fingerprint(dict(reversed(base.items())))
    for key, other in [("code", "c2"), ("params", {"n": 2}), ("inputs", {"x": "i2"}), ("env", "e2")]:
        assert fingerprint({**base, key: other}) != fingerprint(base)


# -- table ids: format independence ---------------------------------------------------------------
@pytest.mark.parametrize("compression", ["zstd", "snappy", "gzip", "uncompressed", "lz4"])
def test_parquet_compression_does_not_change_the_id(compression):
    frame = sample_frame()
    data = parquet_bytes(frame, compression)
    assert pl.read_parquet(io.BytesIO(data)).equals(frame)
    assert hash_table(pl.read_parquet(io.BytesIO(data))) == hash_table(frame)


def test_compressions_give_different_files_but_one_id():
    frame = sample_frame()
    files = {c: parquet_bytes(frame, c) for c in ("zstd", "snappy", "gzip", "uncompressed")}
    assert len({hash_bytes(b) for b in files.values()}) == 4
    ids = {hash_table(pl.read_parquet(io.BytesIO(b))) for b in files.values()}
    assert ids == {hash_table(frame)}


def test_pyarrow_and_polars_reads_of_one_file_give_one_id(tmp_path):
    frame = sample_frame()
    path = tmp_path / "t.parquet"
    frame.write_parquet(path)
    by_polars = pl.read_parquet(path)
    by_pyarrow = pq.read_table(path)
    assert isinstance(by_pyarrow, pa.Table)
    assert hash_table(by_pyarrow) == hash_table(by_polars) == hash_table(frame)


def test_a_file_written_by_pyarrow_hashes_like_the_frame():
    table = pa.table(
        {
            "i": pa.array([1, None, 3], pa.int64()),
            "s": pa.array(["x", None, "zz"], pa.string()),
            "d": pa.array([None, dt.date(2020, 1, 1), None], pa.date32()),
        }
    )
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="gzip")
    read_back = pq.read_table(io.BytesIO(buf.getvalue()))
    assert hash_table(read_back) == hash_table(table) == hash_table(pl.from_arrow(table))


def test_polars_frame_and_its_arrow_export_have_one_id():
    frame = sample_frame()
    assert hash_table(frame.to_arrow()) == hash_table(frame)
    assert hash_table(frame.to_arrow(compat_level=pl.CompatLevel.newest())) == hash_table(frame)


# -- table ids: bytes Arrow leaves undefined ------------------------------------------------------
def test_value_under_a_null_slot_does_not_change_the_id():
    literal = pl.DataFrame({"a": [1, None, 3], "s": ["x", None, "z"]})
    computed = pl.DataFrame({"a": [1, 2, 3], "s": ["x", "y", "z"]}).with_columns(
        pl.when(pl.col("a") != 2).then(pl.col(c)).otherwise(None).alias(c) for c in ("a", "s")
    )
    assert computed.equals(literal)
    assert hash_table(computed) == hash_table(literal)


def test_garbage_bytes_under_nulls_and_in_spare_bitmap_bits_are_ignored():
    clean = pa.array([1, None, 3], pa.int64())
    garbage_values = pa.array([1, 99, 3], pa.int64()).buffers()[1]
    garbage_bitmap = pa.py_buffer(bytes([0b1111_1101]))  # bits past the length are set
    dirty = pa.Array.from_buffers(pa.int64(), 3, [garbage_bitmap, garbage_values])
    assert dirty.to_pylist() == clean.to_pylist()
    assert hash_table(pa.table({"a": dirty})) == hash_table(pa.table({"a": clean}))


def test_an_all_valid_bitmap_hashes_like_no_bitmap():
    values = pa.array([1, 2, 3], pa.int64()).buffers()[1]
    with_bitmap = pa.Array.from_buffers(pa.int64(), 3, [pa.py_buffer(bytes([0b111])), values])
    assert hash_table(pa.table({"a": with_bitmap})) == hash_table(pa.table({"a": [1, 2, 3]}))


def test_slices_and_chunks_hash_like_a_fresh_table():
    fresh = pa.table({"a": [3, 4, 5, 6], "s": ["3", "4", None, "6"]})
    big = pa.table({"a": list(range(10)), "s": [None if i == 5 else str(i) for i in range(10)]})
    assert hash_table(big.slice(3, 4)) == hash_table(fresh)
    assert hash_table(pl.from_arrow(big).slice(3, 4)) == hash_table(fresh)
    chunked = pa.concat_tables([fresh.slice(0, 1), fresh.slice(1, 2), fresh.slice(3)])
    assert chunked.column("a").num_chunks == 3
    assert hash_table(chunked) == hash_table(fresh)


def test_schema_metadata_does_not_change_the_id():
    table = pa.table({"a": [1, 2]})
    tagged = table.replace_schema_metadata({"pandas": "{}", "who": "me"})
    assert hash_table(tagged) == hash_table(table)


# -- table ids: different content, different id ---------------------------------------------------
def test_different_values_names_types_or_order_give_different_ids():
    base = pl.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    variants = {
        "value": pl.DataFrame({"a": [1, 2, 4], "b": ["x", "y", "z"]}),
        "null": pl.DataFrame({"a": [1, None, 3], "b": ["x", "y", "z"]}),
        "name": pl.DataFrame({"A": [1, 2, 3], "b": ["x", "y", "z"]}),
        "type": pl.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}, schema_overrides={"a": pl.Int32}),
        "float": pl.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "z"]}),
        "column order": pl.DataFrame({"b": ["x", "y", "z"], "a": [1, 2, 3]}),
        "row order": pl.DataFrame({"a": [3, 2, 1], "b": ["z", "y", "x"]}),
        "fewer rows": pl.DataFrame({"a": [1, 2], "b": ["x", "y"]}),
        "string boundaries": pl.DataFrame({"a": [1, 2, 3], "b": ["xy", "", "z"]}),
        "empty string vs null": pl.DataFrame({"a": [1, 2, 3], "b": ["x", "y", None]}),
    }
    ids = {name: hash_table(frame) for name, frame in variants.items()}
    assert hash_table(base) not in ids.values()
    assert len(set(ids.values())) == len(ids)


def test_nested_values_are_part_of_the_id():
    a = pl.DataFrame({"l": [[1, 2], [3]]})
    b = pl.DataFrame({"l": [[1], [2, 3]]})
    c = pl.DataFrame({"l": [[1, 2], [None]]})
    s1 = pl.DataFrame({"s": [{"x": 1, "y": 2}]})
    s2 = pl.DataFrame({"s": [{"x": 2, "y": 1}]})
    assert len({hash_table(f) for f in (a, b, c)}) == 3
    assert hash_table(s1) != hash_table(s2)


def test_empty_tables_differ_by_schema():
    assert hash_table(pl.DataFrame({"a": []}, schema={"a": pl.Int64})) != hash_table(
        pl.DataFrame({"a": []}, schema={"a": pl.String})
    )
    assert hash_table(pl.DataFrame({"a": []}, schema={"a": pl.Int64})) != hash_table(pl.DataFrame({"a": [1]}))


def test_decimal_and_duration_columns_hash_and_round_trip():
    frame = pl.DataFrame(
        {
            "dec": pl.Series([Decimal("1.25"), None, Decimal("-3.50")], dtype=pl.Decimal(10, 2)),
            "dur": [dt.timedelta(seconds=5), None, dt.timedelta(days=1)],
            "tm": [dt.time(1, 2, 3), dt.time(23, 59), None],
        }
    )
    back = pl.read_parquet(io.BytesIO(parquet_bytes(frame, "snappy")))
    assert hash_table(back) == hash_table(frame)
    changed = frame.with_columns(
        pl.Series("dec", [Decimal("1.26"), None, Decimal("-3.50")]).cast(frame["dec"].dtype)
    )
    assert hash_table(changed) != hash_table(frame)


# -- blob sets and items ------------------------------------------------------------------------
def test_hash_manifest_is_order_independent_and_content_sensitive():
    entries = [("a.txt", 3, "1" * 64), ("b/c.png", 10, "2" * 64), ("d", 0, "3" * 64)]
    assert hash_manifest(entries) == hash_manifest(reversed(entries))
    assert hash_manifest(iter(entries)) == hash_manifest(sorted(entries, key=lambda e: e[2], reverse=True))
    assert hash_manifest(entries[:2]) != hash_manifest(entries)
    renamed = [("A.txt", 3, "1" * 64), *entries[1:]]
    resized = [("a.txt", 4, "1" * 64), *entries[1:]]
    rehashed = [("a.txt", 3, "4" * 64), *entries[1:]]
    assert len({hash_manifest(e) for e in (entries, renamed, resized, rehashed)}) == 4
    assert hash_manifest([]) == hash_manifest(())


def test_item_ids_are_stable_and_content_based():
    frame = pl.DataFrame({"k": [1, 2, 3], "v": ["a", "b", "c"]})
    ids = item_ids(frame)
    assert ids.name == "item_id" and ids.dtype == pl.String and ids.len() == 3
    assert all(len(i) == 32 for i in ids)
    assert ids.n_unique() == 3
    # stable: same rows give the same ids whatever the row order and across calls
    shuffled = item_ids(frame.reverse())
    assert shuffled.reverse().to_list() == ids.to_list() == item_ids(frame.clone()).to_list()
    # a changed value changes that row's id only
    changed = item_ids(
        frame.with_columns(pl.when(pl.col("k") == 2).then(pl.lit("B")).otherwise("v").alias("v"))
    )
    assert [a == b for a, b in zip(changed, ids, strict=True)] == [True, False, True]


def test_item_ids_with_a_key_ignore_other_columns():
    a = pl.DataFrame({"k": [1, 2], "v": ["a", "b"]})
    b = pl.DataFrame({"k": [1, 2], "v": ["x", "y"]})
    assert item_ids(a, key=["k"]).to_list() == item_ids(b, key=["k"]).to_list()
    assert item_ids(a).to_list() != item_ids(b).to_list()
    assert item_ids(a, key=["k"]).to_list() != item_ids(a).to_list()
    dup = pl.DataFrame({"k": [7, 7], "v": ["p", "q"]})
    ids = item_ids(dup, key=["k"])
    assert ids[0] == ids[1]
    assert item_ids(dup).n_unique() == 2


def test_item_ids_survive_a_parquet_round_trip():
    frame = sample_frame().drop("c")
    back = pl.read_parquet(io.BytesIO(parquet_bytes(frame, "gzip")))
    assert item_ids(back).to_list() == item_ids(frame).to_list()


# -- property: write + read Parquet keeps the id --------------------------------------------------
_DTYPES = {
    "int": (pl.Int64, st.integers(-(2**63), 2**63 - 1)),
    "int8": (pl.Int8, st.integers(-128, 127)),
    "uint32": (pl.UInt32, st.integers(0, 2**32 - 1)),
    "float": (pl.Float64, st.floats(allow_nan=True, allow_infinity=True)),
    "float32": (pl.Float32, st.floats(width=32)),
    "str": (pl.String, st.text(max_size=12)),
    "bool": (pl.Boolean, st.booleans()),
    "date": (pl.Date, st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31))),
    "datetime": (pl.Datetime("us"), st.datetimes(dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31))),
    "binary": (pl.Binary, st.binary(max_size=10)),
    "list": (pl.List(pl.Int32), st.lists(st.none() | st.integers(-(2**31), 2**31 - 1), max_size=4)),
}


@st.composite
def frames(draw: st.DrawFn) -> pl.DataFrame:
    kinds = draw(st.lists(st.sampled_from(sorted(_DTYPES)), min_size=1, max_size=5))
    rows = draw(st.integers(0, 40))
    data = {}
    for i, kind in enumerate(kinds):
        dtype, values = _DTYPES[kind]
        column = draw(st.lists(st.none() | values, min_size=rows, max_size=rows))
        data[f"c{i}_{kind}"] = pl.Series(column, dtype=dtype)
    return pl.DataFrame(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=frames(), compression=st.sampled_from(["zstd", "snappy", "gzip", "uncompressed"]))
def test_property_parquet_round_trip_keeps_the_id(frame: pl.DataFrame, compression: str):
    data = parquet_bytes(frame, compression)
    by_polars = pl.read_parquet(io.BytesIO(data))
    by_pyarrow = pq.read_table(io.BytesIO(data))
    expected = hash_table(frame)
    assert hash_table(by_polars) == expected
    assert hash_table(by_pyarrow) == expected


def test_the_id_of_a_known_table_never_changes():
    # Ids are stored: a change of how they are computed must not change them (this one was taken
    # from the column-at-a-time implementation before hashing went slice by slice).
    assert hash_table(sample_frame()) == "cc6e6b4fcdba68166c97e158e0537c9b2ee0fd5877a00299c78a1960613849b9"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=frames(), slice_rows=st.integers(1, 9))
def test_property_slice_by_slice_and_from_a_parquet_file_give_the_frames_id(
    frame: pl.DataFrame, slice_rows: int
):
    """Columns are hashed a slice at a time (a Parquet file a batch at a time, several passes):
    wherever the slices fall, the id is the one of the whole frame."""
    expected = hash_table(frame)
    saved = hashing._HASH_SLICE, hashing._PARQUET_BATCH
    hashing._HASH_SLICE = hashing._PARQUET_BATCH = slice_rows
    try:
        assert hash_table(frame) == expected
        assert hash_table(pl.concat([frame.head(2), frame.tail(-2)], rechunk=False)) == expected
        with tempfile.TemporaryDirectory() as folder:
            path = f"{folder}/t.parquet"
            frame.write_parquet(path, row_group_size=max(1, slice_rows + 1))
            assert hash_parquet(path) == expected
            pq.write_table(frame.to_arrow(), path, write_statistics=False)  # null counts by a pass
            assert hash_parquet(path) == expected
            if TableHasher.supports(frame.to_arrow().schema):  # spooled a partition at a time
                hasher = TableHasher(folder)
                for start in range(0, max(frame.height, 1), slice_rows + 2):
                    hasher.update(frame.slice(start, slice_rows + 2))
                assert hasher.hexdigest() == expected
    finally:
        hashing._HASH_SLICE, hashing._PARQUET_BATCH = saved


def test_hash_parquet_gives_the_id_of_what_polars_reads(tmp_path):
    """Types another writer stored and pyarrow reads otherwise than Polars (time32, unsigned,
    32-bit strings, timestamps in ms) hash as the frame `pl.read_parquet` gives."""
    path = tmp_path / "t.parquet"
    table = pa.table(
        {
            "t": pa.array([dt.time(1, 2, 3), None, dt.time(23, 59)], pa.time32("ms")),
            "u": pa.array([1, 2**31, None], pa.uint32()),
            "s": pa.array(["a", None, "ccc"], pa.string()),
            "ts": pa.array([dt.datetime(2020, 1, 1), None, dt.datetime(1999, 1, 1)], pa.timestamp("ms")),
        }
    )
    pq.write_table(table, path)
    assert hash_parquet(path) == hash_table(pl.read_parquet(path))


def test_hash_parquet_of_nested_and_categorical_columns(tmp_path):
    path = tmp_path / "t.parquet"
    sample_frame().write_parquet(path)
    assert hash_parquet(path) == hash_table(sample_frame())


@settings(max_examples=60, deadline=None)
@given(frame=frames(), data=st.data())
def test_property_a_changed_cell_changes_the_id(frame: pl.DataFrame, data: st.DataObject):
    if frame.height == 0:
        return
    name = data.draw(st.sampled_from(frame.columns))
    row = data.draw(st.integers(0, frame.height - 1))
    column = frame[name].to_list()
    kind = name.split("_", 1)[1]
    new = data.draw(st.none() | _DTYPES[kind][1])
    column[row] = new
    changed = frame.with_columns(pl.Series(name, column, dtype=frame[name].dtype))
    before, after = frame[name].to_list()[row], changed[name].to_list()[row]
    if before == after or (before != before and after != after):  # same value, or NaN for NaN
        return
    assert hash_table(changed) != hash_table(frame)
