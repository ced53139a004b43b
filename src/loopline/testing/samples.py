"""Records the checks store: deterministic, distinct per seed, valid for any implementation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from loopline.core.hashing import hash_bytes, hash_text
from loopline.core.types import Artifact, ArtifactKind, Run, StepRun, StepStatus

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def artifact(seed: str, *, kind: ArtifactKind = "table", rows: int | None = 3) -> Artifact:
    return Artifact(
        id=hash_text(f"artifact {seed}"),
        kind=kind,
        blob=hash_bytes(f"blob {seed}".encode()),
        size=5_000_000_000,  # beyond 32 bits: a store must keep sizes as 64-bit integers
        rows=rows,
        schema={"a": "Int64", "b": "String"} if kind == "table" else None,
    )


def run(run_id: str, *, hours: float = 0, **extra: Any) -> Run:
    fields: dict[str, Any] = {
        "status": "running",
        "started_at": T0 + timedelta(hours=hours),
        "finished_at": None,
        "executor": "local",
        "environment_id": None,
    }
    return Run(id=run_id, **{**fields, **extra})


def step_run(
    run_id: str,
    name: str,
    *,
    status: StepStatus = "ran",
    inputs: dict[str, str] | None = None,
    outputs: dict[str, str] | None = None,
    fingerprint: str = "",
    bindings: dict[str, dict[str, str]] | None = None,
) -> StepRun:
    return StepRun(
        id=None,
        run_id=run_id,
        name=name,
        status=status,
        fingerprint=fingerprint or hash_text(f"fingerprint {name}"),
        code_hash=hash_text(f"code {name}"),
        params={"n": 10, "nested": {"x": [1, 2]}},
        uses=f"example.steps:{name}",
        inputs=dict(inputs or {}),
        outputs=dict(outputs or {}),
        seconds=0.25,
        bindings=dict(bindings or {}),
    )
