"""The Project facade: settings and stores wired into the pipeline and stages. The CLI and the
server each make one call here per command or request; Project (_core.py) hands each call in one
line to a small part (_runs.py, _experiments.py, _data.py, _models.py, _monitor.py, _annotate.py)
that shares the project's Stores (_stores.py)."""

from loopline.project._core import Project

__all__ = ["Project"]
