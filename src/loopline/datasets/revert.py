"""`loopline revert NAME VERSION`: what a revert made, for the CLI and `--json`.

A revert is a new version pointing at the old version's artifact (content-addressed, so nothing
is copied); the store does it in one transaction (MetadataStore.revert)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RevertResult:
    name: str
    version: int  # the version now current
    created: bool  # False: the latest version held that content already
    reverted_from: int  # the latest version before the revert
    reverted_to: int  # the version whose content is now current
    artifact_id: str
    source_state_reset: bool  # a collect source of that name will re-read its input

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "version": self.version,
            "created": self.created,
            "reverted_from": self.reverted_from,
            "reverted_to": self.reverted_to,
            "artifact_id": self.artifact_id,
            "source_state_reset": self.source_state_reset,
        }

    def summary(self) -> str:
        """The lines `loopline revert` prints."""
        if not self.created:
            return (
                f"{self.name}@{self.version} already holds the content of {self.name}@{self.reverted_to} "
                f"(artifact {self.artifact_id[:12]}): no new version made"
            )
        text = (
            f"reverted {self.name}: {self.name}@{self.version} is the content of "
            f"{self.name}@{self.reverted_to} (artifact {self.artifact_id[:12]}), "
            f"replacing {self.name}@{self.reverted_from}"
        )
        if self.source_state_reset:
            text += (
                f"\nthe collect source {self.name!r} forgot what it had read: the next `loopline "
                "collect` reads its input again and adds what this version lacks"
            )
        return text
