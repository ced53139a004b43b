"""Answers to and from other tools: Label Studio's JSON tasks with annotations, and plain CSV or
JSON Lines with one answer per line (item_id, annotator, label, seconds, source, and on export
the suggestion shown with the answer, if any).

Parsing takes text and gives rows `(item_id, annotator, label, seconds, source)`; rendering takes
records and gives text. Reading and writing files is the caller's.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from loopline.core.errors import InvalidInput
from loopline.core.labeling import Annotation, Task, TaskType

FORMATS = ("labelstudio", "csv", "jsonl")
COLUMNS = ("item_id", "annotator", "label", "seconds", "source")
EXPORT_COLUMNS = (*COLUMNS, "suggestion")  # the suggestion shown: {"label", "source"}; read back never
ITEM_KEY = "_item_id"  # where an exported Label Studio task keeps loopline's item id
_REGION = {"spans": "labels", "boxes": "rectanglelabels"}

Row = tuple[str, str, Any, float, str]
Located = tuple[str, Row]  # (where in the file, e.g. "line 7", the row)


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown format {fmt!r}", hint=f"one of: {', '.join(FORMATS)}")
    return fmt


# -- Label Studio ------------------------------------------------------------------------------
def _result(label: Any, task_type: TaskType) -> list[dict[str, Any]]:
    base = {"from_name": "label", "to_name": "item"}
    if task_type in ("classification", "multilabel"):
        choices = [label] if task_type == "classification" else list(label)
        return [{**base, "type": "choices", "value": {"choices": choices}}]
    kind = _REGION[task_type]
    return [
        {**base, "type": kind, "value": {**{k: v for k, v in r.items() if k != "label"}, kind: [r["label"]]}}
        for r in label
    ]


def _prediction(label: Any, source: Any, task_type: TaskType) -> dict[str, Any]:
    """A suggestion as a Label Studio prediction (its result in the answers' form when it fits)."""
    try:
        result = _result(label, task_type)
    except (TypeError, KeyError, AttributeError):
        result = []
    return {"model_version": source or "", "result": result}


def to_labelstudio(tasks: Sequence[Task], answers: Sequence[Annotation], task_type: TaskType) -> str:
    by_task: dict[int, list[Annotation]] = {}
    for a in answers:
        by_task.setdefault(a.task_id, []).append(a)

    def annotation(a: Annotation) -> dict[str, Any]:
        out: dict[str, Any] = {
            "completed_by": a.annotator,
            "lead_time": a.seconds,
            "result": _result(a.label, task_type),
            "meta": {"source": a.source},
        }
        if a.suggestion is not None:  # the suggestion shown while answering
            out["prediction"] = _prediction(a.suggestion["label"], a.suggestion["source"], task_type)
        return out

    out = []
    for t in tasks:
        task: dict[str, Any] = {
            "id": t.id,
            "data": {**t.data, ITEM_KEY: t.item_id},
            "annotations": [annotation(a) for a in by_task.get(t.id, [])],
        }
        if t.suggestion is not None:
            task["predictions"] = [_prediction(t.suggestion, t.suggestion_source, task_type)]
        out.append(task)
    return json.dumps(out, indent=1, default=str, ensure_ascii=False)


def _completed_by(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("email") or value.get("username") or value.get("id")
    return "" if value is None else str(value)


def _label(result: Any, task_type: TaskType, where: str) -> Any:  # untrusted JSON: checked here
    if not isinstance(result, list) or not all(isinstance(r, dict) for r in result):
        raise InvalidInput("`result` must be a list of objects", where=where)
    if task_type in ("classification", "multilabel"):
        choices = [
            c for r in result if r.get("type") == "choices" for c in r.get("value", {}).get("choices", [])
        ]
        if task_type == "multilabel":
            return choices
        if len(choices) != 1:
            raise InvalidInput(
                f"a single-label answer needs exactly one choice, found {len(choices)}", where=where
            )
        return choices[0]
    kind = _REGION[task_type]
    regions = []
    for r in result:
        if r.get("type") != kind:
            continue
        value = dict(r.get("value") or {})
        names = value.pop(kind, None)
        if not isinstance(names, list) or len(names) != 1:
            raise InvalidInput(f"each {kind} region needs exactly one label", where=where)
        regions.append({**value, "label": names[0]})
    return regions


def from_labelstudio(text: str, task_type: TaskType, item_of_task: dict[int, str]) -> list[Row]:
    """Answers in a Label Studio export. A task is matched by `data._item_id` (set by our export),
    else by its id when it is one of this project's task ids. Cancelled annotations are left out."""
    return [row for _, row in labelstudio_at(text, task_type, item_of_task)]


def labelstudio_at(text: str, task_type: TaskType, item_of_task: dict[int, str]) -> list[Located]:
    """`from_labelstudio` with where each answer is in the file ("task N, annotation M")."""
    try:
        tasks = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"not JSON: {exc.msg} at line {exc.lineno}") from exc
    if not isinstance(tasks, list):
        raise InvalidInput("a Label Studio export is a JSON list of tasks")
    rows: list[Located] = []
    for n, task in enumerate(tasks):
        where = f"task {n}"
        if not isinstance(task, dict) or not isinstance(task.get("data", {}), dict):
            raise InvalidInput("each task must be an object with a `data` object", where=where)
        task_id = task.get("id")  # Label Studio's ids are ints; anything else names no task of ours
        known = item_of_task.get(task_id) if isinstance(task_id, int) else None
        item = task.get("data", {}).get(ITEM_KEY) or known
        if not item:
            raise InvalidInput(
                f"cannot tell which item task id {task.get('id')!r} is",
                where=where,
                hint=f"keep `data.{ITEM_KEY}` from `loopline annotate export`",
            )
        for m, ann in enumerate(task.get("annotations") or []):
            at = f"{where}, annotation {m}"
            if not isinstance(ann, dict):
                raise InvalidInput("an annotation must be an object", where=at)
            if ann.get("was_cancelled"):
                continue
            source = (ann.get("meta") or {}).get("source", "human")
            seconds = float(ann.get("lead_time") or 0.0)
            rows.append(
                (
                    at,
                    (
                        str(item),
                        _completed_by(ann.get("completed_by")),
                        _label(ann.get("result"), task_type, at),
                        seconds,
                        source,
                    ),
                )
            )
    return rows


# -- CSV and JSON Lines -----------------------------------------------------------------------
def _cell(label: Any, task_type: TaskType) -> str:
    return label if task_type == "classification" else json.dumps(label, ensure_ascii=False)


def _value(cell: Any, task_type: TaskType, where: str) -> Any:
    if task_type == "classification" or not isinstance(cell, str):
        return cell
    try:
        return json.loads(cell)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"label {cell!r} is not JSON (a {task_type} answer is a JSON list)", where=where
        ) from exc


def _row(record: dict[str, Any], task_type: TaskType, where: str, gold: bool = False) -> Row:
    if gold:
        record = {"annotator": "gold", **{k: v for k, v in record.items() if v not in (None, "")}}
    missing = [c for c in ("item_id", "annotator", "label") if record.get(c) in (None, "")]
    if missing:
        raise InvalidInput(
            f"missing {', '.join(missing)}", where=where, hint=f"columns: {', '.join(COLUMNS)}"
        )
    try:
        seconds = float(record.get("seconds") or 0.0)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"seconds {record.get('seconds')!r} is not a number", where=where) from exc
    label = _value(record["label"], task_type, where)
    return (str(record["item_id"]), str(record["annotator"]), label, seconds, record.get("source") or "human")


def to_rows(answers: Sequence[Annotation], fmt: str, task_type: TaskType) -> str:
    records = [
        {
            "item_id": a.item_id,
            "annotator": a.annotator,
            "label": _cell(a.label, task_type) if fmt == "csv" else a.label,
            "seconds": a.seconds,
            "source": a.source,
            "suggestion": a.suggestion
            if fmt == "jsonl"
            else ("" if a.suggestion is None else json.dumps(a.suggestion, ensure_ascii=False)),
        }
        for a in answers
    ]
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return out.getvalue()


def from_rows(text: str, fmt: str, task_type: TaskType, *, gold: bool = False) -> list[Row]:
    return [row for _, row in rows_at(text, fmt, task_type, gold=gold)]


def rows_at(text: str, fmt: str, task_type: TaskType, *, gold: bool = False) -> list[Located]:
    """`from_rows` with the line each row was read from."""
    needed = {"item_id", "label"} if gold else {"item_id", "annotator", "label"}
    if fmt == "jsonl":
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidInput(f"not JSON: {exc.msg}", where=f"line {n}") from exc
            if not isinstance(record, dict):
                raise InvalidInput("each line must be a JSON object", where=f"line {n}")
            rows.append((f"line {n}", _row(record, task_type, f"line {n}", gold)))
        return rows
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or not needed <= set(reader.fieldnames):
        raise InvalidInput(
            f"the CSV header must name {', '.join(sorted(needed))}; found {reader.fieldnames}",
            hint=f"columns: {', '.join(COLUMNS)}",
        )
    out: list[Located] = []
    for record in reader:  # line_num: where the record ends (a quoted field may span lines)
        out.append((f"line {reader.line_num}", _row(record, task_type, f"line {reader.line_num}", gold)))
    return out


def from_text(text: str, fmt: str, task_type: TaskType, item_of_task: dict[int, str]) -> list[Row]:
    return [row for _, row in from_text_at(text, fmt, task_type, item_of_task)]


def from_text_at(text: str, fmt: str, task_type: TaskType, item_of_task: dict[int, str]) -> list[Located]:
    """The answers of a file, each with where it is in the file (for errors naming a line)."""
    if check_format(fmt) == "labelstudio":
        return labelstudio_at(text, task_type, item_of_task)
    return rows_at(text, fmt, task_type)


def to_text(tasks: Sequence[Task], answers: Sequence[Annotation], fmt: str, task_type: TaskType) -> str:
    if check_format(fmt) == "labelstudio":
        return to_labelstudio(tasks, answers, task_type)
    return to_rows(answers, fmt, task_type)


def gold_from_text(text: str, fmt: str, task_type: TaskType, item_of_task: dict[int, str]) -> dict[str, Any]:
    """Known answers (item_id -> label): CSV or JSON Lines with item_id and label columns, or a
    Label Studio export whose first annotation per task is the answer."""
    if check_format(fmt) == "labelstudio":
        rows = from_labelstudio(text, task_type, item_of_task)
    else:
        rows = from_rows(text, fmt, task_type, gold=True)
    gold: dict[str, Any] = {}
    for item_id, _, label, _, _ in rows:
        gold.setdefault(item_id, label)
    if not gold:
        raise InvalidInput("the file holds no known answers", hint="columns: item_id, label")
    return gold
