"""Serving wired to the registry and the stores: a ready serving app (which model, which aliases,
where the prediction log goes and where it spools when the store is away), and `loopline score`
(a registered model over a dataset artifact, partitioned on the local process or a Dask cluster
whose workers read the model and their rows from the blob store by URL, recorded as a step run
so the scores' lineage names the model and the data)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopline.core.errors import InvalidInput, NotFound
from loopline.core.types import Artifact
from loopline.pipeline.runner import Runner
from loopline.registry import Registry
from loopline.serve.access import Identities
from loopline.serve.app import ServeOptions, create_serving_app
from loopline.serve.batch import key_columns, model_inputs, partition_bounds, score_frame
from loopline.serve.deployment import ModelService
from loopline.serve.inputs import InputSpec
from loopline.serve.recorder import PredictionRecorder
from loopline.store.artifacts import load_table, save_table, scan_table
from loopline.store.predictions import PredictionLog
from loopline.wiring.batch import score_partition

if TYPE_CHECKING:
    import polars as pl

    from loopline.wiring.cluster import StoreUrls

USES = "loopline.serve.batch:score_frame"


def _score_on_dask(
    stores: StoreUrls,
    model: Artifact,
    dataset: Artifact,
    bounds: list[tuple[int, int]],
    inputs: list[str],
    keys: list[str],
    dask_address: str | None,
) -> list[pl.DataFrame]:
    from distributed import Client, LocalCluster

    cluster = None
    if dask_address:
        client = Client(dask_address)
    else:
        cluster = LocalCluster(
            n_workers=min(2, len(bounds)),
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=40,
        )
        client = Client(cluster)
    try:
        futures = [
            client.submit(score_partition, stores.blobs_url, model, dataset, b, inputs, keys, pure=False)
            for b in bounds
        ]
        return list(client.gather(futures))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def score_dataset(
    runner: Runner,
    registry: Registry,
    model: str,
    dataset: Artifact,
    *,
    stores: StoreUrls,
    ref: str | None = None,
    output: str | None = None,
    executor: str = "local",
    partitions: int = 4,
    dask_address: str | None = None,
    keys: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Score the dataset in row partitions: here, or on Dask workers that read the model and
    their rows from the blob store by URL. The partitions are concatenated in order, so the
    scores artifact is the same on either executor."""
    import polars as pl

    started = time.perf_counter()
    if dataset.kind != "table":
        raise InvalidInput(f"{dataset.name or dataset.id[:12]} is a {dataset.kind}, not a table")
    if executor not in ("local", "dask"):
        raise InvalidInput(f"unknown executor {executor!r}", hint="local or dask")
    if executor == "dask" and dask_address:  # its workers may share no disk with this machine
        stores.check_reachable(dask_address, metadata=False)  # they read only blobs
    if ref is None:
        try:
            version = registry.resolve(model, "production")
        except NotFound:
            version = registry.resolve(model, None)
    else:
        version = registry.resolve(model, ref)
    estimator = registry.load(model, version.version)
    model_art = registry.artifact(version)
    inputs = list(InputSpec.from_signature(version.signature, estimator).names)
    if executor == "local":
        frame = load_table(runner.blobs, dataset)
        keys_used = key_columns(frame, keys)
        bounds = partition_bounds(frame.height, partitions)
        scored = [score_frame(estimator, frame.slice(a, b - a), inputs, keys_used, a) for a, b in bounds]
    else:
        lazy = scan_table(runner.blobs, dataset)  # the workers read the rows, not this process
        columns = pl.DataFrame(schema=lazy.collect_schema())
        keys_used = key_columns(columns, keys)
        model_inputs(columns, inputs)  # a missing input is refused here, before any worker
        bounds = partition_bounds(int(lazy.select(pl.len()).collect().item()), partitions)
        scored = _score_on_dask(stores, model_art, dataset, bounds, inputs, keys_used, dask_address)
    table = pl.concat(scored, how="vertical_relaxed") if len(scored) > 1 else scored[0]
    out = save_table(runner.blobs, table)
    name = output or f"{model}_scores"
    params = {"model": model, "version": version.version, "keys": keys_used}
    step_inputs = {dataset.name or "dataset": dataset.id, f"{model}_model": model_art.id}
    run_id = runner.record_step(
        f"score.{model}",
        USES,
        score_frame,
        params,
        step_inputs,
        {name: out},
        time.perf_counter() - started,
        executor,
    )
    stored = runner.meta.get_version(name)
    return {
        "run_id": run_id,
        "model": model,
        "version": version.version,
        "dataset": f"{dataset.name}@{dataset.version}" if dataset.name else dataset.id,
        "output": name,
        "output_version": stored.version,
        "artifact_id": out.id,
        "rows": table.height,
        "partitions": len(bounds),
        "executor": executor,
    }


def choose_model(registry: Registry, model: str | None) -> str:
    """The model named, or the only registered one."""
    if model:
        return model
    names = [m.name for m in registry.models()]
    if len(names) == 1:
        return names[0]
    if not names:
        raise NotFound("no registered models to serve", hint="`loopline register NAME ARTIFACT` adds one")
    raise InvalidInput(f"{len(names)} models are registered: say which one to serve", hint=", ".join(names))


def build_serving_app(
    registry: Registry,
    predictions: PredictionLog | None,
    spool_root: Path,
    model: str | None = None,
    alias: str = "production",
    *,
    canary: str | None = None,
    canary_share: float = 0.1,
    shadow: str | None = None,
    max_body_bytes: int = 1_048_576,
    poll_seconds: float = 2.0,
    flush_seconds: float = 0.5,
    tokens: Identities | None = None,
) -> Any:
    name = choose_model(registry, model)
    if max_body_bytes < 64:
        raise InvalidInput(f"a body limit of {max_body_bytes} bytes cannot hold one row")
    service = ModelService(
        registry,
        name,
        alias,
        canary=canary,
        canary_share=canary_share,
        shadow=shadow,
        poll_seconds=poll_seconds,
    )
    recorder = None
    post_truth = None
    if predictions is not None:
        folder = spool_root / re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        recorder = PredictionRecorder(predictions.write, folder, flush_seconds=flush_seconds)
        post_truth = predictions.post_truth
    options = ServeOptions(max_body_bytes=max_body_bytes)
    return create_serving_app(service, recorder, post_truth, options, tokens)
