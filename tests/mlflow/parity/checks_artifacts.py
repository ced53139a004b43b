"""MLflow client checks: artifacts (see checks.py)."""

from __future__ import annotations
