"""Migration 0009 (repeated answers): a store of 0008 with answers upgrades with its answers
intact (each the first, nth 0), takes repeats afterwards, and downgrades dropping only them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from loopline.core.labeling import LabelProject
from loopline.store.metadata import MetadataStore
from loopline.store.metadata import engine as engines

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def _alembic(url: str, target: str, down: bool = False) -> None:
    engine = engines.create_engine(url)
    config = Config()
    config.set_main_option("script_location", str(engines._MIGRATIONS))
    with engine.connect().execution_options(loopline_write=True) as conn:
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, target)
        conn.commit()
    engine.dispose()


def _rows(url: str) -> list[tuple]:
    engine = engines.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT annotator, label_json FROM annotations ORDER BY id")).all()
    engine.dispose()
    return [tuple(r) for r in rows]


def test_upgrade_keeps_answers_and_downgrade_drops_only_repeats(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'meta.db'}"
    store = MetadataStore(url)
    spec = LabelProject("p", "d", 1, "a" * 64, "classification", ("cat", "dog"))
    store.annotations.create_project(spec, [("i1", {}), ("i2", {})])
    rows = [("i1", "w1", "cat", 1.0, "human"), ("i2", "w1", "dog", 1.0, "human")]
    store.annotations.import_annotations("p", rows, T0)
    store.close()
    _alembic(url, "0008", down=True)
    assert engines.current_revision(engines.create_engine(url)) == "0008"
    assert _rows(url) == [("w1", '"cat"'), ("w1", '"dog"')]

    store = MetadataStore(url)  # upgrades to head
    try:
        assert [(a.item_id, a.label) for a in store.annotations.annotations("p")] == [
            ("i1", "cat"),
            ("i2", "dog"),
        ]
        repeat = [("i1", "w1", "cat", 1.0, "human"), ("i1", "w1", "dog", 1.0, "human")]
        assert store.annotations.import_annotations("p", repeat, T0, repeats=True) == {
            "added": 1,
            "unchanged": 1,
        }
        assert len(store.annotations.annotations("p")) == 3
    finally:
        store.close()
    _alembic(url, "0008", down=True)
    assert _rows(url) == [("w1", '"cat"'), ("w1", '"dog"')]
