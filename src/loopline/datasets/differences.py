"""How two artifacts that should be one differ, for `reproduce`: a hash says *that* outputs
differ; a user needs *how* to find the cause. A table is compared by schema, rows and column (how
many rows differ, the largest absolute and relative difference, a sample), a model by its params
and fitted attributes, a report by key.

A tolerance accepts float noise and nothing else: a float that differs by at most T, absolutely
or relatively, is marked `within_tolerance` (with which of the two it passed by); a changed
integer, string, schema, row count or row order never is. An artifact is within tolerance when
every difference found is.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl

SAMPLE = 5  # differing rows shown per column
MAX_PATHS = 20  # differing params / attributes / keys listed per artifact
_DEPTH = 8  # how deep the walk goes into a model's nested objects
_GOT = "\0got"


# -- tables ----------------------------------------------------------------------------------
def compare_tables(
    expected: pl.DataFrame, got: pl.DataFrame, tolerance: float | None = None
) -> dict[str, Any]:
    """Schema, rows and per-column differences of two tables (see the module docstring)."""
    want, have = dict(expected.schema), dict(got.schema)
    schema = {
        "added": [c for c in have if c not in want],
        "removed": [c for c in want if c not in have],
        "changed": {c: [str(want[c]), str(have[c])] for c in want if c in have and want[c] != have[c]},
    }
    detail: dict[str, Any] = {
        "kind": "table",
        "schema": schema if any(schema.values()) else None,
        "rows": {"expected": expected.height, "got": got.height},
        "order_only": False,
        "aligned_by": None,
        "columns": [],
    }
    common = [c for c in want if c in have and want[c] == have[c]]
    if detail["schema"] is None and expected.height == got.height and _same_rows(expected, got):
        detail["order_only"] = True  # the same rows, in another order
        return _finish(detail, [])
    joined = _align(expected.select(common), got.select(common), detail)
    for name in common:
        if name in (detail["aligned_by"] or []):
            continue
        found = _column(joined, name, want[name], tolerance, detail["aligned_by"] or [])
        if found:
            detail["columns"].append(found)
    return _finish(detail, detail["columns"])


def _finish(detail: dict[str, Any], found: list[dict[str, Any]]) -> dict[str, Any]:
    structural = (
        detail.get("schema")
        or detail.get("order_only")
        or detail.get("only_expected")
        or detail.get("only_got")
        or (detail.get("rows") and detail["rows"]["expected"] != detail["rows"]["got"])
    )
    detail["within_tolerance"] = (
        bool(found) and not structural and all(f.get("within_tolerance") for f in found)
    )
    return detail


def _same_rows(a: pl.DataFrame, b: pl.DataFrame) -> bool:
    if a.width == 0:
        return True
    try:
        return a.sort(a.columns, nulls_last=True).equals(b.sort(b.columns, nulls_last=True), null_equal=True)
    except pl.exceptions.InvalidOperationError:  # a column type that cannot be sorted (a list)
        return False


def _align(expected: pl.DataFrame, got: pl.DataFrame, detail: dict[str, Any]) -> pl.DataFrame:
    """Expected and got side by side, a row index, and the got columns suffixed. Row by row
    when the non-float columns agree row by row; else joined on them when they are a key in both
    (a group_by whose output came in another order); else row by row over the shorter table."""
    keys = [c for c, t in expected.schema.items() if not t.is_float()]
    right = got.rename({c: c + _GOT for c in got.columns})
    if expected.height == got.height and (
        not keys or expected.select(keys).equals(got.select(keys), null_equal=True)
    ):
        return pl.concat([expected, right], how="horizontal").with_row_index("_row")
    if keys and all(f.select(keys).is_unique().all() for f in (expected, got)):
        only_expected = expected.join(got, on=keys, how="anti", nulls_equal=True).height
        only_got = got.join(expected, on=keys, how="anti", nulls_equal=True).height
        # Same length and keys that do not all match: a key column itself changed (a timestamp);
        # compare row by row then, so that column shows its differences.
        if expected.height != got.height or only_expected == only_got == 0:
            detail |= {"aligned_by": keys, "only_expected": only_expected, "only_got": only_got}
            renamed = got.rename({c: c + _GOT for c in got.columns if c not in keys})
            left = expected.with_row_index("_row")
            return left.join(renamed, on=keys, how="inner", nulls_equal=True).sort("_row")
    if expected.height == got.height:
        return pl.concat([expected, right], how="horizontal").with_row_index("_row")
    n = min(expected.height, got.height)
    detail["compared_rows"] = n
    return pl.concat([expected.head(n), right.head(n)], how="horizontal").with_row_index("_row")


def _column(
    frame: pl.DataFrame, name: str, dtype: pl.DataType, tolerance: float | None, keys: list[str]
) -> dict[str, Any] | None:
    e, g = pl.col(name), pl.col(name + _GOT)
    same = e.eq_missing(g)
    if dtype.is_float():
        same = same | (e.is_nan() & g.is_nan()).fill_null(False)
    diff = frame.filter(~same)
    if diff.height == 0:
        return None
    found: dict[str, Any] = {"name": name, "dtype": str(dtype), "rows": diff.height, "of": frame.height}
    if dtype.is_numeric():
        ef, gf = e.cast(pl.Float64), g.cast(pl.Float64)
        both = diff.filter(ef.is_not_null() & gf.is_not_null() & ef.is_finite() & gf.is_finite())
        gap = both.select(abs=(ef - gf).abs(), rel=(ef - gf).abs() / pl.max_horizontal(ef.abs(), gf.abs()))
        found["max_abs"] = _number(gap["abs"].max())
        found["max_rel"] = _number(gap["rel"].max())
        found["missing_or_nan"] = diff.height - both.height  # a value on one side only
        if dtype.is_float() and tolerance is not None:
            found |= _accepted(gap["abs"], gap["rel"], tolerance, diff.height == both.height)
    sample = diff.head(SAMPLE).select("_row", *keys, name, name + _GOT)
    found["sample"] = [
        {"row": r["_row"], **{k: r[k] for k in keys}, "expected": r[name], "got": r[name + _GOT]}
        for r in sample.to_dicts()
    ]
    return found


def _accepted(absolute: pl.Series, relative: pl.Series, tolerance: float, finite: bool) -> dict[str, Any]:
    by_abs = bool((absolute <= tolerance).all())
    by_rel = bool((relative <= tolerance).all())
    mixed = bool(((absolute <= tolerance) | (relative <= tolerance)).all())
    accepted = finite and (by_abs or by_rel or mixed)
    by = "absolute" if by_abs else "relative" if by_rel else "absolute or relative" if mixed else None
    return {"within_tolerance": accepted, "accepted_by": by if accepted else None}


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


# -- models and reports ------------------------------------------------------------------------
def compare_models(expected: Any, got: Any, tolerance: float | None = None) -> dict[str, Any]:
    """Which params and which fitted attributes (walked into nested estimators, trees and
    arrays) of two models differ."""
    detail: dict[str, Any] = {"kind": "model", "class": None, "params": [], "attributes": []}
    if type(expected) is not type(got):
        detail["class"] = [_qualname(expected), _qualname(got)]
        return _finish(detail, [{"class": True}])
    params = expected.get_params(deep=False)
    _walk(params, got.get_params(deep=False), "", detail["params"], tolerance, 0, set())
    fitted = {k: v for k, v in vars(expected).items() if k not in params}
    other = {k: v for k, v in vars(got).items() if k not in params}
    _walk(fitted, other, "", detail["attributes"], tolerance, 0, set())
    found = detail["params"] + detail["attributes"]
    detail["count"] = len(found)
    detail["params"], detail["attributes"] = detail["params"][:MAX_PATHS], detail["attributes"][:MAX_PATHS]
    return _finish(detail, found)


def compare_json(expected: Any, got: Any, tolerance: float | None = None) -> dict[str, Any]:
    """The keys (paths like `trials[3].value`) of two JSON values that differ."""
    found: list[dict[str, Any]] = []
    _walk(expected, got, "", found, tolerance, 0, set())
    return _finish({"kind": "json", "count": len(found), "differences": found[:MAX_PATHS]}, found)


def _qualname(value: Any) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


def _join(path: str, part: str | int) -> str:
    if isinstance(part, int):
        return f"{path}[{part}]"
    return f"{path}.{part}" if path else part


def _short(value: Any) -> Any:
    """A value small enough to show in a report."""
    if isinstance(value, np.ndarray):
        return f"array{value.shape} {'structured' if value.dtype.names else value.dtype}"
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _walk(
    a: Any, b: Any, path: str, out: list[dict[str, Any]], tol: float | None, depth: int, seen: set[int]
) -> None:
    """Append a record per differing leaf of a and b to `out`."""
    if len(out) > 10 * MAX_PATHS:  # enough to say what differs; the count is a lower bound then
        return
    if isinstance(a, np.generic):
        a = a.item()
    if isinstance(b, np.generic):
        b = b.item()
    numbers = (int, float)
    if (
        isinstance(a, numbers)
        and isinstance(b, numbers)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
    ):
        if a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)):
            return
        gap = abs(a - b)
        record = {"path": path or "(value)", "expected": a, "got": b, "max_abs": float(gap)}
        record["max_rel"] = float(gap / max(abs(a), abs(b)))
        if tol is not None and isinstance(a, float) and isinstance(b, float):
            record |= _accepted(pl.Series([gap]), pl.Series([record["max_rel"]]), tol, math.isfinite(gap))
        out.append(record)
        return
    if type(a) is not type(b):
        out.append({"path": path or "(value)", "expected": _short(a), "got": _short(b)})
        return
    if isinstance(a, np.ndarray):
        _walk_array(a, b, path, out, tol, depth, seen)
    elif isinstance(a, dict):
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                side = "got" if key in b else "expected"
                out.append({"path": _join(path, str(key)), "only_in": side})
            else:
                _walk(a[key], b[key], _join(path, str(key)), out, tol, depth, seen)
    elif isinstance(a, list | tuple):
        if len(a) != len(b):
            out.append({"path": path or "(value)", "expected": f"{len(a)} items", "got": f"{len(b)} items"})
            return
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _walk(x, y, _join(path, i), out, tol, depth, seen)
    elif isinstance(a, str | bytes | bool) or a is None:
        if a != b:
            out.append({"path": path or "(value)", "expected": _short(a), "got": _short(b)})
    elif isinstance(a, np.random.Generator):
        _walk(a.bit_generator.state, b.bit_generator.state, _join(path, "state"), out, tol, depth, seen)
    elif isinstance(a, np.random.RandomState):
        _walk(list(a.get_state()), list(b.get_state()), _join(path, "state"), out, tol, depth, seen)
    elif hasattr(a, "__dict__") and depth < _DEPTH and id(a) not in seen:
        seen.add(id(a))
        _walk(vars(a), vars(b), path, out, tol, depth + 1, seen)
    else:
        _walk_opaque(a, b, path, out, tol, depth, seen)


def _walk_opaque(
    a: Any, b: Any, path: str, out: list[dict[str, Any]], tol: float | None, depth: int, seen: set[int]
) -> None:
    """An object without a __dict__ (a Cython loss, a compiled tree): compared by what pickling
    would keep of it, since its repr holds its address."""
    try:
        left, right = a.__reduce_ex__(4), b.__reduce_ex__(4)
    except Exception:  # cannot be reduced: nothing to compare but the type, already equal
        return
    if isinstance(left, tuple) and isinstance(right, tuple) and depth < _DEPTH:
        _walk(left[1], right[1], f"{path}(args)", out, tol, depth + 1, seen)
        if len(left) > 2 and len(right) > 2:  # the state: what the object holds
            _walk(left[2], right[2], path, out, tol, depth + 1, seen)
    elif left != right:
        out.append({"path": path or "(value)", "expected": _short(a), "got": _short(b)})


def _walk_array(
    a: np.ndarray,
    b: np.ndarray,
    path: str,
    out: list[dict[str, Any]],
    tol: float | None,
    depth: int,
    seen: set[int],
) -> None:
    where = path or "(value)"
    if a.shape != b.shape or a.dtype != b.dtype:
        out.append({"path": where, "expected": _short(a), "got": _short(b)})
    elif a.dtype.names:  # a structured array (a tree's nodes): field by field
        for name in a.dtype.names:
            _walk_array(a[name], b[name], f"{where}[{name!r}]", out, tol, depth, seen)
    elif a.dtype.kind == "O":
        for i, (x, y) in enumerate(zip(a.ravel(), b.ravel(), strict=True)):
            _walk(x, y, _join(path, i), out, tol, depth, seen)
    elif a.dtype.kind in "fiuc":
        differ = ~((a == b) | (np.isnan(a) & np.isnan(b)) if a.dtype.kind in "fc" else (a == b))
        if not differ.any():
            return
        x, y = a[differ].astype(np.float64), b[differ].astype(np.float64)
        gap = np.abs(x - y)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = gap / np.maximum(np.abs(x), np.abs(y))
        record: dict[str, Any] = {"path": where, "elements": int(differ.sum()), "of": int(a.size)}
        record |= {"max_abs": float(np.nanmax(gap)), "max_rel": float(np.nanmax(rel))}
        if tol is not None and a.dtype.kind == "f":
            finite = bool(np.isfinite(gap).all())
            record |= _accepted(pl.Series(gap), pl.Series(rel), tol, finite)
        out.append(record)
    elif not np.array_equal(a, b):
        out.append({"path": where, "elements": int((a != b).sum()), "of": int(a.size)})
