"""Dashboard pages: labeling."""

from __future__ import annotations

from fastapi import APIRouter

from loopline.serve.access import Key, Rule

router = APIRouter(include_in_schema=False)

RULES: dict[Key, Rule] = {}
