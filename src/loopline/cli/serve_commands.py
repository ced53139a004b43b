"""`loopline serve`: a registered model over HTTP on uvicorn; `loopline score`: batch scoring of a
dataset into a table artifact. Each parses, makes one Project call and renders."""

from __future__ import annotations

import gc
from typing import Annotated

import typer

from loopline.cli.common import AUTH, JSON, check_bind, emit_json, open_project
from loopline.cli.render import console


def serve(
    model: Annotated[
        str | None, typer.Argument(help="Registered model (default: the only one registered).")
    ] = None,
    alias: Annotated[
        str, typer.Option("--alias", "-a", help="The alias to serve and follow.")
    ] = "production",
    canary: Annotated[
        str | None, typer.Option(help="A candidate alias that answers a share of the traffic.")
    ] = None,
    canary_share: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of requests (by request id) for --canary.")
    ] = 0.1,
    shadow: Annotated[
        str | None, typer.Option(help="A candidate alias that also predicts; logged, never returned.")
    ] = None,
    host: Annotated[str, typer.Option(help="Interface; 0.0.0.0 opens it to the network.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8080,
    max_body_bytes: Annotated[
        int, typer.Option(min=64, help="Larger request bodies are refused (413).")
    ] = 1_048_576,
    poll_seconds: Annotated[
        float, typer.Option(min=0.05, help="How often to check whether the aliases moved.")
    ] = 2.0,
    log_predictions: Annotated[
        bool, typer.Option("--log/--no-log", help="Write every prediction to the prediction log.")
    ] = True,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level.")] = "warning",
    auth: AUTH = True,
) -> None:
    """Serve a registered model: POST /predict, POST /feedback, /health, /ready, /metrics, /model
    (all but /health and /ready need a token of the project's users, unless --no-auth)."""
    import uvicorn

    check_bind(host, auth)
    project = open_project()
    app = project.serving_app(
        model,
        alias,
        canary=canary,
        canary_share=canary_share,
        shadow=shadow,
        max_body_bytes=max_body_bytes,
        poll_seconds=poll_seconds,
        log_predictions=log_predictions,
        auth=auth,
    )
    gc.collect()
    gc.freeze()  # what is loaded now lives as long as the server: keep it out of full collections
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    name = app.state.service.name
    console.print(f"serving {name}@{alias} on http://{shown}:{port}/predict (Ctrl+C stops it)")
    try:
        uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False, proxy_headers=False)
    finally:
        project.close()


def score(
    model: Annotated[str, typer.Argument(help="Registered model name.")],
    dataset: Annotated[str, typer.Argument(help="The table to score: NAME, NAME@VERSION or an id.")],
    alias: Annotated[
        str | None, typer.Option("--alias", "-a", help="Version by alias (default: production, else latest).")
    ] = None,
    output: Annotated[str | None, typer.Option(help="Name of the scores artifact.")] = None,
    executor: Annotated[str, typer.Option(help="local or dask.")] = "local",
    partitions: Annotated[int, typer.Option(min=1, help="Row partitions scored in parallel.")] = 4,
    dask_address: Annotated[
        str | None, typer.Option(help="A Dask scheduler (default: a LocalCluster).")
    ] = None,
    as_json: JSON = False,
) -> None:
    """Score every row of a dataset with a registered model into a table artifact (item ids or
    key columns, prediction, confidence), with lineage to the model and the dataset."""
    result = open_project().score(
        model,
        dataset,
        alias=alias,
        output=output,
        executor=executor,
        partitions=partitions,
        dask_address=dask_address,
    )
    if as_json:
        emit_json(result)
        return
    console.print(
        f"scored {result['rows']} rows of {result['dataset']} with {result['model']} "
        f"v{result['version']} -> {result['output']}@{result['output_version']} "
        f"({result['artifact_id'][:12]})"
    )


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(score)
