"""Whether an answer fits its labeling project: the label set, and spans and boxes that stay
inside their text or image. Pure checks, kept apart from the queue's SQL; the queue runs them
before it stores an answer or a gold label.
"""

from __future__ import annotations

import math
from typing import Any, TypeGuard

from loopline.core.errors import InvalidInput
from loopline.core.labeling import LabelProject


def _number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _size(data: dict[str, Any] | None, key: str) -> float | None:
    value = (data or {}).get(key)
    return float(value) if _number(value) and value > 0 else None


def _check_region(project: LabelProject, region: dict[str, Any], data: dict[str, Any] | None) -> str | None:
    """Why a span or box does not fit the item, or None when it does."""
    if project.task_type == "spans":
        start, end = region.get("start"), region.get("end")
        if not (_integer(start) and _integer(end)):
            return f"a span needs integer `start` and `end`, got {start!r} and {end!r}"
        if not 0 <= start < end:
            return f"a span needs 0 <= start < end, got {start}..{end}"
        text = (data or {}).get(project.text_field) if project.text_field else None
        if text is not None and end > len(str(text)):
            return f"span {start}..{end} runs past the text's {len(str(text))} characters"
        return None
    x, y, w, h = (region.get(k) for k in ("x", "y", "width", "height"))
    if not (_number(x) and _number(y) and _number(w) and _number(h)):
        return "a box needs numbers `x`, `y`, `width` and `height`"
    if x < 0 or y < 0 or w <= 0 or h <= 0:
        return f"a box needs x, y >= 0 and a positive width and height, got {x}, {y}, {w}x{h}"
    image_w, image_h = _size(data, "width"), _size(data, "height")
    if (image_w is not None and x + w > image_w) or (image_h is not None and y + h > image_h):
        return f"box {x}, {y}, {w}x{h} runs past the image ({image_w} x {image_h} pixels)"
    return None


def check_label(
    project: LabelProject, label: Any, where: str = "", data: dict[str, Any] | None = None
) -> Any:
    """The label if it fits the project's task type and label set, else InvalidInput. Spans
    ({start, end, label}: character offsets, end exclusive) and boxes ({x, y, width, height,
    label}: image pixels) are checked against the item when its `data` is given and tells the
    text (the project's text field) or the image size (`width`, `height`)."""
    allowed = set(project.labels)
    hint = f"labels of {project.name}: {', '.join(project.labels)}"
    if project.task_type == "classification":
        if not isinstance(label, str) or label not in allowed:
            raise InvalidInput(f"label {label!r} is not in the label set", where=where or None, hint=hint)
        return label
    if project.task_type == "multilabel":
        if not isinstance(label, list) or not all(isinstance(x, str) and x in allowed for x in label):
            raise InvalidInput(
                f"multilabel answer {label!r} must be a list of labels from the set",
                where=where or None,
                hint=hint,
            )
        return sorted(set(label))
    # spans and boxes: a list of regions, each {"label": ..., ...coordinates}
    if not isinstance(label, list) or not all(
        isinstance(x, dict) and x.get("label") in allowed for x in label
    ):
        raise InvalidInput(
            f"{project.task_type} answer must be a list of objects each with a `label` from the set",
            where=where or None,
            hint=hint,
        )
    for n, region in enumerate(label):
        problem = _check_region(project, region, data)
        if problem:
            raise InvalidInput(problem, where=f"{where}, region {n}" if where else f"region {n}")
    return label
