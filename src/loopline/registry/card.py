"""Model cards: one JSON document per version, assembled from the registry's records plus
whatever hooks add (data lineage, environment, an evaluation's own card), and its Markdown.

A hook is `f(version) -> {section: value}`; sections it returns join the card under their names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from loopline.store.metadata.registry import ModelEvent, ModelVersion

CardHook = Callable[[ModelVersion], Mapping[str, Any]]


def assemble(
    version: ModelVersion, events: Sequence[ModelEvent], hooks: Iterable[CardHook] = ()
) -> dict[str, Any]:
    card: dict[str, Any] = {
        "model": version.name,
        "version": version.version,
        "artifact_id": version.artifact_id,
        "run_id": version.run_id,
        "description": version.description,
        "created_at": version.created_at.isoformat(),
        "aliases": list(version.aliases),
        "metrics": dict(version.metrics),
        "signature": version.signature,
        "gates": {"passed": version.gates_passed, "report": version.gate_report},
        "evaluation": version.card,
        "history": [e.to_json() for e in events if e.version == version.version],
    }
    for hook in hooks:
        card.update(hook(version))
    return card


def _table(rows: Iterable[tuple[str, Any]], header: tuple[str, str]) -> list[str]:
    lines = [f"| {header[0]} | {header[1]} |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    return lines


def card_markdown(card: Mapping[str, Any]) -> str:
    lines = [f"# {card['model']} version {card['version']}", ""]
    if card.get("description"):
        lines += [str(card["description"]), ""]
    lines += [
        f"- artifact: `{card['artifact_id']}`",
        f"- source run: `{card.get('run_id') or '-'}`",
        f"- registered: {card['created_at']}",
        f"- aliases: {', '.join(card.get('aliases') or []) or '-'}",
        "",
    ]
    if card.get("metrics"):
        lines += ["## Metrics", "", *_table(sorted(card["metrics"].items()), ("metric", "value")), ""]
    signature = card.get("signature")
    if signature:
        lines += [
            "## Signature",
            "",
            *_table(sorted(signature.get("inputs", {}).items()), ("input", "dtype")),
        ]
        lines += ["", f"output: `{signature.get('output')}`", ""]
    gates = card.get("gates") or {}
    verdict = {True: "passed", False: "failed", None: "not gated"}[gates.get("passed")]
    lines += ["## Gates", "", f"{verdict}", ""]
    for key, value in card.items():
        if key not in _BUILT_IN and value:
            lines += [f"## {key.replace('_', ' ').capitalize()}", "", "```", str(value), "```", ""]
    if card.get("history"):
        lines += ["## History", ""]
        lines += [
            f"- {e['at']} {e['kind']}"
            + (f" {e['alias']}" if e.get("alias") else "")
            + f" by {e['actor']}"
            + (f": {e['reason']}" if e.get("reason") else "")
            for e in card["history"]
        ]
    return "\n".join(lines).rstrip() + "\n"


_BUILT_IN = {
    "model",
    "version",
    "artifact_id",
    "run_id",
    "description",
    "created_at",
    "aliases",
    "metrics",
    "signature",
    "gates",
    "history",
}
