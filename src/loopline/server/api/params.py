"""Query parameters the list endpoints and the dashboard's list pages share: one declaration of
each bound, so every list pages alike (`limit` 1..1000, default 50; a page token this server
gave, at most 64 characters: an offset's token is under 30)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Query

from loopline.api.paging import DEFAULT_LIMIT, MAX_LIMIT

__all__ = ["DEFAULT_LIMIT", "NO_NUL", "Limit", "PageToken", "When"]

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"items per page (default {DEFAULT_LIMIT})")]
PageToken = Annotated[str | None, Query(max_length=64, description="next_page_token of the previous page")]
When = Annotated[datetime | None, Query(description="ISO 8601; naive means UTC")]
NO_NUL = r"^[^\x00]*$"  # PostgreSQL cannot compare text holding NUL: such a filter is a 422
