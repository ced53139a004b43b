"""loopline: the ML data pipeline as a continuous, versioned loop.

The public API is what `__all__` lists; everything else is internal and may change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopline.core.errors import (
    CheckFailed,
    ConfigError,
    Conflict,
    Integrity,
    InvalidInput,
    LooplineError,
    NotFound,
    StepFailed,
    StorageError,
)

if TYPE_CHECKING:
    from loopline.api.client import Client
    from loopline.core.recording import log_metric, log_metrics, log_params, set_tags
    from loopline.core.types import TableFile
    from loopline.pipeline.dag import Pipeline
    from loopline.pipeline.step import Step, StepContext, step
    from loopline.project import Project
    from loopline.store.artifacts import BlobSet
    from loopline.wiring.active_run import ActiveRun

__version__ = "0.1.0"

__all__ = [
    "ActiveRun",
    "BlobSet",
    "CheckFailed",
    "Client",
    "ConfigError",
    "Conflict",
    "Integrity",
    "InvalidInput",
    "LooplineError",
    "NotFound",
    "Pipeline",
    "Project",
    "Step",
    "StepContext",
    "StepFailed",
    "StorageError",
    "TableFile",
    "__version__",
    "log_metric",
    "log_metrics",
    "log_params",
    "set_tags",
    "start_run",
    "step",
]

# Loaded on first use, so that `import loopline` (which every `loopline.*` import runs first)
# costs only the error classes: a CLI fast path answers before these could even be imported.
_LAZY = {
    "ActiveRun": "loopline.wiring.active_run",
    "Client": "loopline.api.client",
    "Pipeline": "loopline.pipeline.dag",
    "Project": "loopline.project",
    "BlobSet": "loopline.store.artifacts",
    "Step": "loopline.pipeline.step",
    "StepContext": "loopline.pipeline.step",
    "step": "loopline.pipeline.step",
    "TableFile": "loopline.core.types",
    "log_metric": "loopline.core.recording",
    "log_metrics": "loopline.core.recording",
    "log_params": "loopline.core.recording",
    "set_tags": "loopline.core.recording",
}


def start_run(experiment: str | None = None, name: str | None = None, **options: Any) -> ActiveRun:
    """A tracked run in the project of the current folder (or above); `loopline.log_metric` &
    co. log to it inside `with loopline.start_run("exp") as run:`."""
    from loopline.project import Project

    project = Project.open()
    return project.start_run(experiment, name, on_end=project.close, **options)


def __getattr__(name: str) -> Any:
    """Heavy parts load on first use, so `import loopline` and the CLI start fast."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'loopline' has no attribute {name!r}")
