"""What every dashboard page shares: `page()` renders a template under ui/templates/dash with who
is asking (the base layout's navigation shows only what their role may read), and the Plotly
helpers (`figure_json`) whose output /static/monitor.js draws from a data attribute.

Pages call the Project and build the loopline.api shapes the REST API returns, so a page and its
endpoint can never disagree about what a field means.
"""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from loopline.server.deps import principal_of
from loopline.server.routers.monitor import style_claims
from loopline.server.routers.pages import render, templates

templates.env.globals["plotly_style_claims"] = style_claims


def page(request: Request, name: str, http_status: int = 200, **context: Any) -> Response:
    """Render dash/`name` for the principal the guard admitted."""
    return render(request, f"dash/{name}", principal_of(request), http_status, **context)


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def figure_json(data: list[dict[str, Any]], layout: dict[str, Any] | None = None) -> str:
    """A Plotly figure as the JSON a `<div class="plot" data-figure="…">` holds (NaN and inf as
    gaps; Jinja escapes the attribute)."""
    base = {"margin": {"l": 48, "r": 16, "t": 32, "b": 40}, "height": 320}
    return json.dumps({"data": _plain(data), "layout": base | (layout or {})}, allow_nan=False)
