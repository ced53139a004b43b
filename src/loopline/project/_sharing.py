"""A Project's blobs shared with a remote store: push and pull (store/transfer.py), to the
`remote:` of loopline.yaml's `project:` section (or LOOPLINE_REMOTE, or the URL given)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from loopline.core.errors import InvalidInput

if TYPE_CHECKING:
    from loopline.project._stores import Stores
    from loopline.store.blobs import BlobStore
    from loopline.store.transfer import TransferReport


class Sharing:
    def __init__(self, stores: Stores) -> None:
        self.stores = stores

    def _remote(self, url: str | None) -> BlobStore:
        from loopline.store.blobs import open_blob_store

        chosen = url or self.stores.settings.remote_url
        if not chosen:
            raise InvalidInput(
                "no remote blob store to push to or pull from",
                where=str(self.stores.file.path),
                hint="pass --remote s3://BUCKET/PREFIX, or set `remote:` in loopline.yaml's `project:`",
            )
        return open_blob_store(chosen, cache=self.stores.settings.blob_cache)

    def push(
        self, remote: str | None = None, on_progress: Callable[[int, int], None] | None = None
    ) -> TransferReport:
        """Send the blobs this project's metadata points at and the remote lacks."""
        from loopline.store.transfer import push

        return push(self.stores.meta, self.stores.blobs, self._remote(remote), on_progress)

    def pull(
        self, remote: str | None = None, on_progress: Callable[[int, int], None] | None = None
    ) -> TransferReport:
        """Fetch the blobs this project's metadata points at and its blob folder lacks."""
        from loopline.store.transfer import pull

        return pull(self.stores.meta, self.stores.blobs, self._remote(remote), on_progress)
