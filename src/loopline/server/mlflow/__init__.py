"""The MLflow REST API (tracking, MLflow 3 logged models, registry) and the proxied artifact API,
so the unchanged MLflow client works with `MLFLOW_TRACKING_URI` set to `loopline server`.

`router` holds every route, the catch-all 404s (`ENDPOINT_NOT_FOUND`) last. With
`app.state.require_token` set (`loopline server --require-token`), every MLflow request needs
`Authorization: Bearer TOKEN` (MLFLOW_TRACKING_TOKEN) of an active annotator; moving an alias
needs a manager's or an admin's.
"""

from __future__ import annotations

from fastapi import APIRouter

from loopline.server.mlflow import artifacts, experiments, models, runs
from loopline.server.mlflow.protocol import API as _API

router = APIRouter()
# One flat list (an included router is matched as a nested unit), the training loop's metric
# writes first since routes are matched in order; the ENDPOINT_NOT_FOUND fallbacks last.
_HOT = {f"{_API}/runs/log-batch", f"{_API}/runs/log-metric"}
for _part in (runs.router, experiments.router, models.router, artifacts.router):
    router.routes.extend(sorted(_part.routes, key=lambda route: getattr(route, "path", "") not in _HOT))
router.routes.extend(artifacts.fallback.routes)

__all__ = ["router"]
