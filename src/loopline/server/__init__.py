"""The HTTP interface of a project: the labeling REST API and the web UI (`create_app`).

Like the CLI it is a thin layer over the Project facade: a route checks who is asking, makes one
Project call and renders; errors become HTTP statuses through the one table in errors.py.
"""

from __future__ import annotations

from loopline.server.app import create_app

__all__ = ["create_app"]
