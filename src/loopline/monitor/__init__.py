"""Monitor: is the deployed model still seeing the data it was trained on, and is it still right?

A reference profile of the training table is stored when a model is registered (profile.py);
a production window (the prediction log, or any table) is compared with it column by column
(drift.py: KS and chi-square tests with Holm's correction, PSI, Jensen-Shannon and
Wasserstein as effect sizes), checked for data quality (quality.py), and scored once ground
truth arrives, or estimated from the confidences before (performance.py). Alert rules from
loopline.yaml (config.py, alerts.py) fire on the report's figures. Everything here is pure:
frames in, dicts out; loopline.wiring.monitor stores profiles, reports and alert state.
"""

from __future__ import annotations

from loopline.monitor.alerts import AlertRule, decide, deliver, evaluate, report_metrics
from loopline.monitor.config import MonitorConfig
from loopline.monitor.drift import adjust, column_drift, drift
from loopline.monitor.profile import ColumnProfile, Profile, build_profile, profile_column
from loopline.monitor.report import build_report

__all__ = [
    "AlertRule",
    "ColumnProfile",
    "MonitorConfig",
    "Profile",
    "adjust",
    "build_profile",
    "build_report",
    "column_drift",
    "decide",
    "deliver",
    "drift",
    "evaluate",
    "profile_column",
    "report_metrics",
]
