"""The Registry: register, resolve, load, promote under the policy, approve, roll back, history.

Any stage may ask it for a model (annotate for pre-labels, evaluate for the production baseline,
serve and monitor for what is deployed); the Project builds one with the project's policy and
the acting user.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from loopline.core.errors import InvalidInput, NotFound
from loopline.core.types import Artifact
from loopline.registry.card import CardHook, assemble
from loopline.registry.policy import Policy
from loopline.registry.signature import check_signature, infer_signature
from loopline.store.blobs import BlobStore
from loopline.store.metadata import MetadataStore
from loopline.store.metadata.registry import (
    ModelEvent,
    ModelVersion,
    SqlRegistryRepository,
    check_alias,
)
from loopline.store.metadata.summaries import RegisteredModel
from loopline.store.models import read_model

VersionRef = int | str | None  # a number, an alias, "latest" or None (latest)


def _metrics(metrics: Mapping[str, Any] | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in (metrics or {}).items():
        if not isinstance(key, str) or isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInput(f"metric {key!r} = {value!r} is not a name with a number")
        out[key] = float(value) if math.isfinite(value) else value
    return out


class Registry:
    def __init__(self, meta: MetadataStore, blobs: BlobStore, policy: Policy, actor: str) -> None:
        self.meta = meta
        self.blobs = blobs
        self.policy = policy
        self.actor = actor
        self.repo = SqlRegistryRepository(meta)

    # -- versions ----------------------------------------------------------------------------
    def register(
        self,
        name: str,
        artifact: Artifact,
        *,
        run_id: str | None = None,
        metrics: Mapping[str, Any] | None = None,
        signature: Mapping[str, Any] | None = None,
        description: str = "",
        gates_passed: bool | None = None,
        gate_report: Mapping[str, Any] | None = None,
        card: Mapping[str, Any] | None = None,
        table_schema: Mapping[str, str] | None = None,
        reason: str = "",
    ) -> ModelVersion:
        """Version N+1 of name. A skops model is loaded first (a tampered or untrusted file is
        refused here, not on the day it is deployed) and, without a signature, gives one."""
        if artifact.kind == "model":
            estimator = read_model(self.blobs, artifact)
            if signature is None:
                signature = infer_signature(estimator, table_schema)
        return self.repo.register(
            name,
            artifact.id,
            actor=self.actor,
            run_id=run_id,
            metrics=_metrics(metrics),
            signature=check_signature(signature),
            description=description,
            gates_passed=gates_passed,
            gate_report=gate_report,
            card=card,
            reason=reason,
        )

    def resolve(self, name: str, ref: VersionRef = None) -> ModelVersion:
        if isinstance(ref, str) and ref.isdigit():
            ref = int(ref)
        if isinstance(ref, int):
            return self.repo.get_version(name, ref)
        if ref is None or ref == "latest":
            found = self.repo.list_models(name)
            if not found or found[0].latest is None:
                raise NotFound(f"no registered model {name!r}", hint="`loopline models` lists them")
            return self.repo.get_version(name, found[0].latest.version)
        return self.repo.get_alias(name, ref)

    def artifact(self, version: ModelVersion) -> Artifact:
        art = self.meta.get_artifacts([version.artifact_id]).get(version.artifact_id)
        if art is None:
            raise NotFound(
                f"{version.name} version {version.version}: artifact {version.artifact_id[:12]} is gone"
            )
        return art

    def load(self, name: str, ref: VersionRef = None, *, trusted: Sequence[str] = ()) -> Any:
        """The estimator of a version; its bytes are checked against the id the registry recorded."""
        version = self.resolve(name, ref)
        art = self.artifact(version)
        if art.kind != "model":
            raise InvalidInput(
                f"{name} version {version.version} is a {art.kind} model folder, not a skops model"
            )
        return read_model(self.blobs, art, trusted)

    def models(self) -> list[RegisteredModel]:
        return self.repo.list_models()

    def model(self, name: str) -> tuple[RegisteredModel, list[ModelVersion]]:
        versions = self.repo.versions(name)
        return self.repo.list_models(name)[0], versions

    def set_gates(
        self, name: str, version: int, passed: bool, report: Mapping[str, Any] | None
    ) -> ModelVersion:
        return self.repo.set_gates(name, version, passed, report, actor=self.actor)

    # -- aliases -----------------------------------------------------------------------------
    def promote(self, name: str, version: int, alias: str, reason: str = "") -> dict[str, Any]:
        """Point alias at version if the policy allows (checked under the model's lock)."""
        check_alias(alias)
        previous = self.repo.move_alias(
            name,
            alias,
            version,
            kind="promote",
            actor=self.actor,
            reason=reason,
            check=lambda v, approvals: self.policy.check_promotion(v, alias, approvals),
        )
        return {
            "name": name,
            "alias": alias,
            "version": version,
            "from_version": previous,
            "actor": self.actor,
        }

    def approve(self, name: str, version: int, alias: str, reason: str = "") -> ModelEvent:
        return self.repo.approve(name, version, alias, actor=self.actor, reason=reason)

    def rollback(self, name: str, alias: str = "production", reason: str = "") -> dict[str, Any]:
        current, previous = self.repo.rollback(name, alias, actor=self.actor, reason=reason)
        return {
            "name": name,
            "alias": alias,
            "version": previous,
            "from_version": current,
            "actor": self.actor,
        }

    def delete_alias(self, name: str, alias: str, reason: str = "") -> dict[str, Any]:
        previous = self.repo.move_alias(
            name, alias, None, kind="alias_delete", actor=self.actor, reason=reason
        )
        return {"name": name, "alias": alias, "version": None, "from_version": previous, "actor": self.actor}

    def history(self, name: str) -> list[ModelEvent]:
        return self.repo.history(name)

    def card(self, name: str, ref: VersionRef = None, hooks: Iterable[CardHook] = ()) -> dict[str, Any]:
        version = self.resolve(name, ref)
        return assemble(version, self.history(name), hooks)
