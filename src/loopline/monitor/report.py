"""One monitoring report from a reference profile and a production window: drift, prediction
drift, data quality, performance (with ground truth) and its estimate (without). Pure: frames
in, a JSON-shaped dict out; storing it and firing alerts is the caller's business."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import polars as pl

from loopline.monitor import plots
from loopline.monitor.config import MonitorConfig
from loopline.monitor.drift import drift, single_drift
from loopline.monitor.performance import estimated_performance, performance
from loopline.monitor.profile import Profile


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def build_report(
    profile: Profile,
    frame: pl.DataFrame,
    *,
    model: str,
    version: int | None,
    config: MonitorConfig | None = None,
    truth: pl.DataFrame | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    features: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The report. `frame` is a prediction-log window (request_id, at, prediction, confidence
    and the features) or any table with the features (an Evidently-style "current" dataset)."""
    config = config or MonitorConfig()
    names = [n for n in (features or profile.columns) if n in profile.columns]
    reference = {n: profile.columns[n] for n in names}
    report: dict[str, Any] = {
        "model": model,
        "version": version,
        "window": {"rows": frame.height, "since": _iso(since), "until": _iso(until)},
        "reference": {"rows": profile.rows, **profile.source},
        "empty": frame.height == 0,
        "drift": None,
        "prediction_drift": None,
        "quality": None,
        "performance": None,
        "estimated_performance": None,
    }
    if frame.height == 0:
        report["message"] = (
            f"no predictions of {model} between {_iso(since) or 'the start'} and {_iso(until) or 'now'}: "
            "nothing to compare, no alert evaluated"
        )
        report["figures"] = []
        return report
    from loopline.monitor.quality import quality

    report["drift"] = drift(
        reference,
        frame,
        alpha=config.alpha,
        correction=config.correction,
        min_psi=config.min_psi,
        share=config.share,
    )
    if "prediction" in frame.columns:
        report["prediction_drift"] = single_drift(profile.prediction, frame["prediction"], config.alpha)
    report["quality"] = quality(reference, frame)
    if "prediction" in frame.columns and "at" in frame.columns:
        report["performance"] = (
            performance(frame, truth, config.every) if "request_id" in frame.columns else None
        )
        report["estimated_performance"] = estimated_performance(frame, config.every)
    report["figures"] = plots.figures(report)
    return report


def data_drift_report(
    reference: pl.DataFrame,
    current: pl.DataFrame,
    *,
    names: tuple[str, str],
    columns: Sequence[str] | None = None,
    config: MonitorConfig | None = None,
) -> dict[str, Any]:
    """`build_report` for two tables and no model (`loopline drift REF CUR`): the reference is
    profiled on the spot, the same drift tests and quality checks run on `columns` (by default
    every column both tables have, but loopline's own `_` columns such as `_item_id`).
    `names` (reference, current) label the report. Raises InvalidInput for an unknown column
    or when the tables share none."""
    from loopline.core.errors import InvalidInput
    from loopline.monitor.profile import build_profile

    if columns is None:
        chosen = [c for c in reference.columns if c in current.columns and not c.startswith("_")]
        if not chosen:
            raise InvalidInput(
                f"{names[0]} and {names[1]} have no column in common",
                where=f"columns {reference.columns} and {current.columns}",
                hint="compare two versions of one table, or pick columns with --columns",
            )
    else:
        chosen = list(dict.fromkeys(columns))
        for which, frame in zip(names, (reference, current), strict=True):
            missing = [c for c in chosen if c not in frame.columns]
            if missing:
                raise InvalidInput(
                    f"{which} has no column {', '.join(map(repr, missing))}",
                    hint=f"its columns: {', '.join(frame.columns)}",
                )
    profile = build_profile(reference, chosen, source={"table": names[0]})
    skipped = [c for c in chosen if c not in profile.columns]  # e.g. nested or binary columns
    report = build_report(
        profile, current.select(chosen), model=names[1], version=None, config=config, features=chosen
    )
    report["model"] = None  # no model: the tables are named by reference.table and current
    report["title"] = f"{names[1]} against {names[0]}"
    report["current"] = names[1]
    report["skipped_columns"] = skipped
    return report
