"""The audit log on SQLAlchemy: one hash-chained event per metadata change, appended by the
Database's journal inside the change's own transaction (so both commit or neither does).

Who acted comes from core.identity.current() when a principal is set (the server sets it per
request, with how it authenticated and the request id), else from the Change (the store's actor)
with auth "local". The chain's hash is core/audit.py's; `verify` walks the rows in seq order and
also checks the head row appenders lock, so a tail cut without updating it is caught even with
no kept head.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

import sqlalchemy as sa

from loopline.core.audit import FIELDS, Break, Head, event_hash, verify_events
from loopline.core.identity import current
from loopline.store.metadata.database import Change, Database, HasDatabase, as_database
from loopline.store.metadata.tables import audit_events, audit_head

__all__ = ["AuditEvent", "AuditLog", "Verified", "append"]

_SEPARATORS = (",", ":")
# Built once: a statement made per write costs more to build than to run (measured: the
# append took 60% of a metric write when its statements were made each time).
_HEAD = sa.select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1).with_for_update()
_INSERT = audit_events.insert()
_MOVE_HEAD = (
    audit_head.update()
    .where(audit_head.c.id == 1)
    .values(seq=sa.bindparam("new_seq"), hash=sa.bindparam("new_hash"))
)


def _json(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, separators=_SEPARATORS, ensure_ascii=False, default=str)


def append(conn: sa.Connection, change: Change) -> None:
    """The journal: add `change` as the next event of the chain, on the write's connection."""
    who = current()
    actor, auth, request_id = (who.name, who.auth, who.request_id) if who else (change.actor, "local", None)
    head = conn.execute(_HEAD).one()
    event: dict[str, Any] = {
        "seq": int(head.seq) + 1,
        "at": datetime.now(UTC).isoformat(timespec="microseconds"),
        "actor": actor,
        "auth": auth,
        "action": change.action,
        "object": change.object,
        "before": _json(change.before),
        "after": _json(change.after),
        "request_id": request_id,
        "prev_hash": head.hash,
    }
    event["hash"] = event_hash(event)
    conn.execute(_INSERT, event)
    conn.execute(_MOVE_HEAD, {"new_seq": event["seq"], "new_hash": event["hash"]})


@dataclass(frozen=True)
class AuditEvent:
    seq: int
    at: str
    actor: str
    auth: str
    action: str
    object: str
    before: str | None  # JSON text, as hashed
    after: str | None
    request_id: str | None
    prev_hash: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in (*FIELDS, "hash")}


@dataclass(frozen=True)
class Verified:
    """What `verify` found: how many events, the last one, and the first break (None: intact)."""

    events: int
    head: Head | None
    broken: Break | None

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.broken is None,
            "events": self.events,
            "head": None if self.head is None else {"seq": self.head.seq, "hash": self.head.hash},
            "broken": None
            if self.broken is None
            else {"seq": self.broken.seq, "problem": self.broken.problem},
        }


def _event(row: Any) -> AuditEvent:
    return AuditEvent(**{name: getattr(row, name) for name in (*FIELDS, "hash")})


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class AuditLog:
    """Reads of the chain: listing, verifying, exporting, its head."""

    def __init__(self, db: Database | HasDatabase) -> None:
        self._db = as_database(db)

    def events(
        self,
        *,
        object: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[AuditEvent]:
        """Newest first, skipping `offset`. `object` matches itself and what is inside it
        (iris: iris@3, iris#7); `action` is one (dataset.add) or a family (dataset.)."""
        c = audit_events.c
        query = sa.select(audit_events).order_by(c.seq.desc())
        if object is not None:
            inside = [c.object.like(_like(object) + sep + "%", escape="\\") for sep in "@#:/"]
            query = query.where(sa.or_(c.object == object, *inside))
        if actor is not None:
            query = query.where(c.actor == actor)
        if action is not None:
            family = action.endswith(".")
            query = query.where(
                c.action.like(_like(action) + "%", escape="\\") if family else c.action == action
            )
        if limit is not None:
            query = query.limit(limit)
        if offset:
            query = query.offset(offset)
        with self._db.read() as conn:
            return [_event(row) for row in conn.execute(query)]

    def iter_events(self) -> Iterator[AuditEvent]:
        """Every event, oldest first, read in batches (a long log is never held whole)."""
        query = sa.select(audit_events).order_by(audit_events.c.seq)
        with self._db.read() as conn:
            for row in conn.execution_options(yield_per=1000).execute(query):
                yield _event(row)

    def head(self) -> Head | None:
        """The last event's seq and hash (None while the log is empty)."""
        with self._db.read() as conn:
            row = conn.execute(
                sa.select(audit_events.c.seq, audit_events.c.hash)
                .order_by(audit_events.c.seq.desc())
                .limit(1)
            ).first()
        return None if row is None else Head(int(row.seq), row.hash)

    def verify(self, head: str | None = None) -> Verified:
        """Walk the chain; `head` is a kept SEQ:HASH (or HASH) the chain must still hold."""
        count = 0

        def counted() -> Iterator[dict[str, Any]]:
            nonlocal count
            for event in self.iter_events():
                count += 1
                yield event.to_json()

        last, broken = verify_events(counted(), head)
        if broken is None:
            broken = self._check_head_row(last)
        return Verified(count, last, broken)

    def _check_head_row(self, last: Head | None) -> Break | None:
        with self._db.read() as conn:
            row = conn.execute(sa.select(audit_head).where(audit_head.c.id == 1)).first()
        end = last.seq if last else 0
        if row is None:
            return Break(end + 1, "the audit log's head row is gone")
        if int(row.seq) > end:
            return Break(
                end + 1,
                f"the log ends at event {end} but the store's head records event {row.seq}: its tail was cut",
            )
        if int(row.seq) < end:
            return Break(int(row.seq) + 1, f"event {int(row.seq) + 1} and after were added outside loopline")
        if last is not None and row.hash != last.hash:
            return Break(end, f"event {end} is not the one the store's head records")
        return None

    def export(self, out: IO[str]) -> int:
        """Write every event as JSON Lines (oldest first); the number written."""
        n = 0
        for event in self.iter_events():
            out.write(json.dumps(event.to_json(), ensure_ascii=False) + "\n")
            n += 1
        return n
