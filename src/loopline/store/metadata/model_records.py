"""Model registry records: versions, events, name and alias rules, and their rows.

Kept apart from the SQL repository (registry.py) because the catalogue, policy and MLflow layers
read these records and rules without needing the queries.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from loopline.core.errors import InvalidInput
from loopline.store.metadata.times import as_aware

MODEL_KINDS = ("model", "blobs")  # a skops model, or a model folder (e.g. an MLflow model) as blobs
_ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")
_MODEL_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\- ]{0,199}$")


@dataclass(frozen=True, slots=True)
class ModelVersion:
    name: str
    version: int
    artifact_id: str
    run_id: str | None
    status: str
    gates_passed: bool | None
    gate_report: dict[str, Any] | None
    metrics: dict[str, float]
    signature: dict[str, Any] | None
    card: dict[str, Any] | None
    description: str
    created_at: datetime
    aliases: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "artifact_id": self.artifact_id,
            "run_id": self.run_id,
            "status": self.status,
            "gates_passed": self.gates_passed,
            "gate_report": self.gate_report,
            "metrics": self.metrics,
            "signature": self.signature,
            "card": self.card,
            "description": self.description,
            "created_at": self.created_at.isoformat(),
            "aliases": list(self.aliases),
        }


@dataclass(frozen=True, slots=True)
class ModelEvent:
    """One transition: register, promote, approve, approve_removal, rollback, alias_delete, gates."""

    id: int
    name: str
    kind: str
    version: int | None
    alias: str | None
    from_version: int | None
    actor: str
    reason: str
    at: datetime

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        return data


def _load(text: str | None) -> Any:
    return json.loads(text) if text else None


def check_alias(alias: str) -> str:
    if not _ALIAS.match(alias) or alias == "latest" or re.fullmatch(r"v\d+", alias):
        raise InvalidInput(
            f"alias {alias!r} is not valid",
            hint="use a letter then letters, digits, '_' or '-' (not 'latest' or v<number>), "
            "e.g. candidate, staging, production",
        )
    return alias


def check_model_name(name: str) -> str:
    if not _MODEL_NAME.match(name):
        raise InvalidInput(
            f"model name {name!r} is not valid",
            hint="use letters, digits, '_', '-', '.' or spaces, up to 200 characters",
        )
    return name


def to_version(row: Any, aliases: Sequence[str] = ()) -> ModelVersion:
    return ModelVersion(
        name=row.name,
        version=row.version,
        artifact_id=row.artifact_id,
        run_id=row.run_id,
        status=row.status,
        gates_passed=row.gates_passed,
        gate_report=_load(row.gate_report_json),
        metrics=_load(row.metrics_json) or {},
        signature=_load(row.signature_json),
        card=_load(row.card_json),
        description=row.description,
        created_at=as_aware(row.created_at),
        aliases=tuple(sorted(aliases)),
    )


def to_event(row: Any) -> ModelEvent:
    return ModelEvent(
        id=row.id,
        name=row.name,
        kind=row.kind,
        version=row.version,
        alias=row.alias,
        from_version=row.from_version,
        actor=row.actor,
        reason=row.reason,
        at=as_aware(row.at),
    )
