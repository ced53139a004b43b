"""What a metadata check receives: one fresh store and the repositories built on it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from loopline.store.contracts import (
        MetadataRepository,
        MlflowRepository,
        MonitoringRepository,
        PredictionIndex,
        RegistryRepository,
    )
    from loopline.store.metadata.repository import MetadataStore


@dataclass
class MetadataStores:
    """One fresh metadata store and the repositories built on it: what a metadata check gets."""

    meta: MetadataRepository
    registry: RegistryRepository
    monitoring: MonitoringRepository
    predictions: PredictionIndex
    mlflow: MlflowRepository

    @classmethod
    def sql(cls, url: str) -> MetadataStores:
        """loopline's SQL implementation (SQLite or PostgreSQL) on an empty database at `url`."""
        from loopline.store.metadata.repository import MetadataStore as SqlStore

        return cls.on(SqlStore(url))

    @classmethod
    def on(cls, meta: MetadataStore) -> MetadataStores:
        """The SQL repositories on a `MetadataStore` (or a subclass of it)."""
        from loopline.store.metadata.mlflow import MlflowStore
        from loopline.store.metadata.monitor import MonitoringStore
        from loopline.store.metadata.predictions import SqlPredictionIndex
        from loopline.store.metadata.registry import SqlRegistryRepository

        return cls(
            meta,
            SqlRegistryRepository(meta),
            MonitoringStore(meta),
            SqlPredictionIndex(meta),
            MlflowStore(meta),
        )

    def close(self) -> None:
        self.meta.close()
