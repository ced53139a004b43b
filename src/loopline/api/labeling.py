"""Shapes of labeling (REST API and CLI --json), and the client's calls for them."""

from __future__ import annotations

from loopline.api.transport import Transport


class LabelingCalls(Transport):
    """`loopline.Client`'s calls of /api/v1 for labeling."""
