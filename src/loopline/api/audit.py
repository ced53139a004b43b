"""Shapes of audit (REST API and CLI --json), and the client's calls for them: an event as
`loopline audit log --json` prints it (with its hashes, so a client can check the links itself),
the chain's verify result (`audit verify --json`) and its head (`audit head --json`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from loopline.api.paging import Page
from loopline.api.transport import Transport

if TYPE_CHECKING:
    from loopline.core.audit import Head
    from loopline.store.metadata.audit import AuditEvent, Verified

_FORBID = ConfigDict(extra="forbid")


class AuditEventOut(BaseModel):
    """One change: who (and how authenticated), what, on which object, before and after."""

    model_config = _FORBID
    seq: int
    at: str
    actor: str
    auth: str
    action: str
    object: str
    before: str | None = Field(description="the object before, as JSON text (as hashed)")
    after: str | None = Field(description="the object after, as JSON text (as hashed)")
    request_id: str | None
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, event: AuditEvent) -> AuditEventOut:
        return cls.model_validate(event.to_json())


class AuditHead(BaseModel):
    """The last event's seq and hash: publish it, `audit verify --head SEQ:HASH` checks it later."""

    model_config = _FORBID
    seq: int
    hash: str

    @classmethod
    def of(cls, head: Head | None) -> AuditHead | None:
        return None if head is None else cls(seq=head.seq, hash=head.hash)


class AuditBreak(BaseModel):
    """The first broken link of the chain."""

    model_config = _FORBID
    seq: int
    problem: str


class AuditVerified(BaseModel):
    """What walking the chain found: `ok` unless `broken` names the first broken link."""

    model_config = _FORBID
    ok: bool
    events: int
    head: AuditHead | None
    broken: AuditBreak | None

    @classmethod
    def of(cls, found: Verified) -> AuditVerified:
        return cls.model_validate(found.to_json())


class AuditCalls(Transport):
    """`loopline.Client`'s calls of /api/v1 for audit."""

    def audit_log(
        self,
        *,
        object: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        limit: int | None = None,
        page_token: str | None = None,
    ) -> Page[AuditEventOut]:
        """One page of events, newest first."""
        params = {
            "object": object,
            "actor": actor,
            "action": action,
            "limit": limit,
            "page_token": page_token,
        }
        return Page[AuditEventOut].model_validate(self._get("/audit", params))

    def audit_verify(self, head: str | None = None) -> AuditVerified:
        return AuditVerified.model_validate(self._get("/audit/verify", {"head": head}))

    def audit_head(self) -> AuditHead | None:
        found = self._get("/audit/head")
        return None if found is None else AuditHead.model_validate(found)
