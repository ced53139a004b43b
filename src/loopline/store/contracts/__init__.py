"""The contracts of loopline's stores: what every metadata store and blob store must do.

The rest of loopline talks to storage through these Protocols, so a new store (another database,
an object store) is a class that implements them and passes `loopline.testing`'s checks
(`check_metadata_store`, `check_blob_store`; docs/stores.md). The SQL classes in store/metadata/
and `LocalBlobStore` are today's implementations, held to these signatures by mypy (the
`store/contracts/_implementations.py`). Docstrings state what must hold, not how.

Common to every method: unknown names, ids or versions raise `NotFound`; a write that clashes with
what is stored raises `Conflict`; bad values raise `InvalidInput` before anything is written; a
method that raises leaves the store as it was (one transaction); a read after a write returns what
was written, on any connection of the same store. Times are timezone-aware.

Nothing is imported at run time beyond `typing`: the record types are for the type checker, so
the blob store's module (on `loopline add`'s fast path) can take its Protocol from here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loopline.store.contracts.blobs import BlobStore, StatKey
    from loopline.store.contracts.metadata import (
        AnnotationRepository,
        ArtifactRepository,
        MetadataRepository,
        RunRepository,
        SealedTestRepository,
        TrackingRepository,
        UserRepository,
    )
    from loopline.store.contracts.models import (
        MlflowRepository,
        MonitoringRepository,
        PredictionIndex,
        RegistryRepository,
    )

__all__ = [
    "AnnotationRepository",
    "ArtifactRepository",
    "BlobStore",
    "MetadataRepository",
    "MlflowRepository",
    "MonitoringRepository",
    "PredictionIndex",
    "RegistryRepository",
    "RunRepository",
    "SealedTestRepository",
    "StatKey",
    "TrackingRepository",
    "UserRepository",
]

# Where each name lives: loaded on first use, so that store/blobs.py (on `loopline add`'s path)
# pays for the blob contract only, not for building every metadata Protocol class.
_HOME = {
    "BlobStore": "blobs",
    "StatKey": "blobs",
    "AnnotationRepository": "metadata",
    "ArtifactRepository": "metadata",
    "MetadataRepository": "metadata",
    "RunRepository": "metadata",
    "SealedTestRepository": "metadata",
    "TrackingRepository": "metadata",
    "UserRepository": "metadata",
    "MlflowRepository": "models",
    "MonitoringRepository": "models",
    "PredictionIndex": "models",
    "RegistryRepository": "models",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'loopline.store.contracts' has no attribute {name!r}")
    return getattr(importlib.import_module(f"loopline.store.contracts.{_HOME[name]}"), name)
