"""The Project facade: one object the CLI and the server make one call on per command or request.

It holds no logic: each public method is one line handing the call to the part that does it
(runs, experiments, data, models, monitor, annotate, users; see each module), and those parts
share one Stores (the project's file, settings and lazily opened stores). A part is small enough to read
whole, and a new area is a new part, not more methods on one class.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopline.core.errors import InvalidInput, NotFound
from loopline.core.settings import PROJECT_FILE, STATE_DIR, Settings
from loopline.pipeline.config import ProjectFile, read_project_file
from loopline.project._annotate import Annotate
from loopline.project._audit import Audit
from loopline.project._data import Data
from loopline.project._experiments import Experiments
from loopline.project._forward import forward
from loopline.project._lifecycle import Lifecycle
from loopline.project._models import Models
from loopline.project._monitor import Monitor
from loopline.project._runs import Runs
from loopline.project._sharing import Sharing
from loopline.project._stores import Stores
from loopline.project._users import Users

if TYPE_CHECKING:
    from datetime import datetime

    from loopline.api.remote import RemoteProject
    from loopline.pipeline.runner import Runner
    from loopline.registry import Registry
    from loopline.store.blobs import BlobStore
    from loopline.store.metadata import MetadataStore
    from loopline.store.metadata.mlflow import MlflowStore
    from loopline.store.predictions import PredictionLog
    from loopline.wiring.annotate import Labeling
    from loopline.wiring.monitor import Monitoring

_TEMPLATE = """\
# loopline project: uncomment and edit a section (loopline's docs/pipeline.md lists them);
# `loopline status` checks the file, `loopline run` runs the steps in dependency order.

# project:                        # where metadata and blobs live (default: .loopline/ here)
#   store: postgresql+psycopg://user@host/loopline
#   blobs: s3://bucket/loopline

# sources:                        # what `loopline collect` reads; only what is new is versioned
#   people:                       # -> the dataset `people` (bad rows -> `people_quarantine`)
#     type: files                 # files (CSV, Parquet, JSON Lines), folder, http or sql
#     root: inbox
#     glob: "*.csv"

# steps:                         # replace `steps: {}` below with your steps, for example:
#   clean:                        # a step: a function, its input and output artifacts, params
#     uses: loopline.clean:apply  # module:function, imported from this folder
#     inputs: {table: people}     # {argument: artifact}, or a list of same names
#     params:
#       rules:
#         - {rule: range, column: age, min: 0, max: 120}
#     outputs: {clean: clean, quarantine: quarantine, report: clean_report}
#   train:
#     uses: mypackage.steps:train
#     inputs: [clean]
#     params: {C: 1.0}
#     outputs: [model]
steps: {}
"""


class Project:
    """One project: its loopline.yaml, settings and stores, and the parts that act on them."""

    def __init__(self, file: ProjectFile, environ: dict[str, str] | None = None) -> None:
        self.stores = Stores(file, environ if environ is not None else dict(os.environ))
        self._runs = Runs(self.stores)
        self._experiments = Experiments(self.stores)
        self._data = Data(self.stores)
        self._sharing = Sharing(self.stores)
        self._monitor = Monitor(self.stores)
        self._models = Models(self.stores, self._monitor.profile_registered)
        self._annotate = Annotate(self.stores)
        self._users = Users(self.stores)
        self._audit = Audit(self.stores)
        self._lifecycle = Lifecycle(self.stores)

    # -- opening ------------------------------------------------------------------------------
    @classmethod
    def init(cls, directory: str | Path, *, store: str | None = None, blobs: str | None = None) -> Project:
        directory = Path(directory).absolute()
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / PROJECT_FILE
        if not path.exists():
            project = {k: v for k, v in (("store", store), ("blobs", blobs)) if v}
            # A database that does not answer, a bucket that does not exist: refused before the
            # project file is written.
            if store:
                from loopline.store.metadata import MetadataStore

                MetadataStore(store).close()
            if blobs:
                from loopline.store.blobs import open_blob_store

                open_blob_store(blobs, cache=Settings.build(directory, project, os.environ).blob_cache)
            import yaml

            from loopline.store.files import atomic_write_text

            text = _TEMPLATE if not project else yaml.safe_dump({"project": project}) + _TEMPLATE
            atomic_write_text(path, text)
        elif store or blobs:
            raise InvalidInput(f"{path} exists already", hint="edit its `project:` section instead")
        opened_file = read_project_file(path)
        if opened_file.project.get("server"):
            raise InvalidInput(
                f"{path} names the server {opened_file.project['server']}: a remote project has no "
                "local stores to create",
                hint="commands in this folder go to the server; `loopline init` elsewhere makes a local one",
            )
        (directory / STATE_DIR).mkdir(exist_ok=True)
        gitignore = directory / STATE_DIR / ".gitignore"
        if not gitignore.exists():
            gitignore.write_text("*\n")
        opened = cls(opened_file)
        opened.meta  # creates and migrates the metadata database  # noqa: B018
        opened.blobs  # noqa: B018
        return opened

    @classmethod
    def open(cls, directory: str | Path | None = None) -> Project | RemoteProject:
        """The project of `directory` (a str or a Path; default the current folder) or above;
        a RemoteProject (loopline.api.remote) when `LOOPLINE_SERVER` is set or the project file
        says `project: {server: URL}`: the project then lives on that `loopline server`."""
        server = os.environ.get("LOOPLINE_SERVER") or None
        start = Path(directory if directory is not None else Path.cwd()).absolute()
        for folder in (start, *start.parents):
            if (folder / PROJECT_FILE).exists():
                file = read_project_file(folder / PROJECT_FILE)
                url = server or file.project.get("server")
                if url:
                    from loopline.api.remote import RemoteProject

                    return RemoteProject.connect(str(url), root=folder)
                return cls(file)
        if server:
            from loopline.api.remote import RemoteProject

            return RemoteProject.connect(server)
        raise NotFound(f"no {PROJECT_FILE} in {start} or above", hint="run `loopline init` first")

    @classmethod
    def open_local(cls, directory: str | Path | None = None) -> Project:
        """The local project of `directory` or above, whatever `LOOPLINE_SERVER` or its file
        says of a server: what `loopline server` serves, and what governance commands manage."""
        start = Path(directory if directory is not None else Path.cwd()).absolute()
        for folder in (start, *start.parents):
            path = folder / PROJECT_FILE
            if path.exists():
                file = read_project_file(path)
                if file.project.get("server"):
                    raise InvalidInput(
                        f"{path} names the server {file.project['server']}: this is a remote project",
                        hint="run this command in the server's own project folder",
                    )
                return cls(file)
        raise NotFound(f"no {PROJECT_FILE} in {start} or above", hint="run `loopline init` first")

    # -- the stores and what the parts hold ---------------------------------------------------
    @property
    def file(self) -> ProjectFile:
        return self.stores.file

    @property
    def root(self) -> Path:
        return self.stores.root

    @property
    def settings(self) -> Settings:
        return self.stores.settings

    @property
    def meta(self) -> MetadataStore:
        return self.stores.meta

    @property
    def blobs(self) -> BlobStore:
        return self.stores.blobs

    @property
    def runner(self) -> Runner:
        return self.stores.runner

    @property
    def registry(self) -> Registry:
        return self.stores.registry

    @property
    def predictions(self) -> PredictionLog:
        return self.stores.predictions

    @property
    def mlflow(self) -> MlflowStore:
        return self._models.mlflow

    @property
    def monitoring(self) -> Monitoring:
        return self._monitor.monitoring

    @property
    def labeling(self) -> Labeling:
        return self._annotate.labeling

    close = forward("stores", Stores.close)
    resolve = forward("stores", Stores.resolve)
    load = forward("stores", Stores.load)

    # -- pipelines and runs (_runs.py) ----------------------------------------------------------
    pipeline = forward("_runs", Runs.pipeline)
    run = forward("_runs", Runs.run)
    collect = forward("_runs", Runs.collect)
    status = forward("_runs", Runs.status)
    reproduce = forward("_runs", Runs.reproduce)
    runs = forward("_runs", Runs.runs)
    child_runs = forward("_runs", Runs.child_runs)
    child_counts = forward("_runs", Runs.child_counts)
    run_report = forward("_runs", Runs.run_report)
    show = forward("_runs", Runs.show)
    environment = forward("_runs", Runs.environment)
    metrics = forward("_runs", Runs.metrics)
    collect_details = forward("_runs", Runs.collect_details)
    run_page = forward("_runs", Runs.run_page)
    run_dag = forward("_runs", Runs.run_dag)

    # -- experiment tracking (_experiments.py) ------------------------------------------------
    start_run = forward("_experiments", Experiments.start_run)
    experiments = forward("_experiments", Experiments.experiments)
    search_runs = forward("_experiments", Experiments.search_runs)
    tracked_run = forward("_experiments", Experiments.tracked_run)
    compare = forward("_experiments", Experiments.compare)
    metric_history = forward("_experiments", Experiments.metric_history)

    # -- data: artifacts, versions, cards, validation, export (_data.py) ------------------------
    head = forward("_data", Data.head)
    version_info = forward("_data", Data.version_info)
    quarantine = forward("_data", Data.quarantine)
    trace = forward("_data", Data.trace)
    lineage = forward("_data", Data.lineage)
    model_card = forward("_data", Data.model_card)
    sealed_reads = forward("_data", Data.sealed_reads)
    test_reads = forward("_data", Data.test_reads)
    add = forward("_data", Data.add)
    datasets = forward("_data", Data.datasets)
    versions = forward("_data", Data.versions)
    revert = forward("_data", Data.revert)
    diff = forward("_data", Data.diff)
    checkout = forward("_data", Data.checkout)
    fsck = forward("_data", Data.fsck)
    push = forward("_sharing", Sharing.push)
    pull = forward("_sharing", Sharing.pull)
    validate = forward("_data", Data.validate)
    export = forward("_data", Data.export)

    # -- models: registry, serving, scoring (_models.py) ----------------------------------------
    register = forward("_models", Models.register)
    models = forward("_models", Models.models)
    model = forward("_models", Models.model)
    load_model = forward("_models", Models.load_model)
    promote = forward("_models", Models.promote)
    approve = forward("_models", Models.approve)
    rollback = forward("_models", Models.rollback)
    delete_alias = forward("_models", Models.delete_alias)
    model_history = forward("_models", Models.model_history)
    models_page = forward("_models", Models.models_page)
    model_versions = forward("_models", Models.model_versions)
    model_events = forward("_models", Models.model_events)
    awaiting_approval = forward("_models", Models.awaiting_approval)
    alias_metrics = forward("_models", Models.alias_metrics)
    version_card = forward("_models", Models.version_card)
    version_detail = forward("_models", Models.version_detail)
    approvals_of = forward("_models", Models.approvals_of)
    source_run_page = forward("_models", Models.source_run_page)
    deployments = forward("_models", Models.deployments)
    predictions_page = forward("_models", Models.predictions_page)
    serving_app = forward("_models", Models.serving_app)
    score = forward("_models", Models.score)

    # -- lifecycle: soft delete, restore, gc (_lifecycle.py) ----------------------------------------
    delete_run = forward("_lifecycle", Lifecycle.delete_run)
    restore_run = forward("_lifecycle", Lifecycle.restore_run)
    delete_model = forward("_lifecycle", Lifecycle.delete_model)
    restore_model = forward("_lifecycle", Lifecycle.restore_model)
    gc = forward("_lifecycle", Lifecycle.gc)

    # -- monitor (_monitor.py) -----------------------------------------------------------------
    monitor = forward("_monitor", Monitor.monitor)
    drift = forward("_monitor", Monitor.drift)
    monitor_fleet = forward("_monitor", Monitor.monitor_fleet)
    monitor_reports = forward("_monitor", Monitor.monitor_reports)
    monitor_report = forward("_monitor", Monitor.monitor_report)
    monitor_models = forward("_monitor", Monitor.monitor_models)
    monitor_timeline = forward("_monitor", Monitor.monitor_timeline)

    # -- annotate (_annotate.py) -----------------------------------------------------------------
    annotate_create = forward("_annotate", Annotate.annotate_create)
    annotate_extend = forward("_annotate", Annotate.annotate_extend)
    annotate_projects = forward("_annotate", Annotate.annotate_projects)
    next_task = forward("_annotate", Annotate.next_task)
    submit = forward("_annotate", Annotate.submit)
    skip = forward("_annotate", Annotate.skip)
    annotate_status = forward("_annotate", Annotate.annotate_status)
    annotate_gold = forward("_annotate", Annotate.annotate_gold)
    annotate_import = forward("_annotate", Annotate.annotate_import)
    annotate_import_text = forward("_annotate", Annotate.annotate_import_text)
    annotate_export = forward("_annotate", Annotate.annotate_export)
    aggregate = forward("_annotate", Annotate.aggregate)
    annotate_evaluate = forward("_annotate", Annotate.annotate_evaluate)
    agreement = forward("_annotate", Annotate.agreement)
    agreement_of = forward("_annotate", Annotate.agreement_of)
    annotate_review = forward("_annotate", Annotate.annotate_review)
    annotate_prelabel = forward("_annotate", Annotate.annotate_prelabel)
    annotate_prioritize = forward("_annotate", Annotate.annotate_prioritize)
    annotate_overview = forward("_annotate", Annotate.annotate_overview)
    annotate_report = forward("_annotate", Annotate.annotate_report)
    annotate_label_errors = forward("_annotate", Annotate.annotate_label_errors)
    blob = forward("_annotate", Annotate.blob)

    # -- identities: users, tokens, grants, authentication (_users.py) ---------------------------
    users_add = forward("_users", Users.users_add)
    users_list = forward("_users", Users.users_list)
    users_disable = forward("_users", Users.users_disable)
    users_grant = forward("_users", Users.users_grant)
    tokens_create = forward("_users", Users.tokens_create)
    tokens_list = forward("_users", Users.tokens_list)
    tokens_revoke = forward("_users", Users.tokens_revoke)
    authenticate_token = forward("_users", Users.authenticate_token)
    authenticate_basic = forward("_users", Users.authenticate_basic)
    authenticate_session = forward("_users", Users.authenticate_session)
    sign_in = forward("_users", Users.sign_in)
    sign_out = forward("_users", Users.sign_out)

    annotator_add = forward("_users", Users.annotator_add)

    # -- the audit log (_audit.py) -------------------------------------------------------------
    audit_log = forward("_audit", Audit.audit_log)
    audit_verify = forward("_audit", Audit.audit_verify)
    audit_export = forward("_audit", Audit.audit_export)
    audit_head = forward("_audit", Audit.audit_head)

    # -- the loop (pipeline/loop.py): it drives the whole project, so it lives on the facade ------
    def loop_turn(self, since: datetime | None = None) -> dict[str, Any]:
        """One turn by the `loop:` policy: watch, collect, queue, label, retrain, gate, promote."""
        from loopline.pipeline.loop import LoopPolicy, turn

        return turn(self, LoopPolicy.parse(self.file.loop, self.file.where), since=since)
