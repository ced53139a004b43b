"""A Project's audit log: listing, verifying, exporting and the head to publish (docs/audit.md).
The events themselves are appended by the store's write path (project/_stores.py)."""

from __future__ import annotations

import io
from functools import cached_property
from pathlib import Path
from typing import IO, TYPE_CHECKING, BinaryIO

from loopline.core.errors import InvalidInput

if TYPE_CHECKING:
    from loopline.core.audit import Head
    from loopline.project._stores import Stores
    from loopline.store.metadata.audit import AuditEvent, AuditLog, Verified


class Audit:
    def __init__(self, stores: Stores) -> None:
        self.stores = stores

    @cached_property
    def log(self) -> AuditLog:
        from loopline.store.metadata.audit import AuditLog

        return AuditLog(self.stores.meta)

    def audit_log(
        self,
        object: str | None = None,
        actor: str | None = None,
        limit: int | None = None,
        *,
        action: str | None = None,
        offset: int = 0,
    ) -> list[AuditEvent]:
        """Events newest first, skipping `offset`; `object` matches itself and what is inside it
        (iris: iris@3); `action` one action (model.promote) or, ending in a dot, a family."""
        if limit is not None and limit < 1:
            raise InvalidInput(f"limit must be at least 1, not {limit}")
        if offset < 0:
            raise InvalidInput(f"offset must be at least 0, not {offset}")
        return self.log.events(object=object, actor=actor, action=action, limit=limit, offset=offset)

    def audit_verify(self, head: str | None = None) -> Verified:
        """Walk the hash chain; `head` (SEQ:HASH or HASH, from `audit head`) must still be in it."""
        if head is not None:
            from loopline.core.audit import parse_head

            try:
                parse_head(head)
            except ValueError as exc:
                raise InvalidInput(str(exc), hint="`loopline audit head` prints SEQ:HASH") from None
        return self.log.verify(head)

    def audit_export(self, target: Path | IO[str]) -> int:
        """Every event as JSON Lines, to a file (written atomically) or a text stream."""
        if not isinstance(target, Path):
            return self.log.export(target)
        from loopline.store.files import atomic_write

        count = 0

        def write(handle: BinaryIO) -> None:
            nonlocal count
            text = io.TextIOWrapper(handle, encoding="utf-8", newline="\n", write_through=True)
            count = self.log.export(text)
            text.flush()
            text.detach()

        atomic_write(target, write)
        return count

    def audit_head(self) -> Head | None:
        return self.log.head()
