"""Shapes of models (REST API and CLI --json), and the client's calls for them.

Each shape is the registry record's `to_json()` (timestamps stay the ISO 8601 strings the CLI
has always printed), so `loopline models --json` and GET /api/v1/models say the same thing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from loopline.api.transport import Transport

if TYPE_CHECKING:
    from loopline.registry import ModelEvent, ModelVersion, RegisteredModel

_FORBID = ConfigDict(extra="forbid")


class VersionSummaryOut(BaseModel):
    """The latest version as a listing shows it."""

    model_config = _FORBID
    version: int
    artifact_id: str
    run_id: str | None
    status: str
    gates_passed: bool | None
    metrics: dict[str, float]
    created_at: str


class _ModelFields(BaseModel):
    model_config = _FORBID
    name: str
    description: str
    created_at: str
    updated_at: str
    latest_version: int | None
    latest: VersionSummaryOut | None
    aliases: dict[str, int] = Field(description="alias -> the version it points at")
    tags: dict[str, str]


class ModelOut(_ModelFields):
    """A registered model in a listing (`loopline models --json`)."""

    versions: int = Field(description="how many versions it has")

    @classmethod
    def of(cls, model: RegisteredModel) -> ModelOut:
        return cls.model_validate(model.to_json())


class VersionOut(BaseModel):
    """One version of a registered model."""

    model_config = _FORBID
    name: str
    version: int
    artifact_id: str
    run_id: str | None
    status: str
    gates_passed: bool | None = Field(description="None: never gated")
    gate_report: dict[str, Any] | None
    metrics: dict[str, float]
    signature: dict[str, Any] | None
    card: dict[str, Any] | None = Field(description="the evaluation's card kept at registration")
    description: str
    created_at: str
    aliases: list[str]

    @classmethod
    def of(cls, version: ModelVersion) -> VersionOut:
        return cls.model_validate(version.to_json())


class ModelDetailOut(_ModelFields):
    """A registered model with all its versions (`loopline models show NAME --json`)."""

    versions: list[VersionOut]

    @classmethod
    def of(cls, model: RegisteredModel, versions: list[ModelVersion]) -> ModelDetailOut:
        return cls.model_validate(model.to_json() | {"versions": [v.to_json() for v in versions]})


class EventOut(BaseModel):
    """One transition: register, promote, approve, approve_removal, rollback, alias_delete, gates."""

    model_config = _FORBID
    id: int
    name: str
    kind: str
    version: int | None
    alias: str | None
    from_version: int | None
    actor: str
    reason: str
    at: str

    @classmethod
    def of(cls, event: ModelEvent) -> EventOut:
        return cls.model_validate(event.to_json())


class VersionDetailOut(VersionOut):
    """One version in detail (`loopline models show NAME VERSION --json`): its record, its
    model card, its approvals and the protected aliases it awaits an approval for."""

    model_card: dict[str, Any] | None = Field(
        description="`loopline card NAME VERSION`: data lineage, metrics, gates; None if never evaluated"
    )
    approvals: list[EventOut] = Field(description="approve and approve_removal events of this version")
    awaiting_approval: list[str] = Field(
        description="protected aliases (registry.require_approval) this version awaits an approval for"
    )

    @classmethod
    def of(
        cls,
        version: ModelVersion,
        card: dict[str, Any] | None = None,
        approvals: list[ModelEvent] | None = None,
        awaiting: list[str] | None = None,
    ) -> VersionDetailOut:
        """From Project.version_detail's (version, card, approvals, awaiting)."""
        return cls.model_validate(
            version.to_json()
            | {
                "model_card": card,
                "approvals": [e.to_json() for e in approvals or []],
                "awaiting_approval": list(awaiting or []),
            }
        )


class ApprovalOut(EventOut):
    """An approval just recorded (`loopline approve --json`), with how the approver signed in."""

    auth: str


class MovedOut(BaseModel):
    """An alias moved (`loopline promote/rollback --json`)."""

    model_config = _FORBID
    name: str
    alias: str
    version: int | None
    from_version: int | None
    actor: str
    auth: str


class VariantOut(BaseModel):
    """What one variant served in the window, as the prediction log shows it."""

    model_config = _FORBID
    variant: str = Field(description="primary, canary or shadow")
    versions: list[int]
    last_seen: str
    requests: int
    share: float = Field(description="of the requests answered (primary + canary) in the window")


class DeploymentsOut(BaseModel):
    """What is deployed where: observed in the prediction log, not declared."""

    model_config = _FORBID
    model: str
    since: str
    until: str
    requests: int = Field(description="requests answered (primary + canary) in the window")
    variants: list[VariantOut]


class PredictionOut(BaseModel):
    """One logged prediction."""

    model_config = _FORBID
    request_id: str
    version: int
    variant: str
    at: str
    latency_ms: float | None
    prediction: Any
    confidence: float | None
    features: dict[str, Any]


class PromoteBody(BaseModel):
    model_config = _FORBID
    alias: str = Field(min_length=1, max_length=64, description="the alias to point at the version")
    reason: str = Field("", max_length=2000, description="why, kept in the model's history")


class RollbackBody(BaseModel):
    model_config = _FORBID
    alias: str = Field("production", min_length=1, max_length=64, description="the alias to roll back")
    reason: str = Field("", max_length=2000, description="why, kept in the model's history")


class ApproveBody(BaseModel):
    model_config = _FORBID
    alias: str = Field(min_length=1, max_length=64, description="the alias the approval is for")
    reason: str = Field("", max_length=2000, description="why, kept in the model's history")
    removal: bool = Field(False, description="approve removing the alias from this version")


class ModelCalls(Transport):
    """`loopline.Client`'s calls of /api/v1 for models."""

    def models(self) -> Iterator[ModelOut]:
        return (ModelOut.model_validate(m) for m in self._pages("/models"))

    def model_detail(self, name: str) -> ModelDetailOut:
        return ModelDetailOut.model_validate(self._get(f"/models/{name}"))

    def model_version(self, name: str, version: int) -> VersionDetailOut:
        return VersionDetailOut.model_validate(self._get(f"/models/{name}/versions/{version}"))

    def model_history(self, name: str) -> Iterator[EventOut]:
        return (EventOut.model_validate(e) for e in self._pages(f"/models/{name}/history"))

    def promote(self, name: str, version: int, alias: str, reason: str = "") -> MovedOut:
        body = PromoteBody(alias=alias, reason=reason).model_dump()
        return MovedOut.model_validate(self._post(f"/models/{name}/versions/{version}/promote", body))

    def approve(
        self, name: str, version: int, alias: str, reason: str = "", *, removal: bool = False
    ) -> ApprovalOut:
        body = ApproveBody(alias=alias, reason=reason, removal=removal).model_dump()
        return ApprovalOut.model_validate(self._post(f"/models/{name}/versions/{version}/approve", body))

    def rollback(self, name: str, alias: str = "production", reason: str = "") -> MovedOut:
        body = RollbackBody(alias=alias, reason=reason).model_dump()
        return MovedOut.model_validate(self._post(f"/models/{name}/rollback", body))

    def deployments(self, name: str, hours: int = 24) -> DeploymentsOut:
        return DeploymentsOut.model_validate(self._get(f"/models/{name}/deployments", {"hours": hours}))

    def predictions(
        self, name: str, since: str | None = None, until: str | None = None
    ) -> Iterator[PredictionOut]:
        params = {"since": since, "until": until}
        return (PredictionOut.model_validate(p) for p in self._pages(f"/models/{name}/predictions", params))


__all__ = [
    "ApprovalOut",
    "ApproveBody",
    "DeploymentsOut",
    "EventOut",
    "ModelCalls",
    "ModelDetailOut",
    "ModelOut",
    "MovedOut",
    "PredictionOut",
    "PromoteBody",
    "RollbackBody",
    "VariantOut",
    "VersionDetailOut",
    "VersionOut",
    "VersionSummaryOut",
]
