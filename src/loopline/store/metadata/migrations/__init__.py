"""Alembic migrations (versions/); HEAD_REVISION is the one this code's schema (tables.py) is at.

Adding a migration moves HEAD_REVISION to it: stores below it are upgraded when opened.
"""

HEAD_REVISION = "0012"
