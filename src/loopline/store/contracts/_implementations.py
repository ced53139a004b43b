"""Today's implementations held to the contracts: never imported at run time, only read by mypy
(`make test` checks all of src/loopline), which fails here when a class drifts from its Protocol."""

from __future__ import annotations

from loopline.store.blobs import LocalBlobStore
from loopline.store.blobs_remote import RemoteBlobStore
from loopline.store.contracts.blobs import BlobStore
from loopline.store.contracts.metadata import MetadataRepository
from loopline.store.contracts.models import (
    MlflowRepository,
    MonitoringRepository,
    PredictionIndex,
    RegistryRepository,
)
from loopline.store.metadata.mlflow import MlflowStore
from loopline.store.metadata.monitor import MonitoringStore
from loopline.store.metadata.predictions import SqlPredictionIndex
from loopline.store.metadata.registry import SqlRegistryRepository
from loopline.store.metadata.repository import MetadataStore


def _implementations(
    meta: MetadataStore,
    registry: SqlRegistryRepository,
    monitoring: MonitoringStore,
    predictions: SqlPredictionIndex,
    mlflow: MlflowStore,
    blobs: LocalBlobStore,
    remote: RemoteBlobStore,
) -> None:
    """Never called: each assignment is a type check of one implementation against its contract."""
    _meta: MetadataRepository = meta
    _registry: RegistryRepository = registry
    _monitoring: MonitoringRepository = monitoring
    _predictions: PredictionIndex = predictions
    _mlflow: MlflowRepository = mlflow
    _blobs: BlobStore = blobs
    _remote: BlobStore = remote
