"""Migration 0010 (users): a store of 0009 with annotators upgrades to users (annotator ->
annotator, manager -> maintainer, admin -> admin), each keeping its token, which still signs in;
`annotators` is gone; a downgrade brings the annotators back with their tokens."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from loopline.core.errors import Unauthorized
from loopline.project import Project
from loopline.store.metadata import MetadataStore
from loopline.store.metadata import engine as engines
from tests.store.test_migration_repeats import _alembic

T0 = datetime(2030, 1, 1, tzinfo=UTC)
OLD = [
    ("ann", "annotator", True),
    ("lead", "manager", True),
    ("root", "admin", True),
    ("gone", "annotator", False),
]


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _seed_0009(url: str) -> None:
    MetadataStore(url).close()
    _alembic(url, "0009", down=True)
    engine = engines.create_engine(url)
    with engine.begin() as conn:
        for name, role, active in OLD:
            conn.execute(
                sa.text(
                    "INSERT INTO annotators (name, role, active, token_hash, created_at) "
                    "VALUES (:n, :r, :a, :h, :t)"
                ),
                {"n": name, "r": role, "a": active, "h": _hash(f"secret-{name}"), "t": T0},
            )
    engine.dispose()


def _tables(url: str) -> set[str]:
    engine = engines.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_annotators_become_users_with_their_tokens(tmp_path: Path, store_url: str) -> None:
    made = Project.init(tmp_path, store=store_url)
    url = made.settings.store_url
    made.close()
    _seed_0009(url)
    assert "annotators" in _tables(url) and "users" not in _tables(url)

    project = Project.open(tmp_path)  # opening upgrades to head
    try:
        users = {u.name: (u.role, u.kind, u.active) for u in project.users_list()}
        assert users == {
            "ann": ("annotator", "person", True),
            "lead": ("maintainer", "person", True),
            "root": ("admin", "person", True),
            "gone": ("annotator", "person", False),
        }
        assert {(t.user, t.name) for t in project.tokens_list()} == {(n, "migrated") for n, _, _ in OLD}
        who = project.authenticate_token("secret-lead")
        assert (who.name, who.role, who.auth) == ("lead", "maintainer", "token")
        with pytest.raises(Unauthorized, match="gone is disabled"):
            project.authenticate_token("secret-gone")
        assert "annotators" not in _tables(url)
    finally:
        project.close()

    _alembic(url, "0009", down=True)
    assert "users" not in _tables(url)
    engine = engines.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT name, role, active, token_hash FROM annotators ORDER BY name")
        ).all()
    engine.dispose()
    assert [(r.name, r.role, bool(r.active), r.token_hash) for r in rows] == sorted(
        (n, r, a, _hash(f"secret-{n}")) for n, r, a in OLD
    )
