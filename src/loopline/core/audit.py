"""The audit log's hash chain: how an event is hashed and how a chain is checked, on plain
dictionaries, so an export can be verified offline with nothing but this module (or the few
lines of docs/audit.md).

An event's hash is SHA-256 of the canonical JSON of its fields (FIELDS, `prev_hash` among them;
keys sorted, no spaces, UTF-8, non-ASCII kept as is). The first event's `prev_hash` is GENESIS;
each later one's is the hash of the event before it. Editing, deleting, inserting or reordering
an event changes a hash or breaks a link; a head (seq and hash) kept elsewhere also catches a
truncated tail.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["FIELDS", "GENESIS", "Break", "Head", "event_hash", "parse_head", "verify_events"]

FIELDS = (
    "seq",
    "at",
    "actor",
    "auth",
    "action",
    "object",
    "before",
    "after",
    "request_id",
    "prev_hash",
)
GENESIS = "0" * 64


@dataclass(frozen=True)
class Head:
    """The last event of a chain: what `loopline audit head` prints to publish elsewhere."""

    seq: int
    hash: str


@dataclass(frozen=True)
class Break:
    """The first broken link: the event's seq and what is wrong there."""

    seq: int
    problem: str


def event_hash(event: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of the event's FIELDS."""
    fields = {name: event.get(name) for name in FIELDS}
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse_head(text: str) -> tuple[int | None, str]:
    """A kept head as `SEQ:HASH` or `HASH` (64 hex digits)."""
    seq_text, _, digest = text.strip().rpartition(":")
    digest = digest.lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"{text!r} is not a head: give SEQ:HASH or the 64 hex digits of a hash")
    if seq_text and not seq_text.isdigit():
        raise ValueError(f"{text!r} is not a head: SEQ must be a number")
    return (int(seq_text) if seq_text else None), digest


def verify_events(
    events: Iterable[Mapping[str, Any]], head: str | None = None
) -> tuple[Head | None, Break | None]:
    """Walk the chain in order: (the last event's head, the first break or None). `head` is a
    kept `SEQ:HASH` (or HASH): the chain must hold that event, unchanged."""
    kept_seq, kept_hash = parse_head(head) if head else (None, None)
    last: Head | None = None
    seen_kept = False
    for event in events:
        seq = event.get("seq")
        expected_seq = 1 if last is None else last.seq + 1
        if not isinstance(seq, int) or seq != expected_seq:
            what = "is missing" if isinstance(seq, int) and seq > expected_seq else "is out of order"
            return last, Break(expected_seq, f"event {expected_seq} {what} (found seq {seq} there)")
        prev = GENESIS if last is None else last.hash
        if event.get("prev_hash") != prev:
            return last, Break(seq, f"event {seq} does not link to the event before it (prev_hash differs)")
        digest = event_hash(event)
        if event.get("hash") != digest:
            return last, Break(seq, f"event {seq} was changed: its fields do not give its hash")
        if kept_hash is not None and (seq == kept_seq or (kept_seq is None and digest == kept_hash)):
            if digest != kept_hash:
                return last, Break(seq, f"event {seq} is not the one of the head you kept")
            seen_kept = True
        last = Head(seq, digest)
    if kept_hash is not None and not seen_kept:
        end = last.seq if last else 0
        what = f"event {kept_seq}" if kept_seq is not None else "the event"
        return last, Break(
            end + 1, f"the log ends at event {end} and lacks {what} of the head you kept: its tail was cut"
        )
    return last, None
