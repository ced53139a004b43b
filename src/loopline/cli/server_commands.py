"""`loopline server`: the labeling REST API and web UI of the project, on uvicorn."""

from __future__ import annotations

import gc
from typing import Annotated

import typer

from loopline.cli.common import AUTH, check_bind, open_local_project
from loopline.cli.render import console


def server(
    host: Annotated[
        str, typer.Option(help="Interface to listen on; 0.0.0.0 opens it to the network.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level.")] = "info",
    auth: AUTH = True,
    max_body_bytes: Annotated[
        int, typer.Option(min=1024, help="Largest JSON or form body a route takes (else 413).")
    ] = 1 << 20,
    max_upload_bytes: Annotated[
        int,
        typer.Option(
            min=1024,
            help="Largest MLflow artifact upload or remote `loopline add` file (streamed, never held whole).",
        ),
    ] = 5 << 30,
) -> None:
    """Serve the dashboard, annotation UI, REST API and MLflow API; every route needs a token of the
    project's users (`loopline users add`), unless --no-auth on loopback."""
    import uvicorn

    from loopline.serve.limits import server_limits
    from loopline.server import create_app

    check_bind(host, auth)
    project = open_local_project()
    app = create_app(project, auth=auth)
    app.state.body_limits.default = max_body_bytes
    app.state.body_limits.rules = server_limits(max_body_bytes, max_upload_bytes).rules
    # Everything loaded so far lives as long as the server: keep it out of the collector's
    # full passes, which otherwise grow with it and stall requests (p99 of a 1,000-model
    # listing: 130 ms without, 36 ms with, measured by benchmarks/registry.py).
    gc.collect()
    gc.freeze()
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    console.print(f"loopline server for {project.root} on http://{shown}:{port}/ (Ctrl+C stops it)")
    try:
        uvicorn.run(app, host=host, port=port, log_level=log_level, proxy_headers=False)
    finally:
        project.close()


def register(app: typer.Typer) -> None:
    app.command()(server)
