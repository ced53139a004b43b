"""MLflow's multipart artifact upload (MLFLOW_ENABLE_MULTIPART_UPLOAD) on loopline's blob store."""

from __future__ import annotations

from fastapi import APIRouter

from loopline.serve.access import Key, Rule

router = APIRouter()
RULES: dict[Key, Rule] = {}
