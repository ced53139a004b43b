"""The Registry: register, resolve, load, promote under the policy, approve, roll back, history.

Any stage may ask it for a model (annotate for pre-labels, evaluate for the production baseline,
serve and monitor for what is deployed); the Project builds one with the project's policy and
the acting user. Who acts is core.identity's current principal when one is set (the server sets
it per request), else `actor` as a local principal (the CLI on a local project).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from loopline.core.errors import Forbidden, InvalidInput, NotFound
from loopline.core.identity import Principal, current, local_principal
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
from loopline.store.metadata.registry_lifecycle import AliasCheck, RegistryLifecycle, check_description
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
        self.lifecycle = RegistryLifecycle(meta)

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
            actor=self.principal().name,
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
        return self.repo.set_gates(name, version, passed, report, actor=self.principal().name)

    # -- aliases ----------------------------------------------------------------------------
    def principal(self) -> Principal:
        """Who acts: the current principal, else this registry's actor as a local one."""
        return current() or local_principal(self.actor)

    def _moved(
        self, who: Principal, name: str, alias: str, version: int | None, previous: int | None
    ) -> dict[str, Any]:
        return {
            "name": name,
            "alias": alias,
            "version": version,
            "from_version": previous,
            "actor": who.name,
            "auth": who.auth,
        }

    def promote(self, name: str, version: int, alias: str, reason: str = "") -> dict[str, Any]:
        """Point alias at version if the policy allows (checked under the model's lock)."""
        check_alias(alias)
        who = self.principal()
        check = self._checked(who, alias, promotion=True)
        previous = self.repo.move_alias(
            name, alias, version, kind="promote", actor=who.name, reason=reason, check=check
        )
        return self._moved(who, name, alias, version, previous)

    def approve(
        self, name: str, version: int, alias: str, reason: str = "", *, removal: bool = False
    ) -> ModelEvent:
        """Approve version for alias (removal: approve removing alias from it). The approver
        must be allowed to approve and must not be who registered the version."""
        check_alias(alias)
        who = self.principal()
        if not who.can_approve:
            raise Forbidden(
                f"{who.name} is a {who.role}; approving a model needs the approver or admin role",
                hint="an admin can change a role (`loopline users`)",
            )
        self.repo.get_version(name, version)  # NotFound first
        registrant = self.repo.registrant(name, version)
        if registrant == who.name:
            raise Forbidden(
                f"{who.name} registered {name} version {version} and cannot approve it (four eyes)",
                hint="another approver runs "
                f"`loopline approve {name} {version} --alias {alias}{' --removal' if removal else ''}`",
            )
        kind = "approve_removal" if removal else "approve"
        return self.repo.approve(name, version, alias, actor=who.name, reason=reason, kind=kind)

    def _checked(self, who: Principal, alias: str, *, promotion: bool = False, removal: bool = False) -> Any:
        """The policy check a move of alias runs under the model's lock: a promotion's (gates,
        then four eyes), or four eyes alone (a rollback, a removal)."""

        def check(v: ModelVersion, approvals: list[ModelEvent]) -> None:
            registrant = self.repo.registrant(v.name, v.version)
            if promotion:
                self.policy.check_promotion(v, alias, approvals, registrant=registrant, actor=who.name)
            else:
                self.policy.check_approval(
                    v, alias, approvals, registrant=registrant, actor=who.name, removal=removal
                )

        return check

    def rollback(self, name: str, alias: str = "production", reason: str = "") -> dict[str, Any]:
        """Point alias back; on a protected alias the version rolled back to needs an approval
        (by someone other than its registrant and who rolls back), as a promotion does."""
        who = self.principal()
        current_version, previous = self.repo.rollback(
            name, alias, actor=who.name, reason=reason, check=self._checked(who, alias)
        )
        return self._moved(who, name, alias, previous, current_version)

    def delete_alias(self, name: str, alias: str, reason: str = "") -> dict[str, Any]:
        """Remove alias; on a protected alias it needs an approval of the removal."""
        who = self.principal()
        previous = self.repo.move_alias(
            name,
            alias,
            None,
            kind="alias_delete",
            actor=who.name,
            reason=reason,
            check=self._checked(who, alias, removal=True),
        )
        return self._moved(who, name, alias, None, previous)

    # -- lifecycle (soft delete until `loopline gc`) -------------------------------------------
    def _removal_checks(self, who: Principal) -> AliasCheck:
        """Deleting a version removes its aliases as `delete_alias` would: a protected alias
        needs an approval of the removal (by someone other than the registrant and who deletes)."""
        return lambda alias: self._checked(who, alias, removal=True)

    def delete_version(self, name: str, version: int, reason: str = "") -> list[str]:
        """Delete one version (restorable until gc) and remove its aliases; the aliases."""
        who = self.principal()
        checks = self._removal_checks(who)
        return self.lifecycle.delete_version(name, version, actor=who.name, reason=reason, check=checks)

    def delete_model(self, name: str, reason: str = "") -> list[str]:
        """Delete the model and its versions (restorable until gc); the aliases removed."""
        who = self.principal()
        return self.lifecycle.delete_model(
            name, actor=who.name, reason=reason, check=self._removal_checks(who)
        )

    def restore(self, name: str, version: int | None = None, reason: str = "") -> int:
        """Restore a deleted model (with the versions deleted with it) or one deleted version;
        how many versions came back. Aliases are not restored: promote again."""
        who = self.principal().name
        if version is None:
            return self.lifecycle.restore_model(name, actor=who, reason=reason)
        self.lifecycle.restore_version(name, version, actor=who, reason=reason)
        return 1

    def rename(self, name: str, new_name: str) -> None:
        self.lifecycle.rename(name, new_name, actor=self.principal().name)

    def describe(self, name: str, description: str, version: int | None = None) -> None:
        """Set the description of the model, or of one version."""
        text, who = check_description(description), self.principal().name
        if version is None:
            self.lifecycle.describe_model(name, text, actor=who)
        else:
            self.lifecycle.describe_version(name, version, text, actor=who)

    def history(self, name: str) -> list[ModelEvent]:
        return self.repo.history(name)

    def card(self, name: str, ref: VersionRef = None, hooks: Iterable[CardHook] = ()) -> dict[str, Any]:
        version = self.resolve(name, ref)
        return assemble(version, self.history(name), hooks)
