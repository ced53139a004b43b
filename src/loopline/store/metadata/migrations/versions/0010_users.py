"""Identities: users (a role, person or service, active or not), their tokens (SHA-256 only, a
label, expiry, revocation, last use), the UI's sign-in sessions (hashed ids) and per-resource
grants. Every annotator becomes a user (annotator -> annotator, manager -> maintainer,
admin -> admin) whose token hash is kept as a token named "migrated"; `annotators` goes.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_UP = {"annotator": "annotator", "manager": "maintainer", "admin": "admin"}
_DOWN = {"maintainer": "manager", "admin": "admin"}  # every other role was never an annotator's


def _annotators() -> sa.TableClause:
    return sa.table(
        "annotators",
        sa.column("name", sa.String),
        sa.column("role", sa.String),
        sa.column("active", sa.Boolean),
        sa.column("token_hash", sa.String),
        sa.column("created_at", _TS),
    )


def _create_identity_tables() -> tuple[sa.Table, sa.Table]:
    users = op.create_table(
        "users",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
    )
    tokens = op.create_table(
        "tokens",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("user", sa.String(200), sa.ForeignKey("users.name"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS),
        sa.Column("revoked_at", _TS),
        sa.Column("last_used_at", _TS),
    )
    op.create_index("ix_tokens_user", "tokens", ["user"])
    op.create_table(
        "sessions",
        sa.Column("hash", sa.String(64), primary_key=True),
        sa.Column("user", sa.String(200), sa.ForeignKey("users.name"), nullable=False),
        sa.Column("token_id", sa.String(16), sa.ForeignKey("tokens.id"), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
    )
    op.create_table(
        "grants",
        sa.Column("user", sa.String(200), sa.ForeignKey("users.name"), primary_key=True),
        sa.Column("resource", sa.String(16), primary_key=True),
        sa.Column("resource_name", sa.String(250), primary_key=True),
        sa.Column("level", sa.String(8), nullable=False),
    )
    assert users is not None and tokens is not None
    return users, tokens


def upgrade() -> None:
    users, tokens = _create_identity_tables()
    conn = op.get_bind()
    old = conn.execute(sa.select(_annotators())).all()
    if old:
        conn.execute(
            users.insert(),
            [
                {"name": r.name, "role": _UP.get(r.role, "annotator"), "kind": "person"}
                | {"active": r.active, "created_at": r.created_at}
                for r in old
            ],
        )
        conn.execute(
            tokens.insert(),
            [
                {"id": secrets.token_hex(6), "user": r.name, "name": "migrated", "hash": r.token_hash}
                | {"created_at": r.created_at}
                for r in old
            ],
        )
    op.drop_table("annotators")


def downgrade() -> None:
    """Users with a live token become annotators again (their first such token); the rest go."""
    op.create_table(
        "annotators",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", _TS, nullable=False),
    )
    conn = op.get_bind()
    users = sa.table(
        "users",
        sa.column("name"),
        sa.column("role"),
        sa.column("active", sa.Boolean),
        sa.column("created_at", _TS),
    )
    tokens = sa.table("tokens", *(sa.column(c) for c in ("user", "hash", "created_at", "revoked_at")))
    rows = conn.execute(
        sa.select(users, tokens.c.hash)
        .join(tokens, tokens.c.user == users.c.name)
        .where(tokens.c.revoked_at.is_(None))
        .order_by(users.c.name, tokens.c.created_at)
    ).all()
    kept: dict[str, dict[str, object]] = {}
    for r in rows:
        kept.setdefault(
            r.name,
            {"name": r.name, "role": _DOWN.get(r.role, "annotator"), "active": r.active}
            | {"token_hash": r.hash, "created_at": r.created_at},
        )
    if kept:
        conn.execute(_annotators().insert(), list(kept.values()))
    for table in ("grants", "sessions", "tokens", "users"):
        op.drop_table(table)
