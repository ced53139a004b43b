"""What `reproduce` says about each output: the recorded and the new id, and when they differ,
how (loopline.datasets.differences) and why, as far as loopline can tell
(loopline.pipeline.nondeterminism).

Ids decide: an output is identical only when its id is. A tolerance never makes an output
identical; it makes one whose only differences are float noise within the tolerance *match*, and
the report says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from loopline.core.errors import InvalidInput
from loopline.core.types import Artifact
from loopline.store.blobs import BlobStore


@dataclass
class Comparison:
    name: str
    expected: str
    got: str | None
    note: str | None = None
    step: str | None = None
    difference: dict[str, Any] | None = None
    hints: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return self.expected == self.got

    @property
    def within_tolerance(self) -> bool:
        return not self.identical and bool(self.difference and self.difference.get("within_tolerance"))

    @property
    def matches(self) -> bool:
        return self.identical or self.within_tolerance

    @property
    def match(self) -> str:
        return "identical" if self.identical else "within_tolerance" if self.within_tolerance else "differs"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "expected": self.expected,
            "got": self.got,
            "identical": self.identical,
            "match": self.match,
            "step": self.step,
            "note": self.note,
            "difference": self.difference,
            "hints": self.hints,
        }


def check_tolerance(tolerance: float | None) -> None:
    if tolerance is not None and (
        isinstance(tolerance, bool)
        or not isinstance(tolerance, int | float)
        or not math.isfinite(tolerance)
        or tolerance < 0
    ):
        raise InvalidInput(
            f"--tolerance must be a number of at least 0, got {tolerance!r}",
            hint="e.g. --tolerance 1e-9: floats that differ by at most that much, absolutely or "
            "relatively, count as matching",
        )


def difference(
    blobs: BlobStore, expected: Artifact, got: Artifact, tolerance: float | None
) -> dict[str, Any]:
    """How two stored artifacts differ, by kind (the comparers load Polars: imported here, so
    that `loopline status`, which imports the runner, does not)."""
    from loopline.datasets.compare import diff_blobsets
    from loopline.datasets.differences import compare_json, compare_models, compare_tables
    from loopline.store.artifacts import load_manifest, load_table, load_value

    if expected.kind != got.kind:
        return {"kind": "kind", "expected": expected.kind, "got": got.kind, "within_tolerance": False}
    if expected.kind == "table":
        return compare_tables(load_table(blobs, expected), load_table(blobs, got), tolerance)
    if expected.kind == "blobs":
        found = diff_blobsets(load_manifest(blobs, expected), load_manifest(blobs, got))
        return found | {"within_tolerance": False}
    if expected.kind == "model":
        return compare_models(load_value(blobs, expected), load_value(blobs, got), tolerance)
    return compare_json(load_value(blobs, expected), load_value(blobs, got), tolerance)


def explain(
    comparison: Comparison,
    blobs: BlobStore,
    artifacts: tuple[Artifact, Artifact | None],
    fn: Callable[..., Any] | None,
    tolerance: float | None,
    since: datetime,
) -> None:
    """Fill in the difference and the hints of an output whose id changed."""
    from loopline.pipeline.nondeterminism import hints

    expected, got = artifacts
    if comparison.identical:
        return
    if got is not None:
        try:
            comparison.difference = difference(blobs, expected, got, tolerance)
        except Exception as exc:  # diagnostics must not hide the verdict: say what failed
            comparison.difference = {
                "kind": expected.kind,
                "error": f"could not compare: {type(exc).__name__}: {exc}",
                "within_tolerance": False,
            }
    comparison.hints = hints(comparison.step or comparison.name, fn, comparison.difference, since)
