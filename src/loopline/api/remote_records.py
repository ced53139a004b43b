"""The records a RemoteProject hands the commands, built from the REST API's shapes: each is
what the local store would have returned (`to_json()` gives back the shape it came from, so
`--json` is the same locally and remotely). What the API does not carry (a step's code hash, a
run's host and pid) is left empty: no command prints it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from loopline.store.metadata.model_records import ModelEvent

if TYPE_CHECKING:
    from loopline.core.types import Artifact, Run
    from loopline.registry import ModelVersion, RegisteredModel


def when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def artifact(fields: dict[str, Any]) -> Artifact:
    from loopline.core.types import Artifact

    data = {k: v for k, v in fields.items() if k != "versions"}
    data["created_at"] = when(data.get("created_at"))
    return Artifact(**data)


def run(fields: dict[str, Any]) -> Run:
    """A Run as the server listed it (what `to_json()` gives back; host and pid stay unknown)."""
    from loopline.core.types import Run, StepRun

    run_id = fields["run_id"]
    steps = [
        StepRun(
            id=None,
            run_id=run_id,
            name=s["name"],
            status=s["status"],
            fingerprint=s["fingerprint"],
            code_hash="",
            params=s["params"],
            uses=s["uses"],
            inputs=s["inputs"],
            outputs=s["outputs"],
            seconds=s["seconds"],
            error=s["error"],
            bindings={"versions": s["input_versions"]} if s["input_versions"] else {},
        )
        for s in fields["steps"]
    ]
    started = when(fields["started_at"])
    assert started is not None  # the shape requires it
    return Run(
        id=run_id,
        status=fields["status"],
        started_at=started,
        finished_at=when(fields["finished_at"]),
        executor=fields["executor"],
        environment_id=fields["environment_id"],
        git_commit=fields["git_commit"],
        git_dirty=fields["git_dirty"],
        reproduce_of=fields["reproduce_of"],
        steps=steps,
    )


def version(fields: dict[str, Any]) -> ModelVersion:
    from loopline.store.metadata.model_records import ModelVersion

    data = {k: fields[k] for k in ModelVersion.__dataclass_fields__}
    data["created_at"] = when(data["created_at"])
    data["aliases"] = tuple(data["aliases"])
    return ModelVersion(**data)


def model(fields: dict[str, Any], versions: int) -> RegisteredModel:
    from loopline.store.metadata.summaries import RegisteredModel, VersionSummary

    latest = fields["latest"]
    summary = None
    if latest is not None:
        summary = VersionSummary(**(latest | {"created_at": when(latest["created_at"])}))
    return RegisteredModel(
        name=fields["name"],
        description=fields["description"],
        created_at=when(fields["created_at"]) or datetime.min,
        updated_at=when(fields["updated_at"]) or datetime.min,
        latest=summary,
        versions=versions,
        aliases=dict(fields["aliases"]),
        tags=dict(fields["tags"]),
    )


def event(fields: dict[str, Any]) -> RemoteEvent:
    data = dict(fields)
    data["at"] = when(data["at"])
    return RemoteEvent(**data)


@dataclass(frozen=True, slots=True)
class RemoteEvent(ModelEvent):
    """A registry event the server recorded, with how its actor signed in there (`auth`)."""

    auth: str = "token"

    def to_json(self) -> dict[str, Any]:
        """The event as ModelEvent gives it (`auth` is the approval's, not the event's)."""
        data = ModelEvent.to_json(self)
        data.pop("auth", None)
        return data
