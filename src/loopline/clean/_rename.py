"""The rename rule: `{rule: rename, columns: {old: new}}` (or `{rename: {old: new}}`).

Later rules name the columns by their new names (the schema the rules are checked against
follows the rename); the quarantine keeps the input rows as they came in, under their input
names. In the rule passes a rename is one `LazyFrame.rename` (several names at once, so a swap
`{a: b, b: a}` works); the clean table puts each renamed column where the input had it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import polars as pl

from loopline.clean._base import PREFIX, RESERVED, Rule, Schema
from loopline.clean._spec import Spec, check_columns

SHORT = "rename"  # `{rename: {old: new}}`, read as `{rule: rename, columns: {old: new}}`


@dataclass(frozen=True)
class Rename(Rule):
    kind: ClassVar[str] = "rename"
    keys: ClassVar[frozenset[str]] = frozenset({"columns"})
    example: ClassVar[str] = "{rule: rename, columns: {Amount: amount}}"

    columns: Mapping[str, str]

    @classmethod
    def parse(cls, spec: Spec, schema: Schema | None, index: int) -> Rule:
        columns = spec.need("columns")
        if (
            not isinstance(columns, Mapping)
            or not columns
            or not all(isinstance(k, str) and isinstance(v, str) and v for k, v in columns.items())
        ):
            raise spec.error("`columns` must map old column names to new ones")
        check_columns(spec, schema, tuple(columns))
        moved = {old: new for old, new in columns.items() if old != new}
        targets = list(moved.values())
        for old, new in moved.items():
            if new in RESERVED or new.startswith(PREFIX):
                raise spec.error(
                    f"{new!r} is a name clean reserves", "the quarantine adds _row, _rule and _reason"
                )
            if targets.count(new) > 1:
                raise spec.error(f"two columns would be named {new!r}", "give each its own name")
            if schema is not None and new in schema and new not in moved:
                raise spec.error(
                    f"column {new!r} exists already",
                    f"rename {new!r} too, or choose another name for {old!r}",
                )
        if schema is not None:
            renamed = {moved.get(c, c): t for c, t in schema.items()}
            schema.clear()
            schema.update(renamed)
        return cls(dict(columns), name=spec.get("name"), index=index)

    def as_dict(self) -> dict[str, Any]:
        raw = {"columns": dict(self.columns), "name": self.name}
        return {"rule": self.kind, **{k: v for k, v in raw.items() if v is not None}}

    def rejects(self) -> bool:
        return False

    def uses(self) -> tuple[str, ...] | None:
        return tuple(self.columns)

    def rewrites(self) -> tuple[str, ...] | None:
        return tuple(o for o, n in self.columns.items() if o != n)  # gone under their old names

    def step(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        moved = {o: n for o, n in self.columns.items() if o != n}
        return lf.rename(moved) if moved else lf


def short_form(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    """`{rename: {old: new}, name: ...}` as the rule dict `{rule: rename, columns: {...}}`."""
    if "rule" in raw or SHORT not in raw:
        return raw
    return {"rule": Rename.kind, "columns": raw[SHORT], **{k: v for k, v in raw.items() if k != SHORT}}


def final_names(rules: Sequence[Rule], columns: Sequence[str]) -> dict[str, str]:
    """Input column -> the name it leaves the rules with, for the columns some rename moved."""
    current = {c: c for c in columns}  # input name -> its name now
    for rule in rules:
        if isinstance(rule, Rename):
            now = {name: c for c, name in current.items()}
            for old, new in rule.columns.items():
                if old in now:
                    current[now[old]] = new
    return {c: n for c, n in current.items() if c != n}
