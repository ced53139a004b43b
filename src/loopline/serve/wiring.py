"""One call from the Project facade to a ready serving app: which model, which aliases, where the
prediction log goes and where it spools when the store is away."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from loopline.core.errors import InvalidInput, NotFound
from loopline.registry import Registry
from loopline.serve.app import ServeOptions, create_serving_app
from loopline.serve.deployment import ModelService
from loopline.serve.recorder import PredictionRecorder
from loopline.store.predictions import PredictionLog


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
    return create_serving_app(service, recorder, post_truth, ServeOptions(max_body_bytes=max_body_bytes))
