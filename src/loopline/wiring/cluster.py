"""What a Dask worker needs to reach a project's stores without its folder: the metadata store's
URL, the blob store's URL and the actor its writes are recorded by, nothing else.

Fleet monitoring and batch scoring ship a StoreUrls in each task; the worker opens the stores
from it (its blob reads cached in its own temp folder), so a worker on another machine never
reads loopline.yaml or anything beside it. A cluster by address may be such a worker, so a store
it could not reach (a SQLite file, a local blob folder) is refused before connecting, the same
way the pipeline executor refuses a local blob folder (pipeline/executors/dask.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from loopline.core.errors import InvalidInput

if TYPE_CHECKING:
    from loopline.core.settings import Settings
    from loopline.store.blobs import BlobStore
    from loopline.store.metadata import MetadataStore


@dataclass(frozen=True)
class StoreUrls:
    """The stores of a project by URL (picklable: it travels in Dask tasks). The metadata URL
    may hold a password, as the project's settings do: it reaches the scheduler and the workers,
    which must be trusted with the database anyway."""

    store_url: str
    blobs_url: str
    user: str = "unknown"

    @classmethod
    def of(cls, settings: Settings) -> StoreUrls:
        return cls(settings.store_url, settings.blobs_url, settings.user)

    def check_reachable(self, address: str, *, metadata: bool = True) -> None:
        """InvalidInput when workers at `address`, which may share no disk with this machine,
        would need a store only this machine has (`metadata`: whether they open the database)."""
        from loopline.pipeline.executors.dask import check_shared_blobs

        check_shared_blobs(address, self.blobs_url)
        if metadata and self.store_url.startswith("sqlite"):
            raise InvalidInput(
                f"the project's metadata store is a SQLite file of this machine, which the Dask "
                f"workers at {address} cannot reach (they share no disk with the project)",
                where=self.store_url.split("///", 1)[-1] or self.store_url,
                hint="keep the metadata in a database every worker reaches (`project: store: "
                "postgresql+psycopg://user@host/db` in loopline.yaml, or LOOPLINE_STORE); or "
                "leave out --dask-address for a LocalCluster on this machine",
            )

    def meta(self) -> MetadataStore:
        from loopline.store.metadata import MetadataStore
        from loopline.store.metadata.audit import append

        return MetadataStore(self.store_url, actor=self.user, journal=append)

    def blobs(self) -> BlobStore:
        """The blob store; a remote one caches its reads in this machine's temp folder."""
        from loopline.store.blobs import open_blob_store

        return open_blob_store(self.blobs_url)
