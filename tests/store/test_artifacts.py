"""Step values to stored artifacts and back: tables, blob sets and JSON round-trip exactly."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
import polars as pl
import pyarrow as pa
import pytest

from loopline.cli.commands import exit_code
from loopline.core.errors import InvalidInput
from loopline.core.hashing import hash_bytes, hash_table
from loopline.store.artifacts import BlobSet, load_value, save_value
from loopline.store.blobs import LocalBlobStore, open_blob_store


@pytest.fixture(params=["local", "memory"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LocalBlobStore]:
    if request.param == "local":
        yield open_blob_store(str(tmp_path / "blobs"))
        return
    name = f"ll-art-{uuid.uuid4().hex[:12]}"
    yield open_blob_store(f"memory://{name}")
    fs = fsspec.filesystem("memory")
    if fs.exists(f"/{name}"):
        fs.rm(f"/{name}", recursive=True)


def typed_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "i64": [1, None, -(2**62)],
            "i8": pl.Series([1, -2, None], dtype=pl.Int8),
            "u32": pl.Series([0, None, 2**32 - 1], dtype=pl.UInt32),
            "f64": [0.1, None, float("inf")],
            "f32": pl.Series([1.5, -0.0, None], dtype=pl.Float32),
            "s": ["plain", None, "ünïcödé ✓"],
            "empty": ["", "", None],
            "b": [True, False, None],
            "d": [dt.date(2024, 2, 29), None, dt.date(1900, 1, 1)],
            "ts": [dt.datetime(2024, 1, 1, 8, 30, 15, 123456), None, dt.datetime(1970, 1, 1)],
            "tz": pl.Series(
                [dt.datetime(2024, 6, 1, 12), None, dt.datetime(2000, 1, 1)], dtype=pl.Datetime("us", "UTC")
            ),
            "dur": [dt.timedelta(hours=1), None, dt.timedelta(0)],
            "cat": pl.Series(["a", None, "b"], dtype=pl.Categorical),
            "lst": [[1, 2, 3], None, []],
            "strct": [{"x": 1, "y": "a"}, None, {"x": None, "y": "c"}],
            "bin": [b"\x00\x01", None, b""],
        }
    )


def test_polars_frame_round_trips_with_all_dtypes(blobs: LocalBlobStore):
    frame = typed_frame()
    art = save_value(blobs, frame, output="table")
    assert art.kind == "table"
    assert art.id == hash_table(frame)
    assert art.rows == 3
    assert art.schema == {name: str(dtype) for name, dtype in frame.schema.items()}
    assert art.size > 0 and blobs.verify(art.blob)
    back = load_value(blobs, art)
    assert isinstance(back, pl.DataFrame)
    assert back.schema == frame.schema
    assert back.equals(frame)
    assert hash_table(back) == art.id


def test_saving_is_deterministic_and_idempotent(blobs: LocalBlobStore):
    frame = typed_frame()
    first = save_value(blobs, frame, output="t")
    again = save_value(blobs, frame.clone(), output="t")
    assert first == again
    assert sorted(blobs.digests()) == [first.blob]


def test_empty_frame_keeps_its_schema(blobs: LocalBlobStore):
    frame = pl.DataFrame(schema={"a": pl.Int64, "b": pl.String, "c": pl.Date})
    art = save_value(blobs, frame, output="empty")
    assert art.rows == 0
    back = load_value(blobs, art)
    assert back.schema == frame.schema and back.height == 0


def test_pyarrow_table_is_stored_as_a_table(blobs: LocalBlobStore):
    table = pa.table(
        {
            "n": pa.array([1, 2, None], pa.int64()),
            "s": pa.array(["a", None, "c"], pa.string()),
            "d": pa.array([dt.date(2020, 1, 1), None, dt.date(2021, 1, 1)], pa.date32()),
        }
    )
    art = save_value(blobs, table, output="arrow")
    assert art.kind == "table" and art.rows == 3
    assert art.id == hash_table(table) == hash_table(pl.from_arrow(table))
    back = load_value(blobs, art)
    assert isinstance(back, pl.DataFrame)
    assert back.to_dict(as_series=False) == table.to_pydict()


def test_a_pyarrow_table_and_the_same_polars_frame_are_one_artifact(blobs: LocalBlobStore):
    frame = pl.DataFrame({"a": [1, None], "s": ["x", "y"]})
    assert save_value(blobs, frame.to_arrow(), output="o").id == save_value(blobs, frame, output="o").id


def test_lazy_frame_is_collected(blobs: LocalBlobStore):
    lazy = pl.LazyFrame({"a": [3, 1, 2]}).sort("a")
    art = save_value(blobs, lazy, output="lazy")
    assert load_value(blobs, art)["a"].to_list() == [1, 2, 3]


def test_blobset_from_bytes_round_trips(blobs: LocalBlobStore):
    files = {
        "images/cat.png": b"\x89PNG fake",
        "texts/a.txt": "hello ✓".encode(),
        "empty.bin": b"",
        "texts/dup.txt": "hello ✓".encode(),  # same bytes as a.txt: one blob, two entries
    }
    blobset = BlobSet.from_bytes(files)
    assert len(blobset) == 4
    assert [e.path for e in blobset] == sorted(files)
    art = save_value(blobs, blobset, output="files")
    assert art.kind == "blobs"
    assert art.id == blobset.id
    assert art.rows == 4
    assert art.size == sum(len(b) for b in files.values())
    for data in files.values():
        assert blobs.exists(hash_bytes(data))

    back = load_value(blobs, art)
    assert isinstance(back, BlobSet)
    assert back.id == blobset.id
    assert {e.path: back.read(e.path) for e in back} == files
    media = {e.path: e.media_type for e in back}
    assert media["images/cat.png"] == "image/png" and media["texts/a.txt"] == "text/plain"
    manifest = back.manifest()
    assert manifest.columns == ["path", "size", "blob", "media_type"]
    assert manifest["path"].to_list() == sorted(files)
    with pytest.raises(InvalidInput, match="no file"):
        back.read("absent.txt")


def test_blobset_id_depends_on_paths_and_bytes():
    a = BlobSet.from_bytes({"x.txt": b"1", "y.txt": b"2"})
    assert a.id == BlobSet.from_bytes({"y.txt": b"2", "x.txt": b"1"}).id
    assert a.id != BlobSet.from_bytes({"x.txt": b"1", "z.txt": b"2"}).id
    assert a.id != BlobSet.from_bytes({"x.txt": b"1", "y.txt": b"3"}).id


def test_blobset_whose_bytes_are_gone_is_refused(blobs: LocalBlobStore):
    from loopline.store.artifacts import BlobEntry

    orphan = BlobSet([BlobEntry("a.txt", 3, hash_bytes(b"abc"))])
    with pytest.raises(InvalidInput, match="no stored bytes"):
        save_value(blobs, orphan, output="files")


@pytest.mark.parametrize(
    "value",
    [
        {"accuracy": 0.93, "labels": ["a", "b"], "nested": {"n": 1, "none": None, "ok": True}},
        {},
        [1, 2.5, "three", None, False],
        "just text",
        42,
        None,
    ],
)
def test_json_values_round_trip(blobs: LocalBlobStore, value):
    art = save_value(blobs, value, output="report")
    assert art.kind == "json"
    assert load_value(blobs, art) == value


def test_json_id_ignores_key_order(blobs: LocalBlobStore):
    a = save_value(blobs, {"a": 1, "b": [1, 2]}, output="r")
    b = save_value(blobs, {"b": [1, 2], "a": 1}, output="r")
    assert a.id == b.id and a.blob == b.blob
    assert save_value(blobs, {"a": 2, "b": [1, 2]}, output="r").id != a.id


def test_non_json_content_inside_a_dict_is_refused(blobs: LocalBlobStore):
    with pytest.raises(InvalidInput, match="'report' is not JSON-serialisable"):
        save_value(blobs, {"when": dt.date(2024, 1, 1)}, output="report")
    assert list(blobs.digests()) == []


@pytest.mark.parametrize("value", [object(), {1, 2}, b"raw bytes", pl.Series("a", [1])])
def test_unsupported_return_type_gives_invalid_input_with_a_hint(blobs: LocalBlobStore, value):
    with pytest.raises(InvalidInput) as info:
        save_value(blobs, value, output="model")
    assert "'model'" in info.value.message
    assert type(value).__name__ in info.value.message
    assert info.value.hint and "DataFrame" in info.value.hint and "BlobSet" in info.value.hint
    assert exit_code(info.value) == 2
    assert list(blobs.digests()) == []
