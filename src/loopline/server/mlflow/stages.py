"""MLflow's stage-based registry (deprecated in MLflow, still in many deploy scripts), mapped
onto loopline's aliases."""

from __future__ import annotations

from fastapi import APIRouter

from loopline.serve.access import Key, Rule

router = APIRouter()
RULES: dict[Key, Rule] = {}
