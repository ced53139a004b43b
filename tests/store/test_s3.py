"""The S3 blob store against moto's server on loopback: what only a remote store can get wrong
(bytes changed in the bucket, a bucket that is not there, refused credentials, an endpoint that
does not answer). The shared contract runs on S3 in test_conformance.py."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import s3fs

from loopline.core.errors import Integrity, InvalidInput, NotFound, StorageError
from loopline.core.hashing import hash_bytes
from loopline.store.blobs import LocalBlobStore, open_blob_store
from loopline.store.blobs_remote import RemoteBlobStore
from loopline.testing.s3 import aws_pointed_at, moto_server


def _raw(s3_endpoint: str) -> s3fs.S3FileSystem:
    return s3fs.S3FileSystem(endpoint_url=s3_endpoint, skip_instance_cache=True, use_listings_cache=False)


def test_bytes_changed_in_the_bucket_are_never_served(s3_url: str, s3_endpoint: str, tmp_path: Path) -> None:
    store = open_blob_store(s3_url, cache=tmp_path / "cache")
    key = store.put_bytes(b"the original bytes")
    _raw(s3_endpoint).pipe_file(f"{s3_url.removeprefix('s3://')}/{key[:2]}/{key}", b"other bytes")
    with pytest.raises(Integrity) as caught:
        store.get_bytes(key)
    assert key[:12] in caught.value.message and "fsck" in (caught.value.hint or "")
    assert not store.verify(key)
    with pytest.raises(Integrity):
        store.checked_path(key)
    assert not (tmp_path / "cache" / key[:2] / key).exists(), "a damaged object reached the read cache"
    store.put_bytes(b"the original bytes")  # the key exists, so put is a no-op: still damaged
    assert not store.verify(key)


def test_reads_go_through_a_verified_local_cache(s3_url: str, tmp_path: Path) -> None:
    store = open_blob_store(s3_url, cache=tmp_path / "cache")
    assert isinstance(store, RemoteBlobStore)
    key = store.put_bytes(b"cached once")
    path = store.checked_path(key)
    assert Path(path).read_bytes() == b"cached once" and path.startswith(str(tmp_path / "cache"))
    Path(path).chmod(0o644)
    Path(path).write_bytes(b"tampered cache")  # a damaged cached copy is fetched again
    assert Path(store.checked_path(key)).read_bytes() == b"cached once"


def test_a_large_file_goes_up_in_parts_and_back_whole(s3_url: str, tmp_path: Path) -> None:
    data = os.urandom(12 << 20)  # over s3fs's 5 MiB minimum part: a multipart upload
    (tmp_path / "big.bin").write_bytes(data)
    store = open_blob_store(s3_url, cache=tmp_path / "cache")
    key = store.put_file(tmp_path / "big.bin")
    assert key == hash_bytes(data) and store.verify(key)
    store.export(key, tmp_path / "out" / "big.bin")
    assert (tmp_path / "out" / "big.bin").read_bytes() == data


def test_fetch_lands_blobs_in_a_local_store_verified(s3_url: str, tmp_path: Path) -> None:
    remote = open_blob_store(s3_url, cache=tmp_path / "cache")
    assert isinstance(remote, RemoteBlobStore)
    with ThreadPoolExecutor(16) as pool:  # loose objects, more than one batch of a pull
        keys = list(pool.map(lambda n: remote.put_bytes(f"blob {n}".encode()), range(260)))
    local = LocalBlobStore(str(tmp_path / "local"))
    seen: list[int] = []
    assert remote.fetch(keys, local, progress=lambda n, size: seen.append(n)) == 260
    assert sum(seen) == 260 and all(local.verify(k) for k in keys)
    assert remote.fetch(keys, local) == 0, "blobs already here were fetched again"


def test_a_bucket_that_does_not_exist_is_named(s3_endpoint: str) -> None:
    with pytest.raises(NotFound) as caught:
        open_blob_store("s3://no-such-bucket-here/blobs")
    error = caught.value
    assert "no-such-bucket-here" in error.message and s3_endpoint in (error.where or "")
    assert "aws s3 mb s3://no-such-bucket-here" in (error.hint or "")


def test_refused_credentials_say_which_settings_to_check(tmp_path: Path) -> None:
    checking = moto_server(environment={"INITIAL_NO_AUTH_ACTION_COUNT": "0"})
    with checking as endpoint, aws_pointed_at(endpoint), pytest.raises(InvalidInput) as caught:
        open_blob_store("s3://any-bucket/blobs")
    assert "refused" in caught.value.message and "AWS_ACCESS_KEY_ID" in (caught.value.hint or "")


def test_an_endpoint_that_does_not_answer_is_a_storage_error_naming_it() -> None:
    with moto_server() as endpoint:
        pass  # started and stopped: nothing listens on its port now
    with aws_pointed_at(endpoint), pytest.raises(StorageError) as caught:
        open_blob_store("s3://some-bucket/blobs")
    error = caught.value
    assert endpoint in f"{error.message} {error.where}" and "AWS_ENDPOINT_URL" in (error.hint or "")


def test_small_files_go_up_in_packs_and_read_back_checked(
    s3_url: str, s3_endpoint: str, tmp_path: Path
) -> None:
    files = []
    for n in range(40):
        path = tmp_path / f"f{n}.txt"
        path.write_bytes(f"small file {n}".encode())
        files.append((str(path), hash_bytes(path.read_bytes())))
    store = open_blob_store(s3_url, cache=tmp_path / "cache")
    assert store.put_files(files) == 40
    raw = _raw(s3_endpoint)
    root = s3_url.removeprefix("s3://")
    packs = raw.ls(f"{root}/packs", detail=False)
    assert len(packs) == 2 and not [p for p in raw.find(root) if "/packs/" not in p], packs
    reader = open_blob_store(s3_url, cache=tmp_path / "other-cache")  # another process, say
    assert sorted(reader.digests()) == sorted(key for _, key in files)
    assert reader.get_bytes(files[7][1]) == b"small file 7" and reader.verify(files[7][1])
    local = LocalBlobStore(str(tmp_path / "local"))
    assert isinstance(reader, RemoteBlobStore) and reader.fetch([k for _, k in files], local) == 40
    assert local.get_bytes(files[39][1]) == b"small file 39"
    # A byte changed inside the pack: that blob is refused, and fsck's verify says so.
    pack = next(p for p in packs if p.endswith(".pack"))
    body = bytearray(raw.cat_file(pack))
    body[0] ^= 0xFF
    raw.pipe_file(pack, bytes(body))
    damaged = open_blob_store(s3_url, cache=tmp_path / "third-cache")
    with pytest.raises(Integrity):
        damaged.get_bytes(files[0][1])
    assert not damaged.verify(files[0][1]) and damaged.verify(files[1][1])


def test_a_pack_without_its_index_is_not_there(s3_url: str, s3_endpoint: str, tmp_path: Path) -> None:
    root = s3_url.removeprefix("s3://")
    _raw(s3_endpoint).pipe_file(f"{root}/packs/{'0' * 64}.pack", b"bytes of a push killed before its index")
    store = open_blob_store(s3_url, cache=tmp_path / "cache")
    assert list(store.digests()) == []
    assert not store.exists(hash_bytes(b"bytes of a push killed before its index"))
