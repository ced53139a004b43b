"""A Project's models: the registry (versions, aliases, promotion), MLflow's extras, serving and
batch scoring (wiring/serve.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from loopline.core.errors import LooplineError
from loopline.core.settings import STATE_DIR
from loopline.store.metadata import peek

if TYPE_CHECKING:
    from loopline.core.types import Artifact, StepRun
    from loopline.project._stores import Stores
    from loopline.registry import ModelEvent, ModelVersion, RegisteredModel, VersionRef
    from loopline.store.metadata.mlflow import MlflowStore

# Makes the reference monitoring compares a newly registered version with (Monitor.profile_registered).
ProfileRegistered = Callable[["ModelVersion", "StepRun | None"], "Artifact | None"]


class Models:
    def __init__(self, stores: Stores, profile_registered: ProfileRegistered) -> None:
        self.stores = stores
        self.profile_registered = profile_registered

    # -- serve: serving and batch scoring -------------------------------------------------------
    def serving_app(self, model: str | None = None, alias: str = "production", **options: Any) -> Any:
        """The ASGI app serving a registered model (the only one when model is None) and
        following its alias; predictions go to `predictions`. options: canary, canary_share,
        shadow, max_body_bytes, poll_seconds, flush_seconds, log_predictions, auth (default on:
        callers send a token of the project's users; off, every caller is the local admin)."""
        from loopline.project._users import Users
        from loopline.wiring.serve import build_serving_app

        stores = self.stores
        log = stores.predictions if options.pop("log_predictions", True) else None
        spool = stores.root / STATE_DIR / "spool" / "predictions"
        tokens = Users(stores) if options.pop("auth", True) else None
        return build_serving_app(stores.registry, log, spool, model, alias, tokens=tokens, **options)

    def score(self, model: str, dataset_ref: str, alias: str | None = None, **options: Any) -> dict[str, Any]:
        """Score a dataset with a registered model (the alias's version; production, else the
        latest) into a table artifact; options: output, executor, partitions, dask_address, keys."""
        from loopline.wiring.cluster import StoreUrls
        from loopline.wiring.serve import score_dataset

        dataset = self.stores.resolve(dataset_ref)
        urls = StoreUrls.of(self.stores.settings)
        runner, registry = self.stores.runner, self.stores.registry
        return score_dataset(runner, registry, model, dataset, ref=alias, stores=urls, **options)

    # -- registry: model versions, aliases, promotion policy (loopline.registry) -----------------
    def register(
        self,
        name: str,
        artifact_ref: str,
        *,
        run_id: str | None = None,
        evaluation: str | None = None,
        **details: Any,
    ) -> ModelVersion:
        """The model artifact as version N+1 of name. The source run defaults to the run whose
        step made the artifact; gates_passed and the gate
        report come from `evaluation` (an evaluate step's report) or else from the latest
        evaluate step that read the model (loopline.wiring.evaluate.gate_result); the metrics
        default to what the steps that made or read the model logged in that run; details:
        metrics, signature, description, gates_passed, gate_report, card, reason."""
        from loopline.wiring.evaluate import registration_details

        art = self.stores.resolve(artifact_ref)
        report = self.stores.resolve(evaluation) if evaluation and "gates_passed" not in details else None
        run_id, made_by, details = registration_details(
            self.stores.meta, self.stores.blobs, art, report, run_id, details
        )
        version = self.stores.registry.register(name, art, run_id=run_id, **details)
        try:  # the reference monitoring compares with, made once from the training table
            self.profile_registered(version, made_by[0] if made_by else None)
        except LooplineError as exc:  # the version is registered; monitoring will ask for a profile
            logging.getLogger("loopline.monitor").warning("no reference profile for %s: %s", name, exc)
        return version

    def models(self) -> list[RegisteredModel]:
        found = peek.list_models(self.stores.settings.store_url) if self.stores.peeking() else None
        return self.stores.registry.models() if found is None else found

    def model(self, name: str, ref: VersionRef = None) -> ModelVersion:
        """A version by number or alias (the latest when ref is None)."""
        return self.stores.registry.resolve(name, ref)

    def load_model(self, name: str, ref: VersionRef = "production") -> Any:
        return self.stores.registry.load(name, ref)

    def promote(self, name: str, version: int, alias: str, reason: str = "") -> dict[str, Any]:
        return self.stores.registry.promote(name, version, alias, reason)

    def approve(
        self, name: str, version: int, alias: str, reason: str = "", *, removal: bool = False
    ) -> ModelEvent:
        """Approve version for alias (removal: approve removing alias from it). Four eyes: the
        approver (the acting principal) is not who registered it, nor who then promotes it."""
        return self.stores.registry.approve(name, version, alias, reason, removal=removal)

    def delete_alias(self, name: str, alias: str, reason: str = "") -> dict[str, Any]:
        """Remove alias (a protected one needs an approval of the removal)."""
        return self.stores.registry.delete_alias(name, alias, reason)

    def rollback(self, name: str, alias: str = "production", reason: str = "") -> dict[str, Any]:
        return self.stores.registry.rollback(name, alias, reason)

    def model_history(self, name: str) -> list[ModelEvent]:
        return self.stores.registry.history(name)

    # -- paged reads of the registry for the REST API and the dashboard (paged in SQL) --------
    def models_page(self, offset: int, limit: int) -> list[RegisteredModel]:
        """Models by name, [offset, offset+limit)."""
        return self.stores.registry.repo.list_models(offset=offset, limit=limit)

    def model_versions(self, name: str, offset: int, limit: int) -> list[ModelVersion]:
        """Versions of name, newest first, [offset, offset+limit)."""
        return self.stores.registry.repo.versions_page(name, offset, limit)

    def model_events(
        self, name: str, offset: int, limit: int, *, newest_first: bool = False, version: int | None = None
    ) -> list[ModelEvent]:
        """The history of name (or of one version) by time, [offset, offset+limit)."""
        return self.stores.registry.repo.events_page(
            name, offset, limit, newest_first=newest_first, version=version
        )

    def awaiting_approval(
        self, names: Sequence[str] | None = None, versions: Sequence[int] | None = None
    ) -> dict[tuple[str, int], list[str]]:
        """(model, version) -> the protected aliases (registry.require_approval) the version
        awaits an approval for: newer than the alias's version, gates not failed, not approved."""
        registry = self.stores.registry
        return registry.repo.awaiting(registry.policy.require_approval, names, versions)

    def alias_metrics(
        self, names: Sequence[str], alias: str = "production"
    ) -> dict[str, tuple[int, dict[str, float]]]:
        """name -> (the version alias points at, its metrics), for the names that have alias."""
        return self.stores.registry.repo.alias_metrics(names, alias)

    def approvals_of(self, name: str, versions: Sequence[int]) -> dict[int, list[ModelEvent]]:
        """version -> its approvals (approve and approve_removal events), for a page of versions."""
        return self.stores.registry.repo.approvals_of(name, versions)

    def source_run_page(self, run_id: str) -> str:
        """The dashboard page of a version's source run: a tracked run's, or a pipeline run's."""
        tracked = self.stores.registry.repo.tracked_run(run_id)
        return f"/runs/{run_id}" if tracked else f"/pipelines/{run_id}"

    def version_card(self, version: ModelVersion) -> dict[str, Any] | None:
        """The model card of a version (`loopline card NAME VERSION`), None when nothing
        evaluated it (or it is a model folder, which no evaluate step reads)."""
        from loopline.core.errors import InvalidInput, NotFound
        from loopline.wiring.evaluate import gather_card

        art = self.stores.registry.artifact(version)
        try:
            return gather_card(self.stores.meta, self.stores.blobs, art)
        except (NotFound, InvalidInput):
            return None

    def version_detail(
        self, name: str, ref: VersionRef
    ) -> tuple[ModelVersion, dict[str, Any] | None, list[ModelEvent], list[str]]:
        """A version (by number or alias), its model card, its approvals (approve and
        approve_removal events) and the protected aliases it awaits an approval for."""
        found = self.model(name, ref)
        events = self.model_events(name, 0, 10_000, version=found.version)
        approvals = [e for e in events if e.kind in ("approve", "approve_removal")]
        awaiting = self.awaiting_approval([name], [found.version]).get((name, found.version), [])
        return found, self.version_card(found), approvals, awaiting

    def _known(self, name: str) -> None:
        if not self.stores.registry.repo.list_models(name):
            from loopline.core.errors import NotFound

            raise NotFound(f"no registered model {name!r}", hint="`loopline models` lists them")

    # -- what is deployed where: observed in the prediction log ----------------------------
    def deployments(self, name: str, since: datetime, until: datetime) -> dict[str, Any]:
        """What served `name` in [since, until), per variant (primary, canary, shadow): the
        versions seen, when last seen, requests and share. Observed, not declared: loopline
        keeps no deployment record; this is what the prediction log shows the servers did.
        A share is of the requests answered (primary + canary); shadow rows mirror requests,
        so its share is the part of the traffic mirrored to it."""
        import polars as pl

        from loopline.store.predictions import VARIANTS

        self._known(name)
        frame = self.stores.predictions.read(name, since=since, until=until, variants=VARIANTS)
        grouped = (
            frame.group_by("variant")
            .agg(
                pl.col("version").unique().sort().alias("versions"),
                pl.col("at").max().alias("last_seen"),
                pl.len().alias("requests"),
            )
            .to_dicts()
        )
        by_variant = {row["variant"]: row for row in grouped}
        answered = sum(by_variant.get(v, {}).get("requests", 0) for v in ("primary", "canary"))
        variants = [
            {
                "variant": variant,
                "versions": [int(v) for v in row["versions"]],
                "last_seen": row["last_seen"].isoformat(),
                "requests": int(row["requests"]),
                "share": row["requests"] / answered if answered else 0.0,
            }
            for variant in VARIANTS
            if (row := by_variant.get(variant)) is not None
        ]
        return {
            "model": name,
            "since": since.isoformat(),
            "until": until.isoformat(),
            "requests": answered,
            "variants": variants,
        }

    def predictions_page(
        self, name: str, since: datetime, until: datetime, offset: int, limit: int
    ) -> list[dict[str, Any]]:
        """Logged predictions of name in [since, until), newest first, [offset, offset+limit)."""
        from loopline.store.predictions import FIXED, VARIANTS

        self._known(name)
        frame = self.stores.predictions.read(name, since=since, until=until, variants=VARIANTS)
        rows = frame.reverse().slice(offset, limit).to_dicts()
        return [
            {k: row[k] for k in FIXED if k != "model"}
            | {"at": row["at"].isoformat(), "features": {k: v for k, v in row.items() if k not in FIXED}}
            for row in rows
        ]

    @cached_property
    def mlflow(self) -> MlflowStore:
        """What the MLflow REST API keeps beyond tracking and the registry (server/mlflow/)."""
        from loopline.store.metadata.mlflow import MlflowStore

        return MlflowStore(self.stores.meta)
