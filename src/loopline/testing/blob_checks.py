"""Checks of a content-addressed blob store (`loopline.store.contracts.BlobStore`)."""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from loopline.core.errors import Integrity, LooplineError, NotFound
from loopline.core.hashing import hash_bytes
from loopline.testing.expect import raises

if TYPE_CHECKING:
    from loopline.store.contracts import BlobStore

NOUN = "blobs"
_ABSENT = hash_bytes(b"bytes no check ever stores")


@contextmanager
def _folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="loopline-check-") as name:
        yield Path(name)


def _file(folder: Path, name: str, data: bytes) -> tuple[str, tuple[int, int, int]]:
    path = folder / name
    path.write_bytes(data)
    st = path.stat()
    return str(path), (st.st_ino, st.st_size, st.st_mtime_ns)


def check_put_bytes_returns_the_blake3_key_and_reads_back(store: BlobStore) -> None:
    """put_bytes returns the BLAKE3 hex digest of the bytes; get_bytes returns exactly them."""
    for data in (b"hello", bytes(range(256)) * 1000, b"\x00" * 7):
        key = store.put_bytes(data)
        assert key == hash_bytes(data), f"key {key[:12]} is not the BLAKE3 digest of the bytes"
        assert store.get_bytes(key) == data, f"get_bytes({key[:12]}) returned other bytes"
        assert store.exists(key) and store.verify(key)


def check_the_empty_blob_is_a_blob(store: BlobStore) -> None:
    """Zero bytes are stored and read back like any others."""
    key = store.put_bytes(b"")
    assert key == hash_bytes(b"") and store.get_bytes(key) == b""


def check_put_of_the_same_bytes_is_idempotent(store: BlobStore) -> None:
    """Storing the same bytes again returns the same key and keeps one blob."""
    first, second = store.put_bytes(b"same"), store.put_bytes(b"same")
    assert first == second, "the same bytes got two keys"
    assert list(store.digests()).count(first) == 1
    assert store.get_bytes(first) == b"same"


def check_a_missing_blob_is_not_found(store: BlobStore) -> None:
    """A well-formed key of bytes never stored: get_bytes raises NotFound, exists and verify are False."""
    raises(NotFound, store.get_bytes, _ABSENT)
    assert not store.exists(_ABSENT) and not store.verify(_ABSENT)
    raises(NotFound, store.checked_path, _ABSENT)
    with _folder() as folder:
        raises(NotFound, store.export, _ABSENT, folder / "out")
        assert not (folder / "out").exists(), "a failed export left a file"


def check_a_malformed_key_is_not_found(store: BlobStore) -> None:
    """A key that is not 64 hex digits (a path, a traversal) is NotFound, never a file lookup."""
    for key in ("../../etc/passwd", "abc", "Z" * 64, _ABSENT[:63] + "/"):
        raises(NotFound, store.get_bytes, key)


def check_put_file_stores_the_file_bytes(store: BlobStore) -> None:
    """put_file returns the key of the file's bytes, with or without the caller's digest."""
    with _folder() as folder:
        path, _ = _file(folder, "a.bin", b"file bytes")
        key = store.put_file(path)
        assert key == hash_bytes(b"file bytes") and store.get_bytes(key) == b"file bytes"
        other, _ = _file(folder, "b.bin", b"other bytes")
        assert store.put_file(Path(other), hash_bytes(b"other bytes")) == hash_bytes(b"other bytes")
        assert store.get_bytes(hash_bytes(b"other bytes")) == b"other bytes"


def check_put_files_counts_only_new_blobs(store: BlobStore) -> None:
    """put_files stores many (path, digest) pairs and returns how many were new."""
    with _folder() as folder:
        pairs = [
            (_file(folder, f"{n}.txt", f"blob {n}".encode())[0], hash_bytes(f"blob {n}".encode()))
            for n in range(5)
        ]
        assert store.put_files(pairs[:3]) == 3
        assert store.put_files(pairs) == 2, "blobs stored already were counted as new"
        for n in range(5):
            assert store.get_bytes(hash_bytes(f"blob {n}".encode())) == f"blob {n}".encode()


def check_put_files_refuses_a_file_that_does_not_match_its_digest(store: BlobStore) -> None:
    """A file whose bytes do not hash to the digest given is refused and stored under no key."""
    with _folder() as folder:
        path, _ = _file(folder, "changed.txt", b"changed after hashing")
        claimed = hash_bytes(b"what was hashed")
        raises(Integrity, store.put_files, [(path, claimed)])
        assert not store.exists(claimed), "a blob was stored under a digest its bytes do not have"


def check_ingest_returns_the_keys_in_order(store: BlobStore) -> None:
    """ingest stores files and returns, in order, the key of each one's bytes."""
    with _folder() as folder:
        items = [_file(folder, f"{n}.csv", f"row,{n}\n".encode()) for n in range(4)]
        keys = store.ingest(items)
        assert keys == [hash_bytes(f"row,{n}\n".encode()) for n in range(4)], keys
        assert [store.get_bytes(k) for k in keys] == [f"row,{n}\n".encode() for n in range(4)]


def check_digests_lists_every_blob_once(store: BlobStore) -> None:
    """digests() yields the key of every stored blob, once each, and nothing else."""
    assert list(store.digests()) == [], "a fresh store is not empty"
    keys = {store.put_bytes(f"blob {n}".encode()) for n in range(6)}
    listed = list(store.digests())
    assert sorted(listed) == sorted(keys), f"{len(listed)} digests listed for {len(keys)} blobs"


def check_export_writes_a_byte_equal_copy(store: BlobStore) -> None:
    """export writes the blob's bytes to a local path (making its folders), replacing a file there."""
    key = store.put_bytes(b"exported bytes")
    with _folder() as folder:
        target = folder / "deep" / "folder" / "out.bin"
        store.export(key, target)
        assert target.read_bytes() == b"exported bytes"
        target.write_bytes(b"stale")
        store.export(key, str(target))
        assert target.read_bytes() == b"exported bytes"
        assert sorted(p.name for p in target.parent.iterdir()) == ["out.bin"], "export left a temp file"


def check_local_blobs_detect_changed_bytes(store: BlobStore) -> None:
    """Where a store exposes local files, bytes changed on disk are never served: get_bytes and
    checked_path raise Integrity, verify is False."""
    key = store.put_bytes(b"original bytes")
    path = store.local_path(key)
    if path is None:  # a remote store: checked_path is a verified copy on this machine
        assert Path(store.checked_path(key)).read_bytes() == b"original bytes"
        return
    assert store.checked_path(key) == path and Path(path).read_bytes() == b"original bytes"
    os.chmod(path, 0o644)
    Path(path).write_bytes(b"tampered bytes")
    raises(Integrity, store.get_bytes, key)
    raises(Integrity, store.checked_path, key)
    assert not store.verify(key)
    store.put_bytes(b"original bytes")  # storing the bytes again repairs the blob
    assert store.verify(key) and store.get_bytes(key) == b"original bytes"


def check_concurrent_puts_of_the_same_bytes_agree(store: BlobStore) -> None:
    """Eight threads storing the same bytes at once all get the key, and the blob is whole."""
    data = bytes(range(256)) * 4096  # 1 MiB: large enough to be written in more than one piece
    keys: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def put() -> None:
        try:
            start.wait()
            keys.append(store.put_bytes(data))
        except (LooplineError, OSError) as exc:
            errors.append(exc)

    threads = [threading.Thread(target=put) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, f"a concurrent put raised {errors[0]!r}"
    assert set(keys) == {hash_bytes(data)} and len(keys) == 8
    assert store.get_bytes(hash_bytes(data)) == data


def check_streamed_puts_and_reads_round_trip(store: BlobStore) -> None:
    """put_stream stores the concatenated chunks under the key put_bytes gives them (and says how
    many bytes); iter_bytes hands them back in chunks no larger than asked."""
    parts = [b"head ", bytes(range(256)) * 300, b"", b" tail"]
    whole = b"".join(parts)
    key, length = store.put_stream(iter(parts))
    assert (key, length) == (hash_bytes(whole), len(whole)), "put_stream gave another key or length"
    assert store.put_bytes(whole) == key and list(store.digests()).count(key) == 1
    chunks = list(store.iter_bytes(key, 1000))
    assert b"".join(chunks) == whole, "iter_bytes returned other bytes"
    assert max(len(c) for c in chunks) <= 1000, "iter_bytes handed out a chunk over its size"
    assert store.put_stream(iter([])) == (hash_bytes(b""), 0)


def check_a_failed_stream_leaves_no_blob(store: BlobStore) -> None:
    """An upload cut off half-way (its iterator raises) stores nothing under any key."""
    before = set(store.digests())

    def cut() -> Iterator[bytes]:
        yield b"the first half of an upload"
        raise RuntimeError("the client went away")

    try:
        store.put_stream(cut())
    except RuntimeError:
        pass
    else:
        raise AssertionError("put_stream swallowed its iterator's error")
    assert set(store.digests()) == before, "a cut-off stream left a blob"
    assert not store.exists(hash_bytes(b"the first half of an upload"))


def check_iter_bytes_refuses_missing_and_damaged_blobs(store: BlobStore) -> None:
    """iter_bytes raises at the call, before any chunk: NotFound when missing, Integrity when the
    local file's bytes no longer hash to the key."""
    raises(NotFound, store.iter_bytes, _ABSENT)
    key = store.put_bytes(b"streamed and then damaged")
    path = store.local_path(key)
    if path is None:
        return
    os.chmod(path, 0o644)
    Path(path).write_bytes(b"streamed and then changed")
    raises(Integrity, store.iter_bytes, key)


CHECKS = (
    check_put_bytes_returns_the_blake3_key_and_reads_back,
    check_the_empty_blob_is_a_blob,
    check_put_of_the_same_bytes_is_idempotent,
    check_a_missing_blob_is_not_found,
    check_a_malformed_key_is_not_found,
    check_put_file_stores_the_file_bytes,
    check_put_files_counts_only_new_blobs,
    check_put_files_refuses_a_file_that_does_not_match_its_digest,
    check_ingest_returns_the_keys_in_order,
    check_digests_lists_every_blob_once,
    check_export_writes_a_byte_equal_copy,
    check_local_blobs_detect_changed_bytes,
    check_concurrent_puts_of_the_same_bytes_agree,
    check_streamed_puts_and_reads_round_trip,
    check_a_failed_stream_leaves_no_blob,
    check_iter_bytes_refuses_missing_and_damaged_blobs,
)
