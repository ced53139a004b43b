"""The dashboard: server-rendered pages of the whole loop (data → labels → runs → models →
deployments → monitoring → audit), one module per area, each with its routes' rules beside them.
Pages read through the same Project calls and loopline.api shapes as the REST API."""

from __future__ import annotations

from fastapi import APIRouter

from loopline.serve.access import Key as _Key
from loopline.serve.access import Rule as _Rule
from loopline.server.dashboard import audit, data, home, labeling, models, monitoring, pipeline, runs

AREAS = (home, runs, pipeline, data, models, monitoring, labeling, audit)
__all__ = ["AREAS", "ROUTERS", "RULES"]

ROUTERS: tuple[APIRouter, ...] = tuple(area.router for area in AREAS)
RULES: dict[_Key, _Rule] = {key: rule for area in AREAS for key, rule in area.RULES.items()}
