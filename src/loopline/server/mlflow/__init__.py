"""The MLflow REST API (tracking, MLflow 3 logged models, registry) and the proxied artifact API,
so the unchanged MLflow client works with `MLFLOW_TRACKING_URI` set to `loopline server`.

`router` holds every route, the catch-all 404s (`ENDPOINT_NOT_FOUND`) last. With
`app.state.require_token` set (`loopline server --require-token`), every MLflow request needs
`Authorization: Bearer TOKEN` (MLFLOW_TRACKING_TOKEN) of an active annotator; moving an alias
needs a manager's or an admin's.
"""

from __future__ import annotations

from fastapi import APIRouter

from loopline.server.mlflow import artifacts, experiments, models, tracking

router = APIRouter()
router.include_router(experiments.router)
router.include_router(tracking.router)
router.include_router(models.router)
router.include_router(artifacts.router)
router.include_router(artifacts.fallback)

__all__ = ["router"]
