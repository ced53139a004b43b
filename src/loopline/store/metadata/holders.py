"""Which objects hold a blob: the question `/blobs/<digest>` asks before serving its bytes to
anyone allowed to read one of them."""

from __future__ import annotations

import sqlalchemy as sa

from loopline.store.metadata.database import Database
from loopline.store.metadata.mlflow_models import mlflow_artifacts
from loopline.store.metadata.tables import artifact_versions, artifacts, label_tasks, model_versions

__all__ = ["blob_holders"]


def blob_holders(db: Database, digest: str) -> list[tuple[str, str]]:
    """(resource kind, name) of every object holding the blob, sorted: a labeling project whose
    task shows it, a dataset version or registered model version whose artifact it is, an
    experiment whose MLflow artifact files include it (named by experiment id)."""
    by_artifact = sa.select(artifacts.c.id).where(artifacts.c.blob == digest).scalar_subquery()
    shown = sa.or_(label_tasks.c.item_id == digest, label_tasks.c.data_json.contains(f'"{digest}"'))
    queries = (
        ("labeling", sa.select(label_tasks.c.project).where(shown)),
        (
            "dataset",
            sa.select(artifact_versions.c.name).where(artifact_versions.c.artifact_id.in_(by_artifact)),
        ),
        ("model", sa.select(model_versions.c.name).where(model_versions.c.artifact_id.in_(by_artifact))),
        ("experiment", sa.select(mlflow_artifacts.c.path).where(mlflow_artifacts.c.blob == digest)),
    )
    found: set[tuple[str, str]] = set()
    with db.read() as conn:
        for kind, query in queries:
            for (name,) in conn.execute(query.distinct()):
                found.add((kind, name.split("/", 1)[0] if kind == "experiment" else name))
    return sorted(found)
