"""MLflow client checks: search (see checks.py)."""

from __future__ import annotations
