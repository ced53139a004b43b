"""`loopline server`: the labeling REST API and web UI of the project, on uvicorn."""

from __future__ import annotations

import gc
from typing import Annotated

import typer

from loopline.cli.common import open_project
from loopline.cli.render import console


def server(
    host: Annotated[
        str, typer.Option(help="Interface to listen on; 0.0.0.0 opens it to the network.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level.")] = "info",
    require_token: Annotated[
        bool,
        typer.Option(
            envvar="LOOPLINE_REQUIRE_TOKEN",
            help="MLflow API: every request needs an annotator's token (MLFLOW_TRACKING_TOKEN).",
        ),
    ] = False,
) -> None:
    """Serve the annotation UI and REST API (sign in with a token from `loopline users add`)."""
    import uvicorn

    from loopline.server import create_app

    project = open_project()
    app = create_app(project)
    app.state.require_token = require_token
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
