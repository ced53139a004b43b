"""Model signatures: what a model reads (column -> dtype) and what it returns.

`{"inputs": {"sepal_length": "Float64", ...}, "output": "Int64"}`: the same dtype names as an
artifact's schema, so serve and monitor can check a request or a batch against them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loopline.core.errors import InvalidInput


def check_signature(signature: Any) -> dict[str, Any] | None:
    if signature is None:
        return None
    if (
        not isinstance(signature, Mapping)
        or not set(signature) <= {"inputs", "output"}
        or not isinstance(signature.get("inputs", {}), Mapping)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in signature.get("inputs", {}).items())
        or not isinstance(signature.get("output", ""), str | type(None))
    ):
        raise InvalidInput(
            "a signature is {inputs: {column: dtype}, output: dtype}",
            hint='e.g. {"inputs": {"x": "Float64"}, "output": "Int64"}',
        )
    return {"inputs": dict(signature.get("inputs", {})), "output": signature.get("output")}


def infer_signature(estimator: Any, table_schema: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """From a fitted estimator: its feature names (dtypes from the training table's schema when
    known) and the dtype of what predict returns (the classes' for a classifier)."""
    names = getattr(estimator, "feature_names_in_", None)
    count = getattr(estimator, "n_features_in_", None)
    schema = dict(table_schema or {})
    if names is not None:
        inputs = {str(n): schema.get(str(n), "unknown") for n in names}
    elif isinstance(count, int):
        inputs = {f"x{i}": "unknown" for i in range(count)}
    else:
        return None
    classes = getattr(estimator, "classes_", None)
    output = str(classes.dtype) if classes is not None and hasattr(classes, "dtype") else "float64"
    return {"inputs": inputs, "output": output}
