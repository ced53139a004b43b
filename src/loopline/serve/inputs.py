"""Request rows checked against a model signature and turned into what predict reads.

The request path builds no DataFrame: a signature whose inputs are all numeric (the common case)
compiles to a loop that checks each value's type and fills one float64 NumPy array; any other
signature goes through a Polars frame (a model with text columns reads them by name). Every
problem is reported at once, by field, so one 422 tells the caller everything to fix.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from loopline.core.errors import InvalidInput

_FLOATS = {"float64", "float32", "float16", "double", "float"}
_INTS = {"int64", "int32", "int16", "int8", "uint64", "uint32", "uint16", "uint8", "int"}
_BOOLS = {"boolean", "bool"}
_FLOAT_MAX = int(np.finfo(np.float64).max)
_TEXTS = {"string", "utf8", "str", "object", "categorical", "enum"}


class RowsRejected(InvalidInput):
    """A request the signature refuses: `reason` (for metrics) and a message per field (the
    message joins them, so a caller of predict outside the server reads every problem too)."""

    def __init__(self, reason: str, fields: Mapping[str, str], status: int = 422) -> None:
        self.reason = reason
        self.fields = dict(fields)
        self.status = status
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.fields.items()))


def parse_json(body: bytes) -> Any:
    """A request body as JSON; InvalidInput (never a crash) for anything else, however nested."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:  # NaN and Infinity are not JSON, but Python's json writes them: read, then refuse
        return json.loads(body)
    except RecursionError:
        raise InvalidInput("the body is not JSON: it is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"the body is not JSON: {exc}") from None


def _kind(dtype: str) -> str:
    name = dtype.lower()
    if name in _FLOATS or name == "unknown":
        return "float"
    if name in _INTS:
        return "int"
    if name in _BOOLS:
        return "bool"
    if name in _TEXTS:
        return "text"
    return "any"


def _type_name(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null"}.get(
        type(value), type(value).__name__
    )


@dataclass(frozen=True)
class InputSpec:
    """What one model version reads, compiled from its signature."""

    names: tuple[str, ...]
    kinds: tuple[str, ...]
    allow_nan: bool = False
    numeric: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "numeric", all(k in ("float", "int", "bool") for k in self.kinds))

    @classmethod
    def from_signature(cls, signature: Mapping[str, Any] | None, estimator: Any) -> InputSpec:
        inputs = dict((signature or {}).get("inputs") or {})
        if not inputs:  # no signature: the estimator's own feature names, read as numbers
            names = getattr(estimator, "feature_names_in_", None)
            count = getattr(estimator, "n_features_in_", 0)
            inputs = (
                {str(n): "unknown" for n in names}
                if names is not None
                else {f"x{i}": "unknown" for i in range(int(count or 0))}
            )
        return cls(tuple(inputs), tuple(_kind(t) for t in inputs.values()), _allows_nan(estimator))

    # -- parsing a request ---------------------------------------------------------------------
    def rows_of(self, payload: Any) -> tuple[list[Mapping[str, Any]], bool]:
        """The rows of a request body and whether it was a single row: `{...}` (one row),
        `[{...}, ...]`, or `{"rows": [...]}` / `{"inputs": [...]}`."""
        if isinstance(payload, dict):
            for key in ("rows", "inputs", "instances"):
                many = payload.get(key)
                if isinstance(many, list) and key not in self.names:
                    return self._checked_list(many), False
            return [payload], True
        if isinstance(payload, list):
            return self._checked_list(payload), False
        raise RowsRejected("shape", {"body": "expected a JSON object (one row) or a list of rows"})

    @staticmethod
    def _checked_list(rows: list[Any]) -> list[Mapping[str, Any]]:
        if not rows:
            raise RowsRejected("shape", {"body": "no rows"})
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                raise RowsRejected("shape", {f"rows[{i}]": f"expected an object, got {_type_name(row)}"})
        return rows

    def matrix(self, rows: Sequence[Mapping[str, Any]]) -> Any:
        """What predict reads: a float64 array for numeric inputs, else a Polars frame."""
        if self.numeric:
            return self._numeric(rows)
        return self._frame(rows)

    def _numeric(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        names, kinds = self.names, self.kinds
        out = np.empty((len(rows), len(names)), dtype=np.float64)
        problems: dict[str, str] = {}
        reason = "type"
        for r, row in enumerate(rows):
            line = out[r]
            for c, name in enumerate(names):
                value = row.get(name, _MISSING)
                cls = type(value)
                if cls is float or (cls is int and kinds[c] != "bool"):
                    if cls is float and kinds[c] == "int" and not value.is_integer():
                        problems[self._where(name, r, rows)] = f"expected an integer, got {value!r}"
                        continue
                    if cls is int and not -_FLOAT_MAX <= value <= _FLOAT_MAX:  # 10**400 is JSON
                        problems[self._where(name, r, rows)] = "the number is out of range"
                        continue
                    line[c] = value
                elif cls is bool and kinds[c] == "bool":
                    line[c] = float(value)
                elif value is _MISSING:
                    problems[self._where(name, r, rows)] = "missing"
                    reason = "missing" if reason == "type" else reason
                elif value is None and self.allow_nan:
                    line[c] = math.nan
                elif value is None:
                    problems[self._where(name, r, rows)] = "null is not allowed (the model reads no NaN)"
                    reason = "nan"
                else:
                    want = {"bool": "a boolean", "int": "an integer"}.get(kinds[c], "a number")
                    problems[self._where(name, r, rows)] = f"expected {want}, got {_type_name(value)}"
            if len(problems) >= 20:
                break
        if problems:
            raise RowsRejected(reason, problems)
        if not self.allow_nan and not np.isfinite(out).all():  # NaN or Infinity via lenient JSON
            bad = np.argwhere(~np.isfinite(out))
            raise RowsRejected(
                "nan",
                {self._where(names[c], r, rows): "NaN or infinity is not allowed" for r, c in bad[:20]},
            )
        return out

    def _frame(self, rows: Sequence[Mapping[str, Any]]) -> Any:
        import polars as pl

        problems: dict[str, str] = {}
        columns: dict[str, list[Any]] = {name: [] for name in self.names}
        checks = {"float": (int, float), "int": (int,), "bool": (bool,), "text": (str,), "any": (object,)}
        for r, row in enumerate(rows):
            for name, kind in zip(self.names, self.kinds, strict=True):
                value = row.get(name, _MISSING)
                if value is _MISSING:
                    problems[self._where(name, r, rows)] = "missing"
                elif value is None and not self.allow_nan:
                    problems[self._where(name, r, rows)] = "null is not allowed"
                elif value is not None and (
                    not isinstance(value, checks[kind]) or (kind in ("float", "int") and type(value) is bool)
                ):
                    problems[self._where(name, r, rows)] = f"expected {kind}, got {_type_name(value)}"
                elif (
                    kind == "float"
                    and isinstance(value, float)
                    and not math.isfinite(value)
                    and not self.allow_nan
                ):
                    problems[self._where(name, r, rows)] = "NaN or infinity is not allowed"
                columns[name].append(value)
        if problems:
            reason = "missing" if all(v == "missing" for v in problems.values()) else "type"
            raise RowsRejected(reason, dict(list(problems.items())[:20]))
        return pl.DataFrame(columns, strict=False).to_pandas() if _wants_pandas() else pl.DataFrame(columns)

    @staticmethod
    def _where(name: str, r: int, rows: Sequence[Any]) -> str:
        return name if len(rows) == 1 else f"rows[{r}].{name}"

    def features(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The signature's inputs of one row, as logged."""
        return {name: row.get(name) for name in self.names}


class _Missing:
    __slots__ = ()


_MISSING: Any = _Missing()


def _allows_nan(estimator: Any) -> bool:
    """Whether the model reads NaN itself (scikit-learn's `allow_nan` tag, e.g. histogram
    gradient boosting); if not, a null or NaN input is the caller's mistake, not a 500."""
    try:
        from sklearn.utils import get_tags

        return bool(get_tags(estimator).input_tags.allow_nan)
    except Exception:  # an estimator outside scikit-learn's tag system: be strict
        return False


def _wants_pandas() -> bool:
    """Text columns reach scikit-learn by name; pandas when installed (what most fitted
    ColumnTransformers were fitted on), else Polars (scikit-learn >= 1.4 reads it)."""
    try:
        import pandas  # noqa: F401
    except ImportError:
        return False
    return True
