"""The rule contract and the columns every partition carries while rules run.

Rules never filter: each adds to one lazy chain of `with_columns` on a partition. A rejecting rule
sets `__ll_fail` (the 1-based number of the first rule that rejected the row) where it is still
null, and keeps what its reason will need (the value it saw) as a snapshot column; the value is
aliased, so a snapshot costs nothing unless a later rule changes that column. Reasons are built
afterwards, only for rejected rows, with one `pl.when` chain.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import polars as pl

from loopline.clean._spec import Spec

ROW = "__ll_row"
FAIL = "__ll_fail"
PREFIX = "__ll_"
RESERVED = ("_row", "_rule", "_reason")

Schema = dict[str, str]


def alive() -> pl.Expr:
    return pl.col(FAIL).is_null()


def reject(lf: pl.LazyFrame, index: int, cond: pl.Expr) -> pl.LazyFrame:
    """Mark rows where `cond` holds, unless an earlier rule rejected them already."""
    return lf.with_columns(
        pl.when(alive() & cond.fill_null(False))
        .then(pl.lit(index, pl.Int32))
        .otherwise(pl.col(FAIL))
        .alias(FAIL)
    )


def snap(index: int, j: int = 0) -> str:
    return f"{PREFIX}s{index}_{j}"


@dataclass(frozen=True)
class Rule:
    """One cleaning rule. `index` (1-based, set when the list is read) numbers it in reasons."""

    kind: ClassVar[str] = ""
    keys: ClassVar[frozenset[str]] = frozenset()
    example: ClassVar[str] = ""

    name: str | None = field(default=None, kw_only=True)
    index: int = field(default=0, kw_only=True)

    @property
    def label(self) -> str:
        return self.name or f"{self.index}:{self.kind}"

    @classmethod
    def parse(cls, spec: Spec, schema: Schema | None, index: int) -> Rule:
        raise NotImplementedError

    def rejects(self) -> bool:
        return True

    def uses(self) -> tuple[str, ...] | None:
        """The data columns the rule reads or rewrites (None: it may touch any). Clean carries only
        these through the rule passes; the others go straight from the input to the clean table."""
        return None

    def rewrites(self) -> tuple[str, ...] | None:
        """The input columns whose values the rule may change (None: any). The clean table takes
        every other column straight from the input, filtered once."""
        return None

    def needs_stats(self) -> bool:
        """True when the rule needs figures over all rows still clean (median, IQR, duplicates)."""
        return False

    def stat_columns(self, data_columns: list[str]) -> list[str]:
        return []

    def bind(self, rows: pl.DataFrame) -> tuple[Rule, dict[str, Any]]:
        """The rule with its global figures fixed, and those figures for the report."""
        return self, {}

    def step(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        raise NotImplementedError

    def reason(self, schema: Mapping[str, pl.DataType]) -> pl.Expr:
        return pl.lit(f"rejected by rule {self.label}")

    def lookup(self) -> pl.DataFrame | None:
        """Extra columns for the reasons, joined on the row number (a duplicate's first row)."""
        return None

    def as_dict(self) -> dict[str, Any]:
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "index"}
        return {"rule": self.kind, **{k: v for k, v in values.items() if v is not None}}


def jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value else None
    return str(value)
