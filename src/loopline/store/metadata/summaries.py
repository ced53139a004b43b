"""What `loopline models` lists of each registered model, kept free of SQLAlchemy so that the
stdlib reader (peek.py) builds the same records as the registry (registry.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class VersionSummary:
    """The latest version as a listing shows it (the full record: `get_version`)."""

    version: int
    artifact_id: str
    run_id: str | None
    status: str
    gates_passed: bool | None
    metrics: dict[str, float]
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "artifact_id": self.artifact_id,
            "run_id": self.run_id,
            "status": self.status,
            "gates_passed": self.gates_passed,
            "metrics": self.metrics,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    name: str
    description: str
    created_at: datetime
    updated_at: datetime
    latest: VersionSummary | None
    versions: int
    aliases: dict[str, int] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "latest_version": self.latest.version if self.latest else None,
            "latest": self.latest.to_json() if self.latest else None,
            "versions": self.versions,
            "aliases": dict(self.aliases),
            "tags": dict(self.tags),
        }
