"""`add_path` of a folder, on every metadata engine: the blobs written by the one-pass copy check
out byte-equal, fsck finds nothing wrong, the stat cache learns every digest, and files the
stat cache already vouched for are stored too."""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Iterator
from pathlib import Path

import blake3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loopline.core.errors import Integrity
from loopline.datasets.snapshot import _media_type, add_path
from loopline.store import blob_writes as blobs_module
from loopline.store.artifacts import load_manifest
from loopline.store.blobs import LocalBlobStore
from loopline.store.filescan import hash_files, scan_files
from loopline.store.fsck import fsck
from loopline.store.metadata import MetadataStore
from loopline.store.statcache import StatCache

CHUNK = 64 * 1024


@pytest.fixture
def meta(store_url: str) -> Iterator[MetadataStore]:
    opened = MetadataStore(store_url)
    yield opened
    opened.close()


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[StatCache]:
    opened = StatCache(tmp_path / "statcache.db")
    yield opened
    opened.close()


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Small files, duplicates, an empty file and files streamed in several chunks."""
    monkeypatch.setattr(blobs_module, "_WHOLE", 16 * 1024)
    monkeypatch.setattr(blobs_module, "_CHUNK", CHUNK)
    root = tmp_path / "data"
    for i in range(60):
        path = root / f"small/{i // 20}/item-{i:03d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"item {i % 45}\n".encode() * (i + 1))  # some contents repeat
    (root / "big").mkdir()
    for i, size in enumerate([3 * CHUNK + 17, 5 * CHUNK, 16 * 1024 + 1]):
        (root / "big" / f"big-{i}.bin").write_bytes(os.urandom(size))
    (root / "empty.txt").write_bytes(b"")
    return root


def _contents(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _check_out(meta: MetadataStore, blobs: LocalBlobStore, name: str, out: Path) -> dict[str, bytes]:
    art = meta.latest_version(name)
    assert art is not None
    for entry in load_manifest(blobs, art):
        blobs.export(entry.blob, out / entry.path)
        assert entry.size == (out / entry.path).stat().st_size
    return _contents(out)


def test_a_first_add_checks_out_byte_equal_and_fsck_is_clean(
    meta: MetadataStore, cache: StatCache, folder: Path, tmp_path: Path
) -> None:
    blobs = LocalBlobStore(str(tmp_path / "blobs"))

    result = add_path(folder, "data", meta, blobs, cache)

    assert result.created and result.files == 64 and result.hashed == 64
    assert _check_out(meta, blobs, "data", tmp_path / "out") == _contents(folder)
    report = fsck(meta, blobs)
    assert report.ok and report.temp_files == [], report.to_json()
    for path in (tmp_path / "blobs").glob("??/*"):
        assert blake3.blake3(path.read_bytes()).hexdigest() == path.name
    # The stat cache learnt every digest from the copying pass: nothing is read again.
    again = add_path(folder, "data", meta, blobs, cache)
    assert (again.created, again.hashed, again.version) == (False, 0, 1)


def test_files_the_stat_cache_vouches_for_are_stored_too(
    meta: MetadataStore, cache: StatCache, folder: Path, tmp_path: Path
) -> None:
    """A folder source may have hashed the files without storing them in this store."""
    hash_files(scan_files(str(folder)), cache, str(folder))  # cache filled, store empty
    (folder / "new.txt").write_bytes(b"one file the cache does not know")
    blobs = LocalBlobStore(str(tmp_path / "blobs"))

    result = add_path(folder, "data", meta, blobs, cache)

    assert result.created and result.hashed == 1
    assert _check_out(meta, blobs, "data", tmp_path / "out") == _contents(folder)
    assert fsck(meta, blobs).ok


def test_a_file_changed_after_the_listing_fails_the_add_and_stores_nothing(
    meta: MetadataStore, cache: StatCache, folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loopline.datasets import snapshot

    def scan_then_change(root: str) -> list[tuple[str, str, tuple[int, int, int]]]:
        found = scan_files(root)
        (folder / "big" / "big-1.bin").write_bytes(os.urandom(5 * CHUNK + 1))
        return found

    monkeypatch.setattr(snapshot, "scan_files", scan_then_change)
    blobs = LocalBlobStore(str(tmp_path / "blobs"))

    with pytest.raises(Integrity, match="changed while it was being stored"):
        add_path(folder, "data", meta, blobs, cache)
    assert meta.latest_version("data") is None
    assert list((tmp_path / "blobs").glob("??/*")) == []
    assert list((tmp_path / "blobs" / "tmp").iterdir()) == []
    # The stat cache learnt nothing from the failed add: the next one reads every file again.
    monkeypatch.undo()
    again = add_path(folder, "data", meta, blobs, cache)
    assert (again.created, again.hashed, again.files) == (True, 64, 64)


_EXTENSIONS = [*mimetypes.types_map, *mimetypes.suffix_map, *mimetypes.encodings_map, ".", ".PNG", ".Gz"]


@settings(max_examples=500, deadline=None)
@given(
    stem=st.text(alphabet="ab.-_/:", max_size=6),
    extensions=st.lists(st.sampled_from(_EXTENSIONS), max_size=3),
)
def test_media_types_are_mimetypes_guesses(stem: str, extensions: list[str]) -> None:
    path = stem + "".join(extensions)
    assert _media_type(path) == mimetypes.guess_type(path)[0]


def test_a_parquet_file_is_stored_as_it_is_under_its_tables_id(
    meta: MetadataStore, cache: StatCache, tmp_path: Path
) -> None:
    """Its own bytes are the table's blob (never loaded whole to rewrite them); the id is the
    frame's, as if added as CSV; a file that is not Parquet is refused and stores nothing."""
    import polars as pl

    from loopline.core.errors import InvalidInput
    from loopline.core.hashing import hash_table

    frame = pl.DataFrame({"id": [1, 2, 3], "name": ["a", None, "c"]})
    path = tmp_path / "t.parquet"
    frame.write_parquet(path, compression="snappy")
    blobs = LocalBlobStore(str(tmp_path / "blobs"))

    result = add_path(path, "t", meta, blobs, cache)

    art = result.artifact
    assert art.id == hash_table(frame) and art.rows == 3 and art.schema == {"id": "Int64", "name": "String"}
    assert art.blob == blake3.blake3(path.read_bytes()).hexdigest()
    assert fsck(meta, blobs).ok
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(InvalidInput, match=r"cannot read bad\.parquet as parquet"):
        add_path(bad, "bad", meta, blobs, cache)
    assert meta.latest_version("bad") is None
    assert sorted(p.name for p in (tmp_path / "blobs").glob("??/*")) == [art.blob]


@pytest.mark.parametrize(
    ("suffix", "text", "read"),
    [
        (".csv", "id,name,score\n1,ann,0.5\n2,,1.5\n3,cy,\n", "read_csv"),
        (".jsonl", '{"id": 1, "name": "ann"}\n{"id": 2, "name": null, "tags": ["x"]}\n', "read_ndjson"),
    ],
)
def test_a_text_table_is_streamed_to_the_id_of_its_eager_read(
    meta: MetadataStore, cache: StatCache, tmp_path: Path, suffix: str, text: str, read: str
) -> None:
    """CSV and JSON Lines are converted to Parquet by a streaming sink, never loaded whole: the id
    is the one an eager read of the file gives; the file's own bytes are kept for checkout;
    a file that does not parse is refused and stores nothing."""
    import polars as pl

    from loopline.core.errors import InvalidInput
    from loopline.core.hashing import hash_table

    path = tmp_path / f"t{suffix}"
    path.write_text(text)
    blobs = LocalBlobStore(str(tmp_path / "blobs"))

    art = add_path(path, "t", meta, blobs, cache).artifact

    frame = getattr(pl, read)(path)
    assert art.id == hash_table(frame) and art.rows == frame.height
    assert blobs.get_bytes(blake3.blake3(path.read_bytes()).hexdigest()) == path.read_bytes()
    assert fsck(meta, blobs).ok
    bad = tmp_path / f"bad{suffix}"
    bad.write_text('id,name\n1,"open\n' if suffix == ".csv" else '{"id": 1\n')
    stored = sorted(p.name for p in (tmp_path / "blobs").glob("??/*"))
    with pytest.raises(InvalidInput, match=rf"cannot read bad\{suffix} as"):
        add_path(bad, "bad", meta, blobs, cache)
    assert meta.latest_version("bad") is None
    assert sorted(p.name for p in (tmp_path / "blobs").glob("??/*")) == stored


def test_a_header_holding_nul_is_refused_not_a_panic(
    meta: MetadataStore, cache: StatCache, tmp_path: Path
) -> None:
    """Arrow cannot name a column with NUL: polars panicked (a BaseException, past every
    handler) when hashing such a table; the add refuses it as bad input instead."""
    from loopline.core.errors import InvalidInput

    path = tmp_path / "binary.csv"
    path.write_bytes(b"\xff\xfe\x00a\n1\n")
    with pytest.raises(InvalidInput, match="holds a NUL character"):
        add_path(path, "binary", meta, blobs=LocalBlobStore(str(tmp_path / "blobs")), cache=cache)
    assert meta.latest_version("binary") is None


def test_what_a_first_add_preloads_exists() -> None:
    """preload swallows an import error (the caller's own import reports it), so a module renamed
    without updating ADD_PRELOAD would leave a first add slower and nothing failing but this."""
    import importlib

    from loopline.project._data import ADD_PRELOAD

    for module in ADD_PRELOAD:
        importlib.import_module(module)
