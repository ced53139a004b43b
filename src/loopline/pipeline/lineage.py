"""Lineage: the artifacts an artifact came from (ancestors) and those made from it (descendants),
walked over the step-run edges the runner records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loopline.core.types import Artifact
from loopline.store.metadata import MetadataStore


@dataclass
class Node:
    artifact: Artifact
    step: str | None = None  # the step that produced it (its first run)
    run_id: str | None = None
    children: list[Node] = field(default_factory=list)

    def flat(self, depth: int = 0, parent: str | None = None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for child in self.children:
            items.append(
                {
                    "id": child.artifact.id,
                    "name": child.artifact.name,
                    "version": child.artifact.version,
                    "kind": child.artifact.kind,
                    "step": child.step,
                    "run_id": child.run_id,
                    "depth": depth + 1,
                    "parent": parent or self.artifact.id,
                }
            )
            items.extend(child.flat(depth + 1, child.artifact.id))
        return items


def _walk(meta: MetadataStore, root: Artifact, upward: bool, seen: set[str]) -> Node:
    producer = next(iter(meta.producers(root.id)), None)
    node = Node(root, producer.name if producer else None, producer.run_id if producer else None)
    runs = ([producer] if producer else []) if upward else meta.consumers(root.id)
    for step_run in runs:
        ids = step_run.inputs.values() if upward else step_run.outputs.values()
        for art_id in sorted(set(ids)):
            if art_id not in seen:
                seen.add(art_id)
                node.children.append(_walk(meta, meta.get_artifact(art_id), upward, seen))
    return node


def lineage(meta: MetadataStore, artifact: Artifact) -> tuple[Node, Node]:
    """(ancestors tree, descendants tree), both rooted at the artifact."""
    return (_walk(meta, artifact, True, {artifact.id}), _walk(meta, artifact, False, {artifact.id}))
