"""Shapes of data (REST API and CLI --json), and the client's calls for them."""

from __future__ import annotations

from loopline.api.transport import Transport


class DataCalls(Transport):
    """`loopline.Client`'s calls of /api/v1 for data."""
