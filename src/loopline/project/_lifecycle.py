"""A Project's lifecycle: delete and restore of runs, restore of registered models and versions
(the MLflow API deletes them too), and `gc`, which removes for good what was deleted."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from loopline.store.metadata.times import utc_now

if TYPE_CHECKING:
    from loopline.project._stores import Stores
    from loopline.store.metadata.gc import GcReport


class Lifecycle:
    def __init__(self, stores: Stores) -> None:
        self.stores = stores

    def delete_run(self, run_id: str) -> str:
        """Soft-delete a run (by id or unique prefix); its full id."""
        full = self.stores.meta.get_run(run_id).id
        self.stores.meta.lifecycle.delete_run(full)
        return full

    def restore_run(self, run_id: str) -> str:
        full = self.stores.meta.get_run(run_id).id
        self.stores.meta.lifecycle.restore_run(full)
        return full

    def delete_model(self, name: str, version: int | None = None, reason: str = "") -> list[str]:
        """Soft-delete a registered model, or one version; the aliases removed (under the policy)."""
        registry = self.stores.registry
        if version is None:
            return registry.delete_model(name, reason)
        return registry.delete_version(name, version, reason)

    def restore_model(self, name: str, version: int | None = None, reason: str = "") -> int:
        """Restore a deleted model (with the versions deleted with it) or one version; how many
        versions came back."""
        return self.stores.registry.restore(name, version, reason)

    def gc(self, older_than: timedelta | None = None, *, dry_run: bool = False) -> GcReport:
        """Remove for good what was deleted at least `older_than` ago (everything deleted: None)."""
        before = utc_now() - (older_than or timedelta(0))
        return self.stores.meta.gc(before, dry_run=dry_run)
