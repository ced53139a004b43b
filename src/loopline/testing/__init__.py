"""Conformance checks for loopline's stores, shipped with the package (as scikit-learn ships
`check_estimator`): a new metadata store or blob store implements the Protocols of
`loopline.store.contracts` and passes these checks.

    from loopline.testing import MetadataStores, check_blob_store, check_metadata_store

    check_metadata_store(lambda: MetadataStores.sql(fresh_database_url()))
    check_blob_store(lambda: MyBlobStore(fresh_bucket()))

Each check also stands alone (`metadata_store_checks()`, `blob_store_checks()`: named callables
that take the factory), so a test runner can report them one by one. Nothing here imports pytest.
"""

from loopline.testing.store_checks import (
    Check,
    blob_store_checks,
    check_blob_store,
    check_metadata_store,
    metadata_store_checks,
)
from loopline.testing.stores import MetadataStores

__all__ = [
    "Check",
    "MetadataStores",
    "blob_store_checks",
    "check_blob_store",
    "check_metadata_store",
    "metadata_store_checks",
]
