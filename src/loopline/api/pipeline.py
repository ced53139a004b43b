"""Shapes of pipeline (REST API and CLI --json), and the client's calls for them."""

from __future__ import annotations

from loopline.api.transport import Transport


class PipelineCalls(Transport):
    """`loopline.Client`'s calls of /api/v1 for pipeline."""
