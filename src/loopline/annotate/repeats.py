"""Repeated answers of one annotator to one item in an imported file, and what to do with them.

Real crowd data has them (a worker shown the same item twice, a re-submitted HIT), and published
protocols keep them, so the default is to keep every answer: each repeat is one more vote in
aggregation and agreement. `first` / `last` keep one answer per (annotator, item), the earliest
or latest in file order; `error` refuses the file at the first repeat. Pure: located rows in,
rows and counts out.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from loopline.annotate.interop import Located, Row
from loopline.core.errors import InvalidInput

DUPLICATES = ("keep", "first", "last", "error")

__all__ = ["DUPLICATES", "Repeats", "resolve"]


@dataclass(frozen=True)
class Repeats:
    rows: list[Row]
    repeated: int  # rows that repeat an earlier (annotator, item) of the file
    conflicting: int  # (annotator, item) pairs whose repeated answers disagree
    dropped: int  # rows left out (first / last)

    def summary(self, mode: str) -> dict[str, Any]:
        return {
            "duplicates": mode,
            "repeated": self.repeated,
            "conflicting": self.conflicting,
            "dropped": self.dropped,
        }


def _same(label: Any) -> str:
    return json.dumps(label, sort_keys=True, default=str, ensure_ascii=False)


def resolve(located: Sequence[Located], mode: str = "keep") -> Repeats:
    """The rows to store under `mode` (keep, first, last or error) and what repeated.

    `error` raises InvalidInput at the first repeat, naming its place, the annotator, the item
    and where the earlier answer is."""
    if mode not in DUPLICATES:
        raise InvalidInput(f"unknown --duplicates {mode!r}", hint=f"use one of {', '.join(DUPLICATES)}")
    first_at: dict[tuple[str, str], int] = {}
    last_at: dict[tuple[str, str], int] = {}
    labels: dict[tuple[str, str], set[str]] = {}
    repeated = 0
    for i, (where, (item, who, label, _, _)) in enumerate(located):
        key = (item, who)
        if key in first_at:
            repeated += 1
            if mode == "error":
                raise InvalidInput(
                    f"annotator {who!r} answers item {item!r} again (first at {located[first_at[key]][0]})",
                    where=where,
                    hint="pass --duplicates keep (every answer counts), first or last",
                )
        else:
            first_at[key] = i
        last_at[key] = i
        labels.setdefault(key, set()).add(_same(label))
    conflicting = sum(1 for found in labels.values() if len(found) > 1)
    if mode == "keep":
        rows = [row for _, row in located]
    else:
        chosen = set((first_at if mode == "first" else last_at).values())
        rows = [row for i, (_, row) in enumerate(located) if i in chosen]
    return Repeats(rows=rows, repeated=repeated, conflicting=conflicting, dropped=len(located) - len(rows))
