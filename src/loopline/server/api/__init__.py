"""The REST API under /api/v1 (one router per area, shapes in loopline.api), with each route's
rule beside it: `RULES` merges the areas' tables into server/access.py's."""

from __future__ import annotations

from fastapi import APIRouter

from loopline.serve.access import Key as _Key
from loopline.serve.access import Rule as _Rule
from loopline.server.api import audit, data, experiments, files, labeling, models, monitoring, pipeline

AREAS = (data, files, pipeline, experiments, models, monitoring, labeling, audit)
__all__ = ["AREAS", "ROUTERS", "RULES"]

ROUTERS: tuple[APIRouter, ...] = tuple(area.router for area in AREAS)
RULES: dict[_Key, _Rule] = {key: rule for area in AREAS for key, rule in area.RULES.items()}
