"""Metadata store: SQLAlchemy 2 tables, Alembic migrations, one repository class."""

from loopline.store.metadata.repository import MetadataStore

__all__ = ["MetadataStore"]
