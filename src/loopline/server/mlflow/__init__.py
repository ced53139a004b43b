"""The MLflow REST API (tracking, MLflow 3 logged models, registry) and the proxied artifact API,
so the unchanged MLflow client works with `MLFLOW_TRACKING_URI` set to `loopline server`.

`router` holds every route, the catch-all 404s (`ENDPOINT_NOT_FOUND`) last. Who may call which
is server/access.py's table: by default every request needs MLFLOW_TRACKING_TOKEN (or
MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, the password a token of that user).
"""

from __future__ import annotations

from fastapi import APIRouter

from loopline.serve.access import Key as _Key
from loopline.serve.access import Rule as _Rule
from loopline.server.mlflow import (
    artifacts,
    experiments,
    lifecycle,
    models,
    multipart,
    runs,
    search,
    stages,
    unsupported,
)
from loopline.server.mlflow.protocol import API as _API

router = APIRouter()
# One flat list (an included router is matched as a nested unit), the training loop's metric
# writes first since routes are matched in order; the ENDPOINT_NOT_FOUND fallbacks last.
_HOT = {f"{_API}/runs/log-batch", f"{_API}/runs/log-metric"}
_MODULES = (runs, experiments, models, search, lifecycle, stages, multipart, unsupported, artifacts)
for _part in (module.router for module in _MODULES):
    router.routes.extend(sorted(_part.routes, key=lambda route: getattr(route, "path", "") not in _HOT))
router.routes.extend(artifacts.fallback.routes)

# Who may call which route (server/access.py guards them all): each module's rules, beside its routes.
RULES: dict[_Key, _Rule] = {}
for _module in _MODULES:
    RULES |= _module.RULES

__all__ = ["RULES", "router"]
