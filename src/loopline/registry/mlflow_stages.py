"""MLflow's model-version stages (None, Staging, Production, Archived) read off loopline's
aliases and version status: pure rules, no I/O (the routes are server/mlflow/stages.py).

    Production  <->  the version holds the alias `production`
    Staging     <->  the version holds the alias `staging`
    Archived    <->  it holds neither, and its loopline status is `archived`
    None        <->  it holds neither, and its status is `ready`

An alias points at one version, so one version at most is in Production (or Staging): moving a
version into a stage moves the alias, and the version that held it is Archived, whether or not
the client asked with archive_existing_versions (MLflow would have kept both in the stage).
Holding `production` wins over `staging` when a version holds both (set by aliases directly).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from loopline.core.errors import InvalidInput
from loopline.store.metadata.registry import ModelVersion

STAGES = ("None", "Staging", "Production", "Archived")  # MLflow's order (its ALL_STAGES)
STAGE_ALIASES = {"Production": "production", "Staging": "staging"}
ARCHIVED = "archived"  # model_versions.status of an Archived version
READY = "ready"  # ... of any other (what register writes)
_CANONICAL = {stage.lower(): stage for stage in STAGES}


def canonical_stage(value: object) -> str:
    """A stage as the client may spell it (any case) -> MLflow's spelling; else a 400."""
    found = _CANONICAL.get(value.lower()) if isinstance(value, str) else None
    if found is None:
        raise InvalidInput(
            f"model version stage {str(value)[:50]!r} is unknown",
            hint=f"use one of {', '.join(STAGES)}",
        )
    return found


def stage_of(aliases: Iterable[str], status: str) -> str:
    held = set(aliases)
    for stage in ("Production", "Staging"):
        if STAGE_ALIASES[stage] in held:
            return stage
    return "Archived" if status == ARCHIVED else "None"


def latest_per_stage(versions: Sequence[ModelVersion], stages: Iterable[str] = STAGES) -> list[ModelVersion]:
    """The highest version in each of stages that holds one, in MLflow's stage order."""
    wanted = set(stages)
    best: dict[str, ModelVersion] = {}
    for version in versions:
        stage = stage_of(version.aliases, version.status)
        if stage in wanted and (stage not in best or best[stage].version < version.version):
            best[stage] = version
    return [best[stage] for stage in STAGES if stage in best]
