"""The shapes of loopline's data as its REST API (`/api/v1`) and the CLI's `--json` give them:
one pydantic model per shape, used by both (so the two cannot drift), and `Client`, the Python
client of the REST API over httpx.

Each module holds the shapes of one area (data, pipeline, experiments, models, monitoring,
labeling, audit); `paging.Page` is the envelope of every list endpoint.
"""

__all__: list[str] = []
