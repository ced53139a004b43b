"""Points 1, 5, 7 and 9 of the MLflow client checks (tests/mlflow/parity/checks_registry.py):
stages on aliases, runs:/ sources, model metrics and run outputs; and tracing and the prompt
registry, which loopline refuses loudly (a client script of its own: mlflow server supports
them, so they are no parity checks)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from loopline.project import Project
from loopline.server import create_app
from tests.mlflow.conftest import parity
from tests.server.live import live_server


def _failed(tmp_path: Path, mlflow_python: Path, point: int) -> dict[str, str]:
    return {name: error for name, error in parity(tmp_path, mlflow_python, point).items() if error}


def test_stages_map_onto_aliases(tmp_path: Path, mlflow_python: Path) -> None:
    assert _failed(tmp_path, mlflow_python, 1) == {}


def test_a_runs_source_names_the_runs_logged_model(tmp_path: Path, mlflow_python: Path) -> None:
    assert _failed(tmp_path, mlflow_python, 5) == {}


def test_model_metrics_and_run_outputs(tmp_path: Path, mlflow_python: Path) -> None:
    assert _failed(tmp_path, mlflow_python, 7) == {}


_UNSUPPORTED = r"""
import json, logging
import mlflow
from mlflow import MlflowClient

seen = {"warnings": []}


class Keep(logging.Handler):
    def emit(self, record):
        seen["warnings"].append(record.getMessage())


logging.getLogger("mlflow").addHandler(Keep(level=logging.WARNING))
exp = mlflow.set_experiment("traced").experiment_id


@mlflow.trace
def add(x):
    return x + 1


assert add(1) == 2  # the traced code runs; only its trace is refused
with mlflow.start_span("span") as span:
    span.set_inputs({"x": 1})
mlflow.flush_trace_async_logging()


def error(call):
    try:
        call()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return ""


seen["register_prompt"] = error(lambda: mlflow.genai.register_prompt(name="greeting", template="Hi {{x}}"))
seen["load_prompt"] = error(lambda: mlflow.genai.load_prompt("prompts:/greeting/1"))
seen["client_search_traces"] = error(lambda: MlflowClient().search_traces(experiment_ids=[exp]))
seen["search_traces"] = error(lambda: mlflow.search_traces(experiment_ids=[exp]))
print(json.dumps(seen))
"""


def test_tracing_and_prompts_fail_loudly_and_leave_nothing(tmp_path: Path, mlflow_python: Path) -> None:
    """@mlflow.trace and start_span warn with loopline's message (the client only warns when an
    export fails); register_prompt, load_prompt and search_traces raise; nothing is stored."""
    project = Project.init(tmp_path / "proj")
    token = project.users_add("tracer", "admin")[1]
    script = tmp_path / "unsupported.py"
    script.write_text(_UNSUPPORTED, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "LOOPLINE_"))}
    try:
        with live_server(create_app(project)) as url:
            env |= {"MLFLOW_TRACKING_URI": url, "MLFLOW_TRACKING_TOKEN": token}
            env |= {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
            done = subprocess.run(
                [str(mlflow_python), str(script)],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
        assert done.returncode == 0, done.stderr[-4000:]
        seen = json.loads(done.stdout.strip().splitlines()[-1])
        tracing, prompts = (f"{what} is not supported by loopline server" for what in ("tracing", "registry"))
        assert any(tracing in w for w in seen["warnings"]), seen["warnings"]
        for call in ("client_search_traces", "search_traces"):
            assert tracing in seen[call], (call, seen[call])
        assert "prompt " + prompts in seen["register_prompt"], seen["register_prompt"]
        assert seen["load_prompt"], "load_prompt of a prompt that cannot exist did not raise"
        # nothing left behind: no model, no trace files, no audit event of either
        assert project.registry.models() == []
        assert project.mlflow.files_under("") == []
        actions = {e.action for e in project.audit_log()}
        assert not {a for a in actions if a.startswith(("model.", "artifact"))}, actions
    finally:
        project.close()
