"""Liveness for load balancers and the tests: no token, no store call."""

from __future__ import annotations

from fastapi import APIRouter

from loopline import __version__

router = APIRouter(tags=["health"])


@router.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok", "version": __version__}
