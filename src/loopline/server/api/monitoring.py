"""The REST API under /api/v1: monitoring."""

from __future__ import annotations

from fastapi import APIRouter

from loopline.serve.access import Key, Rule

router = APIRouter(prefix="/api/v1", tags=["monitoring"])

RULES: dict[Key, Rule] = {}
