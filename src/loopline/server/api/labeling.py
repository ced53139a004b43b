"""The REST API under /api/v1: labeling."""

from __future__ import annotations

from fastapi import APIRouter

from loopline.serve.access import Key, Rule

router = APIRouter(prefix="/api/v1", tags=["labeling"])

RULES: dict[Key, Rule] = {}
