"""The REST API under /api/v1: models."""

from __future__ import annotations

from fastapi import APIRouter

from loopline.serve.access import Key, Rule

router = APIRouter(prefix="/api/v1", tags=["models"])

RULES: dict[Key, Rule] = {}
