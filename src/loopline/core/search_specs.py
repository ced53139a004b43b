"""What each search accepts (search_filter.Spec): key kinds, attributes and comparators of
loopline's run search and of MLflow's five searches, and the attributes each may order by, as
MLflow's own server takes them, and the stored name each attribute maps to.

Beyond MLflow's server: IN / NOT IN on every text attribute of runs and on run params and tags
(MLflow: run_id only), and loopline's own names of run attributes (name, user, started_at...).
"""

from __future__ import annotations

from loopline.core.search_filter import (
    LIST_OPS,
    NULL_OPS,
    NUMBER_OPS,
    TEXT_OPS,
    Attribute,
    Kind,
    Spec,
)

# -- what each search accepts -----------------------------------------------------------------
_KEY_TEXT_OPS = TEXT_OPS | LIST_OPS | NULL_OPS  # params and tags of runs and experiments
_ID_OPS = frozenset({"=", "!="}) | LIST_OPS
_NAME_OPS = TEXT_OPS | LIST_OPS


def _run_attributes(status: str) -> dict[str, Attribute]:
    text = Attribute("", "text")
    times = {"start_time": "started_at", "started_at": "started_at", "created": "started_at"}
    times |= {"end_time": "finished_at", "finished_at": "finished_at"}
    names = {"status": status, "name": "name", "run_name": "name", "run name": "name", "user": "user"}
    names |= {"user_id": "user", "run_id": "run_id", "id": "run_id"}
    return {
        **{k: Attribute(v, "time", NUMBER_OPS) for k, v in times.items()},
        **{k: Attribute(v, text.type, _NAME_OPS) for k, v in names.items()},
        "experiment_id": Attribute("experiment_id", "id", _ID_OPS),
    }


_RUN_KINDS: dict[Kind, frozenset[str]] = {
    "metrics": NUMBER_OPS,
    "params": _KEY_TEXT_OPS,
    "tags": _KEY_TEXT_OPS,
}
# loopline's own run search (`loopline runs --filter`, Project.search_runs, /api/v1): statuses
# are loopline's (running, succeeded, ...).
RUNS = Spec("run", _RUN_KINDS, _run_attributes("status"))
# MLflow's search_runs: a status is MLflow's (RUNNING, FINISHED, ...), compared as MLflow names it.
MLFLOW_RUNS = Spec("run", _RUN_KINDS, _run_attributes("mlflow_status"))
RUN_ORDER = {k: a.name for k, a in RUNS.attributes.items()}
MLFLOW_RUN_ORDER = {k: a.name for k, a in MLFLOW_RUNS.attributes.items()}

EXPERIMENTS = Spec(
    "experiment",
    {"tags": _KEY_TEXT_OPS},
    {
        "name": Attribute("name", "text", _NAME_OPS),
        "experiment_id": Attribute("experiment_id", "id", _ID_OPS),
        "creation_time": Attribute("created_at", "time", NUMBER_OPS),
        "last_update_time": Attribute("updated_at", "time", NUMBER_OPS),
    },
)
EXPERIMENT_ORDER = {
    "name": "name",
    "experiment_id": "experiment_id",
    "creation_time": "created_at",
    "last_update_time": "updated_at",
}

REGISTERED_MODELS = Spec(
    "registered model", {"tags": TEXT_OPS}, {"name": Attribute("name", "text", _NAME_OPS)}
)
REGISTERED_MODEL_ORDER = {
    "name": "name",
    "creation_timestamp": "created_at",
    "last_updated_timestamp": "updated_at",
}

MODEL_VERSIONS = Spec(
    "model version",
    {"tags": TEXT_OPS},
    {
        "name": Attribute("name", "text", _NAME_OPS),
        "run_id": Attribute("run_id", "text", _NAME_OPS),
        "source_path": Attribute("source", "text", _NAME_OPS),
        "version_number": Attribute("version", "number", NUMBER_OPS),
    },
)
MODEL_VERSION_ORDER = {
    "name": "name",
    "version_number": "version",
    "creation_timestamp": "created_at",
    "last_updated_timestamp": "created_at",
}

_LOGGED_TIMES = {
    "creation_timestamp": "created_at",
    "creation_time": "created_at",
    "last_updated_timestamp": "updated_at",
    "last_updated_time": "updated_at",
}
LOGGED_MODELS = Spec(
    "logged model",
    {"metrics": NUMBER_OPS, "params": TEXT_OPS, "tags": TEXT_OPS},
    {
        **{k: Attribute(k, "text", _NAME_OPS) for k in ("name", "model_id", "model_type", "status")},
        "source_run_id": Attribute("source_run_id", "text", _NAME_OPS),
        **{k: Attribute(v, "time", NUMBER_OPS) for k, v in _LOGGED_TIMES.items()},
    },
)
LOGGED_MODEL_ORDER = {
    **{k: k for k in ("name", "model_id", "model_type", "status", "source_run_id")},
    **_LOGGED_TIMES,
}
