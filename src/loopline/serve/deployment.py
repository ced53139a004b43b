"""A deployment: one loaded model version, ready to answer; and the service that follows aliases.

The service holds one `Deployment` per role (primary, canary, shadow) and swaps a role by
assigning a new, fully loaded and warmed-up object: a request reads the reference once, so it is
answered by exactly one version, and no request ever sees a half-loaded model. A background
thread polls the registry for the aliases it follows (promote, rollback) and loads what moved.
"""

from __future__ import annotations

import logging
import threading
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from loopline.core.errors import LooplineError, NotFound
from loopline.registry import Registry
from loopline.serve.compiled import ARGMAX_PROBA, Predictor, compile_predictor
from loopline.serve.inputs import InputSpec

log = logging.getLogger(__name__)

ROLES = ("primary", "canary", "shadow")


@dataclass(frozen=True)
class Deployment:
    name: str
    alias: str
    version: int
    artifact_id: str
    estimator: Any
    spec: InputSpec
    card: dict[str, Any] = field(repr=False)
    has_proba: bool = False
    fast: Predictor | None = field(default=None, repr=False)

    def predict(self, matrix: Any) -> tuple[list[Any], list[float] | None]:
        """Outputs as plain Python values, and the top class probability when there is one."""
        if self.fast is not None and type(matrix) is np.ndarray:
            return self.fast(matrix)
        return self.model_predict(matrix)

    def model_predict(self, matrix: Any) -> tuple[list[Any], list[float] | None]:
        """Through the estimator's own methods (one predict_proba call when its argmax is the
        prediction, as for logistic regression, trees, forests, boosting, naive Bayes, kNN)."""
        estimator = self.estimator
        with warnings.catch_warnings():  # the matrix is in the signature's (the fitted) order
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            if not self.has_proba:
                return np.asarray(estimator.predict(matrix)).tolist(), None
            proba = estimator.predict_proba(matrix)
            if type(estimator).__name__ in ARGMAX_PROBA and hasattr(estimator, "classes_"):
                predictions = estimator.classes_[np.argmax(proba, axis=1)]
            else:
                predictions = estimator.predict(matrix)
        return np.asarray(predictions).tolist(), np.max(proba, axis=1).tolist()

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "alias": self.alias,
            "version": self.version,
            "artifact_id": self.artifact_id,
            "inputs": dict(zip(self.spec.names, self.spec.kinds, strict=True)),
            "allow_nan": self.spec.allow_nan,
        }


def load_deployment(registry: Registry, name: str, alias: str, version: int | None = None) -> Deployment:
    """Load, check and warm up a version (by number, else the alias's current one)."""
    record = registry.resolve(name, version if version is not None else alias)
    estimator = registry.load(name, record.version)
    spec = InputSpec.from_signature(record.signature, estimator)
    deployment = Deployment(
        name=name,
        alias=alias,
        version=record.version,
        artifact_id=record.artifact_id,
        estimator=estimator,
        spec=spec,
        card=registry.card(name, record.version),
        has_proba=callable(getattr(estimator, "predict_proba", None)),
    )
    if spec.numeric:
        fast = compile_predictor(estimator, len(spec.names), deployment.model_predict)
        if fast is not None:
            deployment = replace(deployment, fast=fast)
    if spec.numeric:  # the first call pays for lazy imports and caches: pay it here, not a user
        try:
            deployment.predict(np.zeros((1, len(spec.names))))
        except Exception as exc:
            log.debug("warm-up of %s v%d: %s", name, record.version, exc)
    return deployment


def in_canary(request_id: str, share: float) -> bool:
    """Deterministic by request id (CRC32, the same in every process): a retried request goes
    to the same variant."""
    return zlib.crc32(request_id.encode()) % 10_000 < share * 10_000


class ModelService:
    """The deployments of one model and the thread that keeps them on their aliases."""

    def __init__(
        self,
        registry: Registry,
        name: str,
        alias: str = "production",
        *,
        canary: str | None = None,
        canary_share: float = 0.1,
        shadow: str | None = None,
        poll_seconds: float = 2.0,
        on_swap: Callable[[str, Deployment | None], None] | None = None,
    ) -> None:
        if not 0.0 <= canary_share <= 1.0:
            from loopline.core.errors import InvalidInput

            raise InvalidInput(f"canary share {canary_share} is not between 0 and 1")
        self.registry = registry
        self.name = name
        self.aliases = {"primary": alias, "canary": canary, "shadow": shadow}
        self.canary_share = canary_share
        self.poll_seconds = poll_seconds
        self.on_swap = on_swap
        self.primary: Deployment | None = None
        self.canary: Deployment | None = None
        self.shadow: Deployment | None = None
        self.swaps = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def deployment(self, role: str) -> Deployment | None:
        return getattr(self, role)

    def refresh(self) -> list[str]:
        """Load whatever alias moved since the last look; the roles that changed."""
        changed = []
        for role in ROLES:
            alias = self.aliases[role]
            if alias is None:
                continue
            current = self.deployment(role)
            try:
                version = self.registry.resolve(self.name, alias).version
            except NotFound:
                if current is not None and role != "primary":  # a candidate alias removed
                    self._swap(role, None)
                    changed.append(role)
                continue
            if current is not None and current.version == version:
                continue
            self._swap(role, load_deployment(self.registry, self.name, alias, version))
            changed.append(role)
        return changed

    def _swap(self, role: str, new: Deployment | None) -> None:
        old = self.deployment(role)
        setattr(self, role, new)  # one reference assignment: atomic for every reader
        self.swaps += 1
        log.info(
            "%s %s: %s -> %s",
            self.name,
            role,
            old.version if old else None,
            new.version if new else None,
        )
        if self.on_swap is not None:
            self.on_swap(role, new)

    def start(self) -> None:
        try:
            self.refresh()
        except LooplineError as exc:  # serve anyway: ready once the alias exists
            log.warning("%s: %s", self.name, exc.render())
        self._thread = threading.Thread(target=self._follow, name="loopline-alias-follower", daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.refresh()
            except Exception as exc:  # the registry down: keep serving what is loaded
                log.warning("%s: cannot follow aliases (%s); serving what is loaded", self.name, exc)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def route(self, request_id: str) -> tuple[Deployment | None, str]:
        primary, canary = self.primary, self.canary
        if canary is not None and in_canary(request_id, self.canary_share):
            return canary, "canary"
        return primary, "primary"

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "ready": self.primary is not None}
        for role in ROLES:
            dep: Deployment | None = self.deployment(role)
            out[role] = None if dep is None else dep.describe()
        out["canary_share"] = self.canary_share if self.aliases["canary"] else 0.0
        out["follows"] = {r: a for r, a in self.aliases.items() if a}
        return out
