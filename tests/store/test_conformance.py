"""loopline.testing's conformance suite on every implementation loopline ships: the metadata store
on SQLite and PostgreSQL (LOOPLINE_TEST_DATABASE_URL; a schema per test, see conftest.py), the
blob store on a local folder, fsspec's in-memory filesystem and S3 (moto's server). And proof
that it can fail."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import fsspec
import pytest

from loopline.core.types import Artifact
from loopline.store.blobs import BlobStore, LocalBlobStore, open_blob_store
from loopline.store.metadata.repository import MetadataStore
from loopline.testing import (
    Check,
    MetadataStores,
    blob_store_checks,
    check_blob_store,
    metadata_store_checks,
)
from loopline.testing.s3 import make_bucket

METADATA_CHECKS = metadata_store_checks()
BLOB_CHECKS = blob_store_checks()


def test_the_suite_is_big_enough_and_names_are_unique():
    names = [c.name for c in METADATA_CHECKS + BLOB_CHECKS]
    assert len(names) == len(set(names))
    assert len(METADATA_CHECKS) >= 30 and len(BLOB_CHECKS) >= 10
    assert {c.noun for c in METADATA_CHECKS} == {"datasets", "labeling", "tracking", "models", "users"}
    assert all(c.function.__doc__ for c in METADATA_CHECKS + BLOB_CHECKS), "every check states its contract"


# Contract breaches this suite found and the implementations still have; strict, so that a fix
# shows up as a failure here until its line goes.
_KNOWN = {
    # psycopg's executemany reports no row count, so add_batches returns 0 (no caller reads it)
    ("postgresql", "check_add_batches_counts_the_batches_it_added"): "add_batches returns 0 on PostgreSQL",
}


def _mark_known(request: pytest.FixtureRequest, kind: str, check: Check[object]) -> None:
    known = _KNOWN.get((kind, check.name))
    if known:
        request.applymarker(pytest.mark.xfail(reason=known, raises=AssertionError, strict=True))


@pytest.mark.parametrize("check", METADATA_CHECKS, ids=lambda c: c.name)
def test_metadata_store_conforms(
    check: Check[MetadataStores], store_url: str, request: pytest.FixtureRequest
):
    _mark_known(request, "postgresql" if store_url.startswith("postgresql") else "sqlite", check)
    check(lambda: MetadataStores.sql(store_url))


@pytest.fixture(params=["local", "memory", "s3"])
def blob_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], BlobStore]]:
    """Fresh, empty blob stores of one kind (a new folder, in-memory root or S3 prefix at each
    call; S3 is moto's server on loopback, see conftest.py)."""
    counter = itertools.count()
    roots: list[str] = []
    bucket = make_bucket(request.getfixturevalue("s3_endpoint")) if request.param == "s3" else ""

    def make() -> BlobStore:
        n = next(counter)
        if request.param == "local":
            return LocalBlobStore(str(tmp_path / f"blobs-{n}"))
        if request.param == "s3":
            return open_blob_store(f"s3://{bucket}/blobs-{n}", cache=tmp_path / f"cache-{n}")
        name = f"loopline-conformance-{uuid.uuid4().hex[:12]}"
        roots.append(f"/{name}")
        return open_blob_store(f"memory://{name}", cache=tmp_path / f"cache-{n}")

    yield make
    memory = fsspec.filesystem("memory")
    for root in roots:
        if memory.exists(root):
            memory.rm(root, recursive=True)


@pytest.mark.parametrize("check", BLOB_CHECKS, ids=lambda c: c.name)
def test_blob_store_conforms(
    check: Check[BlobStore], blob_factory: Callable[[], BlobStore], request: pytest.FixtureRequest
):
    _mark_known(request, request.node.callspec.params["blob_factory"], check)
    check(blob_factory)


# -- the suite catches broken stores ---------------------------------------------------------------
class ForgetfulMetadataStore(MetadataStore):
    """Forgets that adding the latest content again is a no-op: it reports the latest version."""

    def add_version(
        self,
        name: str,
        art: Artifact,
        *,
        source: str,
        original_blob: str | None = None,
        original_name: str | None = None,
    ) -> int | None:
        made = super().add_version(
            name, art, source=source, original_blob=original_blob, original_name=original_name
        )
        return made if made is not None else self.get_version(name).version


class LossyBlobStore(LocalBlobStore):
    """Drops the last byte of every blob it reads."""

    def get_bytes(self, digest: str) -> bytes:
        return super().get_bytes(digest)[:-1]


class HalfBlobStore(LocalBlobStore):
    """Has no ingest: a store that does not implement the whole Protocol."""

    def __getattribute__(self, name: str):
        if name == "ingest":
            raise AttributeError(name)
        return super().__getattribute__(name)


def test_the_suite_catches_a_store_that_forgets_idempotence(tmp_path: Path):
    counter = itertools.count()

    def factory() -> MetadataStores:
        return MetadataStores.on(ForgetfulMetadataStore(f"sqlite:///{tmp_path / f'meta-{next(counter)}.db'}"))

    datasets = [c for c in METADATA_CHECKS if c.noun == "datasets"]
    failed = []
    for check in datasets:
        try:
            check(factory)
        except AssertionError as exc:
            failed.append((check.name, str(exc)))
    assert [name for name, _ in failed] == ["check_add_version_of_the_latest_content_is_a_no_op"]
    assert "returned 1, not None" in failed[0][1] and "writes nothing" in failed[0][1]


def test_the_suite_catches_a_blob_store_that_returns_wrong_bytes(tmp_path: Path):
    counter = itertools.count()
    with pytest.raises(AssertionError) as info:
        check_blob_store(lambda: LossyBlobStore(str(tmp_path / f"blobs-{next(counter)}")))
    message = str(info.value)
    assert "check_put_bytes_returns_the_blake3_key_and_reads_back failed" in message
    assert "returned other bytes" in message
    assert f"of {len(BLOB_CHECKS)} store checks failed" in message


def test_a_check_the_store_crashes_in_is_a_failure_naming_the_check(tmp_path: Path):
    check = next(c for c in BLOB_CHECKS if c.name == "check_ingest_returns_the_keys_in_order")
    with pytest.raises(
        AssertionError, match=r"(?s)check_ingest_returns_the_keys_in_order failed.*raised AttributeError"
    ):
        check(lambda: HalfBlobStore(str(tmp_path / "blobs")))
