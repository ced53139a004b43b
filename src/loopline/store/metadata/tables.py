"""The metadata schema. Migrations in migrations/versions/ create it; keep both in step."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

artifacts = sa.Table(
    "artifacts",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("blob", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("rows", sa.BigInteger),
    sa.Column("schema_json", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

artifact_versions = sa.Table(
    "artifact_versions",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("artifact_id", sa.String(64), sa.ForeignKey("artifacts.id"), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("source", sa.Text),
    sa.Column("step_run_id", sa.Integer, sa.ForeignKey("step_runs.id")),
    sa.Column("original_blob", sa.String(64)),
    sa.Column("original_name", sa.Text),
    sa.Index("ix_artifact_versions_artifact", "artifact_id"),
)

environments = sa.Table(
    "environments",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("python", sa.String(64), nullable=False),
    sa.Column("platform", sa.String(200), nullable=False),
    sa.Column("loopline", sa.String(32), nullable=False),
    sa.Column("packages_hash", sa.String(64), nullable=False),
    sa.Column("packages_json", sa.Text, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("executor", sa.String(32), nullable=False),
    sa.Column("environment_id", sa.String(64), sa.ForeignKey("environments.id")),
    sa.Column("git_commit", sa.String(64)),
    sa.Column("git_dirty", sa.Boolean),
    sa.Column("reproduce_of", sa.String(40)),
    sa.Column("host", sa.String(255)),
    sa.Column("pid", sa.Integer),
    sa.Column("experiment_id", sa.Integer),  # experiments.id (no FK: added by ALTER TABLE in 0004)
    sa.Column("name", sa.String(250)),
    sa.Column("user", sa.String(200)),
    sa.Column("lifecycle", sa.String(16), nullable=False, server_default="active"),  # or "deleted" (0012)
    sa.Column("deleted_at", sa.DateTime(timezone=True)),
    sa.Index("ix_runs_started", "started_at"),
    sa.Index("ix_runs_experiment", "experiment_id", "started_at"),
)

step_runs = sa.Table(
    "step_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(40), sa.ForeignKey("runs.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("code_hash", sa.String(64), nullable=False),
    sa.Column("params_json", sa.Text, nullable=False),
    sa.Column("uses", sa.Text, nullable=False),
    sa.Column("bindings_json", sa.Text),
    sa.Column("seconds", sa.Float, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_step_runs_fingerprint", "fingerprint"),
    sa.Index("ix_step_runs_run", "run_id"),
    sa.Index("ix_step_runs_name", "name"),
)

# Lineage edges: artifact -> step run (role "in") and step run -> artifact (role "out").
step_run_artifacts = sa.Table(
    "step_run_artifacts",
    metadata,
    sa.Column("step_run_id", sa.Integer, sa.ForeignKey("step_runs.id"), primary_key=True),
    sa.Column("role", sa.String(3), primary_key=True),
    sa.Column("slot", sa.String(200), primary_key=True),
    sa.Column("artifact_id", sa.String(64), sa.ForeignKey("artifacts.id"), nullable=False),
    sa.Index("ix_step_run_artifacts_artifact", "artifact_id", "role"),
)

metrics = sa.Table(
    "metrics",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(40), sa.ForeignKey("runs.id"), nullable=False),
    sa.Column("step_name", sa.String(200), nullable=False),
    sa.Column("key", sa.String(250), nullable=False),
    sa.Column("value", sa.Float),  # NULL: NaN, which MLflow clients log (migration 0006)
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("timestamp", sa.Float, nullable=False),
    sa.Index("ix_metrics_run_key", "run_id", "key"),
)

# What each collect source remembers between collections (watermark, cursor, file stats…).
source_state = sa.Table(
    "source_state",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("state_json", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("step_run_id", sa.Integer, sa.ForeignKey("step_runs.id")),
)

# Labeling (annotate/): a project on a dataset version, one task per item, leases of tasks to
# users, answers (one per task and annotator, but imported repeats) and skips.
label_projects = sa.Table(
    "label_projects",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("dataset", sa.String(200), nullable=False),
    sa.Column("dataset_version", sa.Integer, nullable=False),
    sa.Column("artifact_id", sa.String(64), nullable=False),
    sa.Column("task_type", sa.String(32), nullable=False),
    sa.Column("labels_json", sa.Text, nullable=False),
    sa.Column("instructions", sa.Text, nullable=False),
    sa.Column("overlap", sa.Integer, nullable=False),
    sa.Column("gold_share", sa.Float, nullable=False),
    sa.Column("annotator_limit", sa.Integer),
    sa.Column("lease_seconds", sa.Integer, nullable=False),
    sa.Column("text_field", sa.String(200)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

label_tasks = sa.Table(
    "label_tasks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("project", sa.String(200), sa.ForeignKey("label_projects.name"), nullable=False),
    sa.Column("item_id", sa.String(64), nullable=False),
    sa.Column("data_json", sa.Text, nullable=False),
    sa.Column("priority", sa.Float, nullable=False),
    sa.Column("is_gold", sa.Boolean, nullable=False),
    sa.Column("gold_json", sa.Text),
    sa.Column("suggestion_json", sa.Text),
    sa.Column("suggestion_source", sa.String(16)),
    sa.Column("done", sa.Integer, nullable=False),
    # Answers wanted beyond the overlap: a task reopened for review (label errors) takes more.
    sa.Column("extra", sa.Integer, nullable=False, server_default="0"),
    sa.UniqueConstraint("project", "item_id", name="uq_label_tasks_item"),
    sa.Index("ix_label_tasks_queue", "project", "is_gold", "done", "priority"),
)

label_leases = sa.Table(
    "label_leases",
    metadata,
    sa.Column("task_id", sa.Integer, sa.ForeignKey("label_tasks.id"), primary_key=True),
    sa.Column("annotator", sa.String(200), primary_key=True),
    sa.Column("project", sa.String(200), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_label_leases_annotator", "project", "annotator"),
)

annotations_table = sa.Table(  # not `annotations`: that name is the __future__ feature
    "annotations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("task_id", sa.Integer, sa.ForeignKey("label_tasks.id"), nullable=False),
    sa.Column("project", sa.String(200), nullable=False),
    sa.Column("annotator", sa.String(200), nullable=False),
    sa.Column("label_json", sa.Text, nullable=False),
    sa.Column("seconds", sa.Float, nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # The task's suggestion when the answer was given: {"label": ..., "source": ...}, else NULL.
    sa.Column("suggestion_json", sa.Text),
    # An annotator's answers to one task numbered 0, 1, ...: the queue takes one (nth 0), an
    # imported crowd file may keep repeats (`annotate import --duplicates keep`).
    sa.Column("nth", sa.Integer, nullable=False, server_default="0"),
    sa.UniqueConstraint("task_id", "annotator", "nth", name="uq_annotations_task_annotator_nth"),
    sa.Index("ix_annotations_project", "project", "annotator"),
)

label_skips = sa.Table(
    "label_skips",
    metadata,
    sa.Column("task_id", sa.Integer, sa.ForeignKey("label_tasks.id"), primary_key=True),
    sa.Column("annotator", sa.String(200), primary_key=True),
    sa.Column("project", sa.String(200), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# -- experiment tracking (migration 0004) ------------------------------------------------------
experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(250), nullable=False, unique=True),
    sa.Column("lifecycle", sa.String(16), nullable=False),
    sa.Column("artifact_location", sa.Text),
    sa.Column("tags_json", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("deleted_at", sa.DateTime(timezone=True)),  # 0012
)

run_params = sa.Table(
    "run_params",
    metadata,
    sa.Column("run_id", sa.String(40), sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Index("ix_run_params_key_value", "key", "value"),
)

PARENT_TAG = "loopline.parent_run"  # the tag of a run nested under another (a tuning trial)

run_tags = sa.Table(
    "run_tags",
    metadata,
    sa.Column("run_id", sa.String(40), sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

# The last value of each metric of each run, so run search filters and sorts without scanning history.
metrics_latest = sa.Table(
    "metrics_latest",
    metadata,
    sa.Column("run_id", sa.String(40), sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Float),  # NULL: NaN (migration 0006)
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("timestamp", sa.Float, nullable=False),
    sa.Index("ix_metrics_latest_key_value", "key", "value"),
)

# -- model registry (migration 0004) -----------------------------------------------------------
registered_models = sa.Table(
    "registered_models",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("tags_json", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("lifecycle", sa.String(16), nullable=False, server_default="active"),  # or "deleted" (0012)
    sa.Column("deleted_at", sa.DateTime(timezone=True)),
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("name", sa.String(200), sa.ForeignKey("registered_models.name"), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("artifact_id", sa.String(64), sa.ForeignKey("artifacts.id"), nullable=False),
    sa.Column("run_id", sa.String(40)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("gates_passed", sa.Boolean),
    sa.Column("gate_report_json", sa.Text),
    sa.Column("metrics_json", sa.Text),
    sa.Column("signature_json", sa.Text),
    sa.Column("card_json", sa.Text),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("lifecycle", sa.String(16), nullable=False, server_default="active"),  # or "deleted" (0012)
    sa.Column("deleted_at", sa.DateTime(timezone=True)),
    sa.Index("ix_model_versions_run", "run_id"),
)

model_aliases = sa.Table(
    "model_aliases",
    metadata,
    sa.Column("name", sa.String(200), sa.ForeignKey("registered_models.name"), primary_key=True),
    sa.Column("alias", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# Every registry transition (register, promote, rollback, approval…) with actor, time and reason.
model_events = sa.Table(
    "model_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("version", sa.Integer),
    sa.Column("alias", sa.String(64)),
    sa.Column("from_version", sa.Integer),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_model_events_name", "name", "at"),
)

# Every read of a sealed test split: which run and step read it, and when.
test_reads = sa.Table(
    "test_reads",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("artifact_id", sa.String(64), nullable=False),
    sa.Column("run_id", sa.String(40), nullable=False),
    sa.Column("step_name", sa.String(200), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_test_reads_artifact", "artifact_id"),
)

# -- identities (migration 0010): users, their tokens (SHA-256 only), sign-in sessions, grants ----
users = sa.Table(
    "users",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", sa.String(16), primary_key=True),
    sa.Column("user", sa.String(200), sa.ForeignKey("users.name"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True)),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
    sa.Column("last_used_at", sa.DateTime(timezone=True)),
    sa.Index("ix_tokens_user", "user"),
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("hash", sa.String(64), primary_key=True),
    sa.Column("user", sa.String(200), sa.ForeignKey("users.name"), nullable=False),
    sa.Column("token_id", sa.String(16), sa.ForeignKey("tokens.id"), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)

grants = sa.Table(
    "grants",
    metadata,
    sa.Column("user", sa.String(200), sa.ForeignKey("users.name"), primary_key=True),
    sa.Column("resource", sa.String(16), primary_key=True),
    sa.Column("resource_name", sa.String(250), primary_key=True),
    sa.Column("level", sa.String(8), nullable=False),
)

# -- the audit log (migration 0011): an append-only hash chain (store/metadata/audit.py) ----------
# `at` is ISO 8601 text (UTC, microseconds) and before/after are JSON text: what is hashed is
# what is stored, byte for byte, on either engine.
audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("auth", sa.String(16), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("object", sa.Text, nullable=False),
    sa.Column("before", sa.Text),
    sa.Column("after", sa.Text),
    sa.Column("request_id", sa.String(200)),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Index("ix_audit_events_object", "object"),
    sa.Index("ix_audit_events_actor", "actor"),
)

# One row (id 1): the chain's head. Appenders lock it (FOR UPDATE on PostgreSQL; SQLite's write
# transactions are exclusive already), so concurrent writers never fork the chain.
audit_head = sa.Table(
    "audit_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)
