"""Contract suite for the content-addressed blob store, run on a local folder and on fsspec's
in-memory filesystem: one Protocol, one suite, every implementation."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import fsspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loopline.core.errors import Integrity, NotFound
from loopline.core.hashing import hash_bytes
from loopline.store.blobs import BlobStore, LocalBlobStore, open_blob_store


class Backend:
    """A blob store plus a way to reach its raw files (to corrupt or delete them)."""

    def __init__(self, kind: str, store: LocalBlobStore, root: str) -> None:
        self.kind = kind
        self.store = store
        self.root = root
        self.fs = fsspec.filesystem("file" if kind == "local" else "memory")

    def raw_path(self, digest: str) -> str:
        return f"{self.root}/{digest[:2]}/{digest}"

    def overwrite(self, digest: str, data: bytes) -> None:
        self.fs.pipe_file(self.raw_path(digest), data)

    def delete(self, digest: str) -> None:
        self.fs.rm_file(self.raw_path(digest))


@pytest.fixture(params=["local", "memory"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "local":
        root = str(tmp_path / "blobs")
        yield Backend("local", open_blob_store(root), root)
        return
    name = f"loopline-test-{uuid.uuid4().hex[:12]}"
    store = open_blob_store(f"memory://{name}")
    yield Backend("memory", store, f"/{name}")
    fs = fsspec.filesystem("memory")
    if fs.exists(f"/{name}"):
        fs.rm(f"/{name}", recursive=True)


@pytest.fixture
def make_store(tmp_path: Path) -> Callable[[str], LocalBlobStore]:
    """Fresh stores inside one hypothesis-driven test (function fixtures are not re-made per example)."""
    made: list[str] = []

    def make(kind: str) -> LocalBlobStore:
        name = uuid.uuid4().hex[:12]
        if kind == "local":
            return open_blob_store(str(tmp_path / name))
        made.append(name)
        return open_blob_store(f"memory://ll-{name}")

    yield make
    fs = fsspec.filesystem("memory")
    for name in made:
        if fs.exists(f"/ll-{name}"):
            fs.rm(f"/ll-{name}", recursive=True)


def test_store_satisfies_the_protocol(backend: Backend):
    store: BlobStore = backend.store  # static check; and at runtime every method is present
    for name in BlobStore.__dict__:
        if not name.startswith("_") and name != "url":
            assert callable(getattr(store, name)), name


@pytest.mark.parametrize("kind", ["local", "memory"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=4096) | st.just(b""))
def test_property_a_blob_read_back_equals_what_was_put(make_store, kind: str, data: bytes):
    store = make_store(kind)
    digest = store.put_bytes(data)
    assert digest == hash_bytes(data)
    assert store.get_bytes(digest) == data
    assert store.exists(digest) and store.verify(digest)


@pytest.mark.parametrize("kind", ["local", "memory"])
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blobs=st.lists(st.binary(max_size=256), max_size=12))
def test_property_many_blobs_all_read_back(make_store, kind: str, blobs: list[bytes]):
    store = make_store(kind)
    keys = [store.put_bytes(b) for b in blobs]
    assert [store.get_bytes(k) for k in keys] == blobs
    assert sorted(store.digests()) == sorted({hash_bytes(b) for b in blobs})


def test_empty_blob(backend: Backend):
    digest = backend.store.put_bytes(b"")
    assert digest == hash_bytes(b"")
    assert backend.store.get_bytes(digest) == b""
    assert backend.store.verify(digest)


def test_put_is_idempotent(backend: Backend):
    store = backend.store
    first = store.put_bytes(b"hello")
    mtime = backend.fs.info(backend.raw_path(first)).get("mtime") if backend.kind == "local" else None
    assert store.put_bytes(b"hello") == first
    assert list(store.digests()) == [first]
    assert store.get_bytes(first) == b"hello"
    if mtime is not None:  # not rewritten
        assert backend.fs.info(backend.raw_path(first))["mtime"] == mtime


def test_sharded_path_layout(backend: Backend):
    digest = backend.store.put_bytes(b"layout")
    assert backend.fs.cat_file(backend.raw_path(digest)) == b"layout"
    files = [p for p in backend.fs.find(backend.root) if "/tmp/" not in p[len(backend.root) :]]
    assert [p[len(backend.root) :] for p in files] == [f"/{digest[:2]}/{digest}"]
    if backend.kind == "local":
        assert backend.store.local_path(digest) == backend.raw_path(digest)
    else:
        assert backend.store.local_path(digest) is None


def test_exists_and_digests(backend: Backend):
    store = backend.store
    absent = hash_bytes(b"never stored")
    assert not store.exists(absent)
    assert list(store.digests()) == []
    keys = {store.put_bytes(f"blob {i}".encode()) for i in range(5)}
    assert all(store.exists(k) for k in keys)
    assert not store.exists(absent)
    assert set(store.digests()) == keys
    assert len(list(store.digests())) == 5


def test_digests_ignore_temp_files_left_by_a_killed_writer(tmp_path: Path):
    # the root sits under /tmp/ (pytest's tmp_path), which must not hide every blob
    store = open_blob_store(str(tmp_path / "blobs"))
    key = store.put_bytes(b"kept")
    (tmp_path / "blobs" / "tmp" / (key[:16] + "abcdef")).write_bytes(b"half written")
    (tmp_path / "blobs" / "tmp" / key).write_bytes(b"a temp file named like a key")
    assert list(store.digests()) == [key]


def test_invalid_key_is_not_found(backend: Backend):
    for bad in ["", "abc", "../" + "a" * 61, "G" * 64, "A" * 64]:
        with pytest.raises(NotFound, match="not a blob key"):
            backend.store.get_bytes(bad)
        with pytest.raises(NotFound):
            backend.store.exists(bad)


def test_missing_blob_is_not_found(backend: Backend, tmp_path: Path):
    digest = hash_bytes(b"missing")
    with pytest.raises(NotFound, match="missing") as info:
        backend.store.get_bytes(digest)
    assert info.value.hint and "fsck" in info.value.hint
    assert backend.store.verify(digest) is False
    with pytest.raises(NotFound):
        backend.store.export(digest, tmp_path / "unused")
    assert not (tmp_path / "unused").exists()


def test_deleted_blob_is_not_found(backend: Backend):
    digest = backend.store.put_bytes(b"to be deleted")
    backend.delete(digest)
    assert not backend.store.exists(digest)
    with pytest.raises(NotFound):
        backend.store.get_bytes(digest)
    assert backend.store.verify(digest) is False


def test_corrupted_bytes_are_detected_on_read_and_by_verify(backend: Backend):
    store = backend.store
    good = store.put_bytes(b"original content")
    other = store.put_bytes(b"untouched")
    backend.overwrite(good, b"original c0ntent")
    assert store.exists(good)
    assert store.verify(good) is False
    assert store.verify(other) is True
    with pytest.raises(Integrity, match="does not match its hash") as info:
        store.get_bytes(good)
    assert info.value.hint and "fsck" in info.value.hint
    assert store.get_bytes(other) == b"untouched"


def test_truncated_blob_is_detected(backend: Backend):
    digest = backend.store.put_bytes(b"x" * 1000)
    backend.overwrite(digest, b"x" * 999)
    with pytest.raises(Integrity):
        backend.store.get_bytes(digest)
    assert not backend.store.verify(digest)


def test_corrupted_blob_is_never_exported(backend: Backend, tmp_path: Path):
    digest = backend.store.put_bytes(b"payload")
    backend.overwrite(digest, b"PAYLOAD")
    target = tmp_path / "out" / "file.bin"
    with pytest.raises(Integrity):
        backend.store.export(digest, target)
    assert not target.exists()
    if backend.kind == "local":
        with pytest.raises(Integrity):
            backend.store.checked_path(digest)


def test_checked_path_is_the_verified_local_file(tmp_path: Path):
    store = open_blob_store(str(tmp_path / "blobs"))
    digest = store.put_bytes(b"on disk")
    assert Path(store.checked_path(digest)).read_bytes() == b"on disk"
    with pytest.raises(NotFound):
        store.checked_path(hash_bytes(b"absent"))


def test_put_file_stores_the_file_bytes(backend: Backend, tmp_path: Path):
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(10_000))
    digest = backend.store.put_file(source)
    assert digest == hash_bytes(source.read_bytes())
    assert backend.store.get_bytes(digest) == source.read_bytes()
    assert backend.store.put_file(source, digest) == digest


def test_put_files_stores_many_and_counts_new_ones(backend: Backend, tmp_path: Path):
    folder = tmp_path / "files"
    folder.mkdir()
    contents = {f"f{i}.bin": os.urandom(i * 37) for i in range(40)}
    contents["dup.bin"] = contents["f3.bin"]  # same bytes, one blob
    items = []
    for name, data in contents.items():
        (folder / name).write_bytes(data)
        items.append((str(folder / name), hash_bytes(data)))
    distinct = {hash_bytes(d) for d in contents.values()}
    assert backend.store.put_files(items) == len(distinct) == 40
    assert set(backend.store.digests()) == distinct
    for name, data in contents.items():
        assert backend.store.get_bytes(hash_bytes(data)) == data, name
    assert backend.store.put_files(items) == 0
    extra = folder / "extra.bin"
    extra.write_bytes(b"one more")
    assert backend.store.put_files([*items, (str(extra), hash_bytes(b"one more"))]) == 1
    assert backend.store.put_files([]) == 0


def test_export_writes_a_byte_equal_copy(backend: Backend, tmp_path: Path):
    data = os.urandom(50_000)
    digest = backend.store.put_bytes(data)
    target = tmp_path / "deep" / "folder" / "copy.bin"
    backend.store.export(digest, target)
    assert target.read_bytes() == data
    target.write_bytes(b"stale")
    backend.store.export(digest, target)  # overwrites
    assert target.read_bytes() == data
    assert [p.name for p in target.parent.iterdir()] == ["copy.bin"]  # no temp file left


def test_local_writes_leave_no_temp_files(tmp_path: Path):
    store = LocalBlobStore(str(tmp_path / "b"))
    for i in range(10):
        store.put_bytes(str(i).encode())
    assert list((tmp_path / "b" / "tmp").iterdir()) == []


def test_file_url_is_local(tmp_path: Path):
    store = LocalBlobStore(f"file://{tmp_path / 'b'}")
    digest = store.put_bytes(b"via file url")
    assert store.local_path(digest) is not None
    assert Path(store.local_path(digest)).read_bytes() == b"via file url"
