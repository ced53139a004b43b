"""`Page[T]`: one page of a list endpoint, and the opaque token that asks for the next.

A token is the offset of the next item, base64-encoded so that clients treat it as opaque (the
store may page by key later without changing the API). `limit` is capped at `MAX_LIMIT`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Generic, TypeVar

from pydantic import BaseModel, Field

from loopline.core.errors import InvalidInput

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000


class Page(BaseModel, Generic[T]):
    """Items of one page; `next_page_token` asks for the next page (None: this is the last)."""

    items: list[T]
    next_page_token: str | None = Field(None, description="pass as page_token for the next page")


def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o{offset}".encode()).decode().rstrip("=")


def decode_token(token: str | None) -> int:
    """The offset a page token stands for (0 for none); InvalidInput for a token not ours."""
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        if not text.startswith("o"):
            raise ValueError(text)
        offset = int(text[1:])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput(
            f"page_token {token[:40]!r} is not one this server gave",
            hint="pass the next_page_token of the previous page, or no token for the first",
        ) from None
    if not 0 <= offset < 2**62:  # beyond: no store could page there (SQLite's OFFSET is 64-bit)
        raise InvalidInput(f"page_token {token[:40]!r} is not one this server gave")
    return offset


def clamp_limit(limit: int | None) -> int:
    return DEFAULT_LIMIT if limit is None else max(1, min(int(limit), MAX_LIMIT))


def page_of(items: Sequence[T], offset: int, limit: int, *, more: bool | None = None) -> Page[T]:
    """The page of `items` (already the slice [offset, offset+limit], or one more to tell whether
    a next page exists: pass limit+1 items and more=None)."""
    if more is None:
        more = len(items) > limit
    return Page[T](items=list(items[:limit]), next_page_token=encode_token(offset + limit) if more else None)
