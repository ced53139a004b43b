"""BlobStore.ingest: files whose keys are not known yet are read once, hashed and written from the
same buffer. Its promises: every key is the BLAKE3 of the bytes stored under it, whatever the
source does during the copy; a file that is not the one listed is refused; nothing is left
behind on failure; filesystems without O_DIRECT get the same bytes."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import blake3
import pytest

from loopline.core.errors import Integrity, StorageError
from loopline.store import blob_writes as blobs_module
from loopline.store.blobs import LocalBlobStore, StatKey

SMALL_CHUNK = 64 * 1024  # a multiple of the O_DIRECT block, so several chunks per test file


def _key(path: Path) -> StatKey:
    st = path.stat()
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _blob_files(root: Path) -> list[Path]:
    return [p for p in root.glob("??/*") if p.is_file()]


def _assert_every_blob_hashes_to_its_name(root: Path) -> None:
    for path in _blob_files(root):
        assert blake3.blake3(path.read_bytes()).hexdigest() == path.name


def _temps(root: Path) -> list[Path]:
    return list((root / "tmp").iterdir())


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(str(tmp_path / "blobs"))


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stream files above 16 KiB through 64 KiB chunks: multi-chunk copies with small files."""
    monkeypatch.setattr(blobs_module, "_WHOLE", 16 * 1024)
    monkeypatch.setattr(blobs_module, "_CHUNK", SMALL_CHUNK)


def _write_files(folder: Path, sizes: list[int]) -> list[Path]:
    folder.mkdir(exist_ok=True)
    paths = []
    for i, size in enumerate(sizes):
        path = folder / f"f{i:03d}.bin"
        path.write_bytes(os.urandom(size))
        paths.append(path)
    return paths


SIZES = [0, 1, 4095, 4096, 16 * 1024, 16 * 1024 + 1, 3 * SMALL_CHUNK, 3 * SMALL_CHUNK + 123]


@pytest.mark.parametrize("many", [False, True], ids=["fsync-each", "syncfs-batch"])
def test_keys_are_the_hashes_of_the_bytes_stored(
    store: LocalBlobStore, tmp_path: Path, small_chunks: None, many: bool
) -> None:
    sizes = SIZES * (5 if many else 1)  # 40 files take the one-filesystem-sync path
    paths = _write_files(tmp_path / "src", sizes)

    keys = store.ingest([(str(p), _key(p)) for p in paths])

    assert keys == [blake3.blake3(p.read_bytes()).hexdigest() for p in paths]
    for path, key in zip(paths, keys, strict=True):
        assert store.get_bytes(key) == path.read_bytes()
    root = Path(store.url)
    assert len(_blob_files(root)) == len(set(keys))
    _assert_every_blob_hashes_to_its_name(root)
    assert _temps(root) == []


def test_a_file_larger_than_the_real_chunk_with_an_unaligned_tail(
    store: LocalBlobStore, tmp_path: Path
) -> None:
    (path,) = _write_files(tmp_path / "src", [blobs_module._CHUNK + 5000])
    (key,) = store.ingest([(str(path), _key(path))])
    assert key == blake3.blake3(path.read_bytes()).hexdigest()
    assert Path(store.local_path(key) or "").read_bytes() == path.read_bytes()


def test_duplicates_and_stored_contents_are_written_once(
    store: LocalBlobStore, tmp_path: Path, small_chunks: None
) -> None:
    folder = tmp_path / "src"
    folder.mkdir()
    big, small = os.urandom(2 * SMALL_CHUNK + 7), b"same small bytes"
    paths = []
    for i in range(3):
        for name, data in (("big", big), ("small", small)):
            path = folder / f"{name}{i}"
            path.write_bytes(data)
            paths.append(path)
    stored_before = store.put_bytes(b"already there")
    (folder / "old").write_bytes(b"already there")
    paths.append(folder / "old")

    keys = store.ingest([(str(p), _key(p)) for p in paths])

    assert set(keys) == {blake3.blake3(big).hexdigest(), blake3.blake3(small).hexdigest(), stored_before}
    root = Path(store.url)
    assert len(_blob_files(root)) == 3
    assert _temps(root) == []


@pytest.mark.parametrize("change", ["rewritten", "replaced", "grown"])
def test_a_file_that_is_not_the_one_listed_is_refused(
    store: LocalBlobStore, tmp_path: Path, small_chunks: None, change: str
) -> None:
    paths = _write_files(tmp_path / "src", SIZES * 5)
    items = [(str(p), _key(p)) for p in paths]
    victim = paths[7]  # a streamed one
    if change == "rewritten":  # same size, other bytes, a later mtime
        victim.write_bytes(os.urandom(victim.stat().st_size))
        os.utime(victim, ns=(items[7][1][2] + 10**9, items[7][1][2] + 10**9))
    elif change == "replaced":  # another file renamed over it: another inode
        other = tmp_path / "other"
        other.write_bytes(victim.read_bytes())
        os.utime(other, ns=(items[7][1][2], items[7][1][2]))
        other.replace(victim)
    else:
        with victim.open("ab") as handle:
            handle.write(b"more")

    with pytest.raises(Integrity, match="changed while it was being stored"):
        store.ingest(items)
    root = Path(store.url)
    assert _temps(root) == []
    _assert_every_blob_hashes_to_its_name(root)
    assert not store.exists(blake3.blake3(victim.read_bytes()).hexdigest())


def _writing_during_the_copy(monkeypatch: pytest.MonkeyPatch, victim: Path) -> None:
    """Overwrite the victim's first bytes right after the copy read its first chunk."""
    real_readv = os.readv
    done: list[bool] = []

    def readv(fd: int, buffers: list[memoryview]) -> int:
        n = real_readv(fd, buffers)
        if not done and os.path.samestat(os.fstat(fd), victim.stat()):
            done.append(True)
            with victim.open("r+b") as handle:
                handle.write(os.urandom(SMALL_CHUNK * 2))
        return n

    monkeypatch.setattr(blobs_module.os, "readv", readv)


def test_a_file_written_during_its_copy_is_refused_and_leaves_no_wrong_blob(
    store: LocalBlobStore, tmp_path: Path, small_chunks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    (victim,) = _write_files(tmp_path / "src", [4 * SMALL_CHUNK])
    before = victim.read_bytes()
    _writing_during_the_copy(monkeypatch, victim)

    with pytest.raises(Integrity, match="changed while it was being stored"):
        store.ingest([(str(victim), _key(victim))])
    root = Path(store.url)
    assert _blob_files(root) == [] and _temps(root) == []
    assert victim.read_bytes() != before


def test_a_file_written_during_its_copy_is_stored_under_the_hash_of_what_was_copied(
    store: LocalBlobStore, tmp_path: Path, small_chunks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """put_file with no key: whatever mix of old and new bytes was read is what is stored, under
    its own hash (the old two-pass copy could hash one version and copy another)."""
    (victim,) = _write_files(tmp_path / "src", [4 * SMALL_CHUNK])
    before = victim.read_bytes()
    _writing_during_the_copy(monkeypatch, victim)

    key = store.put_file(victim)

    stored = Path(store.local_path(key) or "").read_bytes()
    assert blake3.blake3(stored).hexdigest() == key
    assert stored[:SMALL_CHUNK] == before[:SMALL_CHUNK]  # the first chunk was read before the write
    _assert_every_blob_hashes_to_its_name(Path(store.url))


@pytest.mark.parametrize("refusal", ["open", "write"])
def test_a_filesystem_refusing_o_direct_gets_the_same_bytes(
    store: LocalBlobStore, tmp_path: Path, small_chunks: None, monkeypatch: pytest.MonkeyPatch, refusal: str
) -> None:
    direct = 0o40000  # Linux's O_DIRECT bit, whatever this platform's os module says
    monkeypatch.setattr(blobs_module, "_DIRECT", direct)
    refused: list[int] = []
    if refusal == "open":
        real_create = blobs_module._create_temp

        def create(tmp_dir: int, prefix: str, flags: int = 0) -> tuple[int, str]:
            if flags & direct:
                refused.append(flags)
                raise OSError(errno.EINVAL, "O_DIRECT not supported")
            return real_create(tmp_dir, prefix, flags)

        monkeypatch.setattr(blobs_module, "_create_temp", create)
    else:
        import fcntl

        real_write = os.write

        def write(fd: int, data: memoryview) -> int:
            if fcntl.fcntl(fd, fcntl.F_GETFL) & direct:
                refused.append(fd)
                raise OSError(errno.EINVAL, "unaligned for this device")
            return real_write(fd, data)

        monkeypatch.setattr(blobs_module.os, "write", write)
    paths = _write_files(tmp_path / "src", [3 * SMALL_CHUNK + 99, 5 * SMALL_CHUNK])

    keys = store.ingest([(str(p), _key(p)) for p in paths])

    assert refused, "the O_DIRECT path was not taken"
    for path, key in zip(paths, keys, strict=True):
        assert key == blake3.blake3(path.read_bytes()).hexdigest()
        assert store.get_bytes(key) == path.read_bytes()
    assert _temps(Path(store.url)) == []


def test_a_batch_big_enough_for_every_shard_folder(store: LocalBlobStore, tmp_path: Path) -> None:
    """From _ALL_FOLDERS files the shard folders are made beside the copy; a few new blobs among
    many stored ones still land in place."""
    folder = tmp_path / "src"
    folder.mkdir()
    paths = []
    for i in range(blobs_module._ALL_FOLDERS + 5):
        path = folder / f"f{i}"
        path.write_bytes(f"file {i}\n".encode())
        paths.append(path)
    keys = store.ingest([(str(p), _key(p)) for p in paths[:-3]])
    assert len(_blob_files(Path(store.url))) == len(keys)

    again = store.ingest([(str(p), _key(p)) for p in paths])  # three new, fsynced one by one

    assert again[:-3] == keys
    for path, key in zip(paths, again, strict=True):
        assert store.get_bytes(key) == path.read_bytes()
    assert {p.parent.name for p in _blob_files(Path(store.url))} <= {f"{i:02x}" for i in range(256)}
    assert _temps(Path(store.url)) == []


@pytest.mark.parametrize("how", ["put_file", "put_bytes", "ingest"])
def test_a_failed_write_leaves_no_temp_file(
    store: LocalBlobStore, tmp_path: Path, small_chunks: None, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    paths = _write_files(tmp_path / "src", SIZES * 5)
    real_write = os.write
    calls: list[int] = []

    def write(fd: int, data: memoryview) -> int:
        calls.append(fd)
        if len(calls) == (3 if how == "put_file" else 7):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(blobs_module.os, "write", write)
    with pytest.raises(StorageError, match="No space left"):
        if how == "put_file":
            store.put_file(paths[-1])  # streamed: its third chunk fails
        elif how == "put_bytes":
            for path in paths:
                store.put_bytes(path.read_bytes())
        else:
            store.ingest([(str(p), _key(p)) for p in paths])
    assert _temps(Path(store.url)) == []
    _assert_every_blob_hashes_to_its_name(Path(store.url))
