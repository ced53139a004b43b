"""Typed records passed between layers. Plain dataclasses: no storage or web types leak out."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import polars as pl

ArtifactKind = Literal["table", "blobs", "json", "model"]
StepStatus = Literal["ran", "cached", "failed", "skipped"]
RunStatus = Literal["running", "succeeded", "failed", "interrupted"]


@dataclass(frozen=True)
class Artifact:
    """One immutable artifact; `name`/`version` are set when it is seen through a version."""

    id: str
    kind: ArtifactKind
    blob: str  # hash of the stored bytes (Parquet file, manifest or JSON)
    size: int
    rows: int | None = None
    schema: dict[str, str] | None = None
    name: str | None = None
    version: int | None = None
    created_at: datetime | None = None
    source: str | None = None  # what `add` read, or "step:NAME" for a step output
    original_blob: str | None = None  # bytes as added, for a byte-equal checkout
    original_name: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat() if self.created_at else None
        return data


@dataclass(frozen=True)
class TableFile:
    """A table already written to a Parquet file, e.g. streamed there by a step whose output is
    too big to hold in memory. Returned as a step output, it is stored as it is (never loaded
    whole), under the id the same table would have in memory."""

    path: Path
    # The table's id, when loopline's own streaming writer computed it while writing (else the
    # file is read back to hash it). Never set it by hand: a wrong id breaks content addressing.
    known_id: str | None = None

    def scan(self) -> pl.LazyFrame:
        import polars as pl

        return pl.scan_parquet(self.path)


@dataclass(frozen=True)
class StepRun:
    id: int | None
    run_id: str
    name: str
    status: StepStatus
    fingerprint: str
    code_hash: str
    params: dict[str, Any]
    uses: str
    inputs: dict[str, str]  # input name -> artifact id
    outputs: dict[str, str]  # output name -> artifact id
    seconds: float = 0.0
    error: str | None = None
    # Renames between artifacts and the function: {"args": {artifact: argument}, "keys": {artifact: key}},
    # and the stored versions the inputs were read from: {"versions": {slot: "NAME@VERSION"}}
    bindings: dict[str, dict[str, str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "fingerprint": self.fingerprint,
            "seconds": round(self.seconds, 6),
            "outputs": dict(self.outputs),
            "inputs": dict(self.inputs),
            "input_versions": dict(self.bindings.get("versions", {})),
            "uses": self.uses,
            "params": self.params,
            "error": self.error,
        }


@dataclass(frozen=True)
class Run:
    id: str
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None
    executor: str
    environment_id: str | None
    git_commit: str | None = None
    git_dirty: bool | None = None
    reproduce_of: str | None = None
    steps: list[StepRun] = field(default_factory=list)
    host: str | None = None
    pid: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.id,
            "status": self.status,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "executor": self.executor,
            "environment_id": self.environment_id,
            "git_commit": self.git_commit,
            "git_dirty": self.git_dirty,
            "reproduce_of": self.reproduce_of,
            "steps": [step.to_json() for step in self.steps],
        }


@dataclass(frozen=True)
class Environment:
    id: str
    python: str
    platform: str
    loopline: str
    packages_hash: str
    packages: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
