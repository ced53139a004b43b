"""Metadata store: SQLAlchemy 2 tables, Alembic migrations, one repository class.

MetadataStore (and with it SQLAlchemy) loads on first use, so the stdlib-only modules here
(peek, times, migrations' HEAD_REVISION) can be imported without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loopline.store.metadata.repository import MetadataStore

__all__ = ["MetadataStore"]


def __getattr__(name: str) -> Any:
    if name == "MetadataStore":
        from loopline.store.metadata.repository import MetadataStore

        return MetadataStore
    raise AttributeError(f"module 'loopline.store.metadata' has no attribute {name!r}")
