"""The Project facade: settings and stores wired into the pipeline and stages. The CLI and the
server each make one call here per command or request; the calls live in three facades by area
(_data.py, _models.py, _annotate.py) that Project (_core.py) mixes in."""

from loopline.project._core import Project

__all__ = ["Project"]
