"""peek.latest_version: the repository's answer read with sqlite3 alone, or None when unsure."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from loopline.core.types import Artifact
from loopline.store.metadata import MetadataStore
from loopline.store.metadata.peek import latest_version


def _artifact(n: int) -> Artifact:
    return Artifact(
        id=f"{n:064x}", kind="table", blob=f"{n + 100:064x}", size=n, rows=n, schema={"id": "Int64"}
    )


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'sub dir' / 'meta#1.db'}"  # characters a file: URI must escape


def test_same_answer_as_the_repository(url: str) -> None:
    store = MetadataStore(url)
    store.add_version("people", _artifact(1), source="a.csv", original_blob="f" * 64, original_name="a.csv")
    store.add_version("people", _artifact(2), source="b.csv")
    store.add_version("other", _artifact(3), source="c.csv")
    # The writer's connection stays open: the versions may still be in the WAL only.
    assert latest_version(url, "people") == store.latest_version("people")
    assert latest_version(url, "people").version == 2  # type: ignore[union-attr]
    store.close()
    assert latest_version(url, "other") == MetadataStore(url).latest_version("other")


def test_no_answer_when_it_cannot_be_sure(url: str, tmp_path: Path) -> None:
    MetadataStore(url).add_version("people", _artifact(1), source="a.csv")
    assert latest_version(url, "nobody") is None
    assert latest_version(f"sqlite:///{tmp_path / 'missing.db'}", "people") is None
    assert not (tmp_path / "missing.db").exists()  # and nothing was created
    assert latest_version("sqlite:///:memory:", "people") is None
    assert latest_version("postgresql+psycopg://u@h/db", "people") is None
    assert latest_version(f"{url}?mode=ro", "people") is None
    assert latest_version(url.replace(" ", "%20"), "people") is None  # the same file, but unsure
    path = url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        db.execute("UPDATE alembic_version SET version_num = '0001'")  # older, or mid-migration
    assert latest_version(url, "people") is None
