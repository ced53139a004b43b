"""The model card: what a model is for, what data made and tested it, how well it does overall
and per slice, whether it passed its gates, and where it ran. A pure function of an evaluation
report and the records the Project gathers; JSON first, Markdown rendered from the JSON."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

CARD_VERSION = 1


def model_card(
    report: Mapping[str, Any],
    *,
    model: Mapping[str, Any],
    data: Sequence[Mapping[str, Any]] = (),
    environment: Mapping[str, Any] | None = None,
    run: Mapping[str, Any] | None = None,
    intended_use: str | None = None,
) -> dict[str, Any]:
    """`model`: {id, name, version, type}; `data`: [{role, name, version, id, rows, reads}] (the
    datasets the model was trained on and the test set, with its read count); `environment`:
    {python, platform, loopline, packages}; `run`: {run_id, git_commit, git_dirty}."""
    env = dict(environment or {})
    packages = env.pop("packages", {}) or {}
    wanted = ("scikit-learn", "numpy", "polars", "scipy", "lightgbm", "loopline")
    return {
        "card_version": CARD_VERSION,
        "model": {**model, "type": model.get("type") or report.get("model")},
        "intended_use": intended_use or report.get("intended_use"),
        "task": report.get("task"),
        "target": report.get("target"),
        "data": [dict(d) for d in data],
        "evaluation": {
            "rows": report.get("rows"),
            "metrics": report.get("metrics", {}),
            "bootstrap": report.get("bootstrap"),
            "slices": report.get("slices", []),
            "confusion_matrix": report.get("confusion_matrix"),
            "labels": report.get("labels"),
            "baseline": report.get("baseline"),
        },
        "gates": {"passed": report.get("passed"), "results": report.get("gates", [])},
        "environment": env | {"packages": {k: v for k, v in sorted(packages.items()) if k.lower() in wanted}},
        "run": dict(run or {}),
    }


def _figure(entry: Mapping[str, Any] | None) -> str:
    if not entry or entry.get("value") is None:
        return "n/a"
    text = f"{entry['value']:.4f}"
    if entry.get("low") is not None and entry.get("high") is not None:
        text += f" [{entry['low']:.4f}, {entry['high']:.4f}]"
    return text


def card_markdown(card: Mapping[str, Any]) -> str:
    model = card["model"]
    title = f"{model.get('name') or 'model'}" + (f" v{model['version']}" if model.get("version") else "")
    lines = [f"# Model card: {title}", ""]
    lines += [f"- **Model**: {model.get('type') or 'unknown'} (artifact `{str(model.get('id', ''))[:12]}`)"]
    lines += [f"- **Task**: {card.get('task')} of `{card.get('target')}`"]
    lines += [f"- **Intended use**: {card.get('intended_use') or 'not stated'}", ""]
    lines += [
        "## Data",
        "",
        "| role | dataset | version | id | rows | test reads |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for d in card.get("data", []):
        reads = "" if d.get("reads") is None else str(d["reads"])
        rows = "" if d.get("rows") is None else str(d["rows"])
        lines.append(
            f"| {d.get('role', '')} | {d.get('name') or '(unnamed)'} | {d.get('version') or ''} "
            f"| `{str(d.get('id', ''))[:12]}` | {rows} | {reads} |"
        )
    evaluation = card["evaluation"]
    boot = evaluation.get("bootstrap") or {}
    level = f"{boot.get('level', 0.95):.0%}" if boot else ""
    lines += [
        "",
        "## Metrics",
        "",
        f"On {evaluation.get('rows')} test rows; brackets: {level} bootstrap interval "
        f"({boot.get('resamples', 0)} resamples).",
        "",
        "| metric | value |",
        "| --- | --- |",
    ]
    lines += [f"| {k} | {_figure(v)} |" for k, v in evaluation.get("metrics", {}).items()]
    if evaluation.get("baseline"):
        base = evaluation["baseline"]
        lines += [
            "",
            f"Baseline ({base.get('model')}): "
            + ", ".join(f"{k} {_figure(v)}" for k, v in base.get("metrics", {}).items()),
        ]
    slices = evaluation.get("slices") or []
    if slices:
        keys = list(evaluation.get("metrics", {}))[:4]
        lines += [
            "",
            "## Slices",
            "",
            "| slice | rows | " + " | ".join(keys) + " |",
            "|" + " --- |" * (len(keys) + 2),
        ]
        for s in slices:
            figures = [_figure((s.get("metrics") or {}).get(k)) for k in keys]
            lines.append(f"| {s['slice']} | {s['rows']} | " + " | ".join(figures) + " |")
    if evaluation.get("confusion_matrix"):
        labels = [str(v) for v in evaluation.get("labels") or []]
        lines += [
            "",
            "## Confusion matrix",
            "",
            "rows: true, columns: predicted",
            "",
            "| | " + " | ".join(labels) + " |",
            "|" + " --- |" * (len(labels) + 1),
        ]
        for label, row in zip(labels, evaluation["confusion_matrix"], strict=False):
            lines.append(f"| **{label}** | " + " | ".join(str(c) for c in row) + " |")
    gates = card.get("gates") or {}
    if gates.get("results"):
        lines += ["", f"## Gates: {'passed' if gates.get('passed') else 'FAILED'}", ""]
        for g in gates["results"]:
            value = "n/a" if g.get("value") is None else f"{g['value']:.4f}"
            note = f" ({g['note']})" if g.get("note") else ""
            lines.append(f"- {'✅' if g['passed'] else '❌'} {g['gate']}: {value}{note}")
    env = card.get("environment") or {}
    run = card.get("run") or {}
    lines += ["", "## Environment", ""]
    if env.get("python"):
        lines.append(f"- Python {env['python']} on {env.get('platform')}, loopline {env.get('loopline')}")
    for name, version in (env.get("packages") or {}).items():
        lines.append(f"- {name} {version}")
    if run.get("run_id"):
        git = (
            f", git {str(run['git_commit'])[:12]}{' (dirty)' if run.get('git_dirty') else ''}"
            if run.get("git_commit")
            else ""
        )
        lines.append(f"- evaluated in run `{run['run_id']}`{git}")
    return "\n".join(lines) + "\n"
