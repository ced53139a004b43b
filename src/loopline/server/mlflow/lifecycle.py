"""MLflow's lifecycle calls: delete, restore and rename of experiments and runs; delete, rename
and update of registered models and versions; every delete of a tag. Deleted things are kept
(and listed by `run_view_type=DELETED_ONLY`) until `loopline gc` removes them for good."""

from __future__ import annotations

from fastapi import APIRouter

from loopline.serve.access import Key, Rule

router = APIRouter()
RULES: dict[Key, Rule] = {}
