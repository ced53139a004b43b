"""The blob store's integrity promises: a blob is stored only under the hash of the bytes it holds,
a blob changed on disk is refused on every read path, and writing the right bytes again repairs it."""

from __future__ import annotations

import os
from pathlib import Path

import blake3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loopline.core.errors import Integrity, NotFound
from loopline.store.blobs import LocalBlobStore


def _files(root: Path) -> list[Path]:
    """Every stored blob file (the temp folder aside)."""
    return [p for p in root.glob("??/*") if p.is_file()]


def _temps(root: Path) -> list[Path]:
    return list((root / "tmp").iterdir())


def _assert_every_blob_hashes_to_its_name(root: Path) -> None:
    for path in _files(root):
        assert blake3.blake3(path.read_bytes()).hexdigest() == path.name


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.chmod(0o644)
    path.write_bytes(bytes(data))


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(str(tmp_path / "blobs"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=5000))
def test_a_blob_read_back_equals_what_was_put(store: LocalBlobStore, data: bytes) -> None:
    digest = store.put_bytes(data)
    assert digest == blake3.blake3(data).hexdigest()
    assert store.get_bytes(digest) == data
    assert store.verify(digest)
    assert Path(store.checked_path(digest)).read_bytes() == data
    assert digest in set(store.digests())


@pytest.mark.parametrize("damage", ["flip", "truncate", "extend"])
def test_a_changed_blob_is_refused_on_every_read(store: LocalBlobStore, tmp_path: Path, damage: str) -> None:
    data = os.urandom(100_000)
    digest = store.put_bytes(data)
    path = Path(store.local_path(digest) or "")
    if damage == "flip":
        _flip(path)
    elif damage == "truncate":
        path.write_bytes(data[:-1])
    else:
        path.write_bytes(data + b"\0")

    assert not store.verify(digest)
    with pytest.raises(Integrity, match="does not match its hash"):
        store.get_bytes(digest)
    with pytest.raises(Integrity, match="does not match its hash"):
        store.checked_path(digest)
    target = tmp_path / "out" / "data.bin"
    with pytest.raises(Integrity):
        store.export(digest, target)
    assert not target.exists()
    assert list(target.parent.iterdir()) == [], "export left a partial file behind"


def test_a_missing_blob_is_not_found(store: LocalBlobStore) -> None:
    digest = store.put_bytes(b"here today")
    os.unlink(store.local_path(digest) or "")
    assert not store.exists(digest) and not store.verify(digest)
    with pytest.raises(NotFound):
        store.get_bytes(digest)
    with pytest.raises(NotFound):
        store.checked_path(digest)


def test_a_file_changed_after_it_was_hashed_is_not_stored_under_the_old_hash(
    store: LocalBlobStore, tmp_path: Path
) -> None:
    """A caller hashes a file (or trusts a stat cache), the file changes, then it is stored: the
    store must refuse, never keep the new bytes under the old name."""
    source = tmp_path / "data.csv"
    source.write_bytes(b"a,b\n1,2\n" * 1000)
    stale = blake3.blake3(source.read_bytes()).hexdigest()
    source.write_bytes(b"a,b\n9,9\n" * 1000)  # same size, other bytes

    with pytest.raises(Integrity, match="changed"):
        store.put_file(source, stale)
    assert not store.exists(stale)
    assert _temps(Path(store.url)) == []
    _assert_every_blob_hashes_to_its_name(Path(store.url))


def test_a_batch_with_a_file_changed_after_hashing_stores_no_wrong_blob(
    store: LocalBlobStore, tmp_path: Path
) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    items = []
    for k in range(40):  # enough to take the batched path
        path = folder / f"f{k}.txt"
        path.write_text(f"file {k}\n" * 10)
        items.append((str(path), blake3.blake3(path.read_bytes()).hexdigest()))
    changed_path, changed_digest = items[17]
    Path(changed_path).write_text("changed behind the caller's back\n")

    with pytest.raises(Integrity, match="changed"):
        store.put_files(items)
    assert not store.exists(changed_digest)
    assert _temps(Path(store.url)) == []
    _assert_every_blob_hashes_to_its_name(Path(store.url))


@pytest.mark.parametrize("how", ["bytes", "file"])
def test_writing_the_right_bytes_again_repairs_a_changed_blob(
    store: LocalBlobStore, tmp_path: Path, how: str
) -> None:
    data = os.urandom(50_000)
    digest = store.put_bytes(data)
    _flip(Path(store.local_path(digest) or ""))
    assert not store.verify(digest)

    if how == "bytes":
        assert store.put_bytes(data) == digest
    else:
        source = tmp_path / "copy.bin"
        source.write_bytes(data)
        assert store.put_file(source) == digest
    assert store.verify(digest)
    assert store.get_bytes(digest) == data
