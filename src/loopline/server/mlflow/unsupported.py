"""What loopline does not do (MLflow tracing, the prompt registry): refused loudly, with a 4xx
that names it, and nothing stored."""

from __future__ import annotations

from fastapi import APIRouter

from loopline.serve.access import Key, Rule

router = APIRouter()
RULES: dict[Key, Rule] = {}
