"""MLflow client checks: lifecycle (see checks.py)."""

from __future__ import annotations
