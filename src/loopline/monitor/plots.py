"""Plotly figures of a report, as plain figure dicts (`{"data": [...], "layout": {...}}`): they
hold bin and category proportions and summary figures only, never a row of the window. The
server draws them with the plotly.js that ships in the plotly package; `standalone_html` writes
one offline HTML file with that bundle inlined."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_REF, _CUR, _BAD = "#8a94a6", "#2f6fde", "#d1495b"
_LAYOUT = {"margin": {"l": 50, "r": 20, "t": 40, "b": 50}, "height": 320, "barmode": "group"}


def drift_overview(drift: Mapping[str, Any]) -> dict[str, Any]:
    columns = drift["columns"]
    names = [c["name"] for c in columns]
    psi = [c["psi"] or 0.0 for c in columns]
    colors = [_BAD if c["drifted"] else _CUR for c in columns]
    hover = [f"{c['test']} {c['statistic'] or 0:.4g}, adjusted p {c['p_adjusted']}" for c in columns]
    return {
        "data": [
            {
                "type": "bar",
                "x": names,
                "y": psi,
                "marker": {"color": colors},
                "hovertext": hover,
                "name": "PSI",
            }
        ],
        "layout": {**_LAYOUT, "title": {"text": "PSI per column (red: drifted after correction)"}},
    }


def column_figure(column: Mapping[str, Any]) -> dict[str, Any]:
    verdict = "drifted" if column["drifted"] else "no drift"
    return {
        "data": [
            {
                "type": "bar",
                "x": column["labels"],
                "y": column["reference"],
                "name": "training",
                "marker": {"color": _REF},
            },
            {
                "type": "bar",
                "x": column["labels"],
                "y": column["current"],
                "name": "window",
                "marker": {"color": _BAD if column["drifted"] else _CUR},
            },
        ],
        "layout": {
            **_LAYOUT,
            "title": {
                "text": f"{column['name']}: {verdict} ({column['test']} {column['statistic'] or 0:.3g})"
            },
            "yaxis": {"title": {"text": "share of rows"}},
            "xaxis": {"automargin": True, "tickangle": -45 if column["kind"] == "numeric" else 0},
        },
    }


def _line(windows: list[Mapping[str, Any]], key: str, name: str, **style: Any) -> dict[str, Any]:
    """One figure per time window, as a line with markers."""
    return {
        "type": "scatter",
        "mode": "lines+markers",
        "x": [w["start"] for w in windows],
        "y": [w[key] for w in windows],
        "name": name,
        **style,
    }


def performance_figure(
    performance: Mapping[str, Any] | None, estimate: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    traces = []
    if performance and performance.get("task") == "classification":
        traces.append(_line(performance["windows"], "accuracy", "accuracy (ground truth)"))
    if estimate:
        traces.append(_line(estimate["windows"], "accuracy", "estimated accuracy", line={"dash": "dot"}))
    if performance and performance.get("task") == "regression":
        traces.append(_line(performance["windows"], "mae", "MAE"))
    if not traces:
        return None
    return {"data": traces, "layout": {**_LAYOUT, "title": {"text": "Performance per window"}}}


def figures(report: Mapping[str, Any], limit: int = 30) -> list[dict[str, Any]]:
    """The report's figures, most drifted columns first (at most `limit` column plots)."""
    out: list[dict[str, Any]] = []
    drift = report.get("drift")
    if drift and drift["columns"]:
        out.append({"id": "drift", "title": "Drift by column", "figure": drift_overview(drift)})
        ranked = sorted(
            drift["columns"],
            key=lambda c: (not c["drifted"], c["p_value"] if c["p_value"] is not None else 1.0),
        )
        out += [
            {"id": f"column-{i}", "title": c["name"], "figure": column_figure(c)}
            for i, c in enumerate(ranked[:limit])
            if c["labels"]
        ]
    if (pred := report.get("prediction_drift")) and pred.get("labels"):
        out.append(
            {
                "id": "prediction",
                "title": "Predictions",
                "figure": column_figure(pred | {"name": "prediction"}),
            }
        )
    perf = performance_figure(report.get("performance"), report.get("estimated_performance"))
    if perf:
        out.append({"id": "performance", "title": "Performance", "figure": perf})
    return out


def standalone_html(report: Mapping[str, Any]) -> str:
    """One self-contained HTML file (plotly.js inlined, works offline) with the report's plots."""
    import html

    import plotly.graph_objects as go
    import plotly.io as pio

    title = report.get("title") or f"{report['model']} version {report['version']}"  # a data-only report
    window = report["window"]
    span = (
        ""
        if window.get("since") is None and window.get("until") is None
        else (f", {html.escape(str(window['since']))} to {html.escape(str(window['until']))}")
    )
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>loopline monitor · {html.escape(str(title))}</title></head><body>",
        f"<h1>{html.escape(str(title))}</h1>",
        f"<p>{window['rows']} rows{span}</p>",
    ]
    for i, item in enumerate(report.get("figures", [])):
        parts.append(pio.to_html(go.Figure(item["figure"]), full_html=False, include_plotlyjs=(i == 0)))
    parts.append("</body></html>")
    return "\n".join(parts)
