"""Times as the metadata stores keep them: written in UTC (SQLite keeps the wall time and drops
the offset), read back aware (a naive value from SQLite is UTC)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload


def utc_now() -> datetime:
    return datetime.now(UTC)


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: None) -> None: ...
def as_utc(value: datetime | None) -> datetime | None:
    """A time to write (or compare with): in UTC; a naive one is taken to be UTC already."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@overload
def as_aware(value: datetime) -> datetime: ...
@overload
def as_aware(value: None) -> None: ...
def as_aware(value: datetime | None) -> datetime | None:
    """A time read back: a naive one is UTC; an aware one stays as it is."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
