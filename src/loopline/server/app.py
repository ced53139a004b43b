"""`create_app(project)`: the FastAPI app over one Project, for `loopline server` and the tests.

`app.state.clock` is the server's idea of now (a callable returning an aware UTC datetime); the
tests replace it to expire leases without sleeping. Every route is behind server/access.py's
table; with `auth=False` (loopback only, `loopline server --no-auth`) every request acts as the
local admin.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from loopline import __version__
from loopline.core.errors import NotFound
from loopline.core.labeling import LabelProject
from loopline.serve.limits import BodyLimit, server_limits
from loopline.server import access, api, dashboard, errors, mlflow
from loopline.server.deps import utc_now
from loopline.server.mlflow import openapi as mlflow_openapi
from loopline.server.routers import annotate, blobs, health, monitor, pages

# No inline script or style, nothing from another origin: data in a page can never run as code.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class ProjectCache:
    """Label projects by name, read once per process: a project's name, labels and text field do
    not change after creation, and the labeling routes need them on every request."""

    def __init__(self, project: Any) -> None:
        self._project = project
        self._known: dict[str, LabelProject] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> LabelProject:
        found = self._known.get(name)
        if found is None:
            with self._lock:
                self._known = {p.name: p for p in self._project.annotate_projects()}
            found = self._known.get(name)
        if found is None:
            raise NotFound(
                f"no labeling project named {name!r}", hint="GET /api/annotate/projects lists them"
            )
        return found


def create_app(project: Any, *, clock: Callable[[], datetime] | None = None, auth: bool = True) -> FastAPI:
    app = FastAPI(
        title="loopline",
        version=__version__,
        description="Labeling REST API and web UI of a loopline project.",
    )
    app.state.project = project
    app.state.clock = clock or utc_now
    app.state.projects = ProjectCache(project)
    app.state.auth = auth
    errors.install(app, pages.render_error)
    access.install(app, pages.render_error)  # inside the headers below: refusals get them too

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if request.url.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    app.include_router(health.router)
    app.include_router(annotate.router)
    app.include_router(blobs.router)
    app.include_router(monitor.router)
    for router in api.ROUTERS:
        app.include_router(router)
    app.include_router(mlflow.router)
    mlflow_openapi.install(app)  # the MLflow routes described in /openapi.json too
    for router in dashboard.ROUTERS:
        app.include_router(router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=str(pages.UI / "static")), name="static")
    app.state.body_limits = limits = server_limits()  # `loopline server --max-body-bytes` sets it
    app.add_middleware(BodyLimit, limits=limits)  # added last: outermost, before auth and parsing
    return app
