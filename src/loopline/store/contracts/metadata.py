"""Contracts of the metadata store: datasets (artifacts and versions), pipeline runs and lineage,
sealed test sets, labeling and experiment tracking, and `MetadataRepository`, the whole store."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from loopline.core.experiments import Experiment, MetricPoint, RunFilter, RunOrder, TrackedRun
    from loopline.core.types import Artifact, Environment, Run, StepRun

# Labeling records: their one import here (they move to core/ with the store refactor).
if TYPE_CHECKING:
    from loopline.core.labeling import Annotation, LabelProject, Lease, Source, Task

if TYPE_CHECKING:
    from loopline.core.identity import Kind, Level, Resource, Role
    from loopline.core.users import Session, Token, User


# -- datasets: artifacts and their numbered versions --------------------------------------------
class ArtifactRepository(Protocol):
    """Artifacts are content-addressed and stored once; a name has versions 1, 2, … each pointing
    at one artifact, and the same artifact may be a version of several names."""

    def add_version(
        self,
        name: str,
        art: Artifact,
        *,
        source: str,
        original_blob: str | None = None,
        original_name: str | None = None,
    ) -> int | None:
        """The new version number (1 for a new name), or None, writing nothing, when `art` is
        already the latest version of `name`. Two concurrent writers never get the same number
        and never lose a version."""

    def revert(self, name: str, version: int) -> tuple[int | None, int, bool]:
        """Make the content of name@version the next version: (new version or None when it is the
        latest already, the latest version before, whether a source state of `name` was forgotten)."""

    def get_version(self, name: str, version: int | None = None) -> Artifact:
        """name@version (the latest when None) with name, version and source set; NotFound for an
        unknown name or version."""

    def latest_version(self, name: str) -> Artifact | None:
        """The latest version, or None for an unknown name."""

    def versions(self, name: str) -> list[Artifact]:
        """Every version of name, oldest first ([] for an unknown name)."""

    def datasets(self) -> list[tuple[Artifact, int]]:
        """(latest version, number of versions) of every name."""

    def get_artifact(self, id_or_prefix: str) -> Artifact:
        """By id or unique id prefix; NotFound for none, Conflict for an ambiguous prefix."""

    def get_artifacts(self, ids: Sequence[str]) -> dict[str, Artifact]:
        """The known ones of `ids` by id; unknown ids are left out, not an error."""

    def all_artifacts(self) -> list[Artifact]: ...
    def blob_references(self) -> list[tuple[str, str]]:
        """(what refers, blob key) for every blob the metadata points at (for fsck and gc)."""

    def dangling_references(self) -> list[str]:
        """Rows pointing at rows that do not exist; [] in a healthy store."""

    def source_state(self, name: str) -> dict[str, Any]:
        """What a collect source saved with its last collection (record_step_run); {} before."""


# -- pipeline runs, step runs and lineage ------------------------------------------------------
class RunRepository(Protocol):
    def put_environment(self, env: Environment) -> None:
        """Idempotent: an environment is keyed by its content id."""

    def get_environment(self, env_id: str) -> Environment: ...
    def create_run(self, run: Run) -> None: ...
    def mark_interrupted(self, host: str, alive: Callable[[int], bool]) -> int:
        """Runs still running on `host` whose pid is not `alive` become interrupted; how many."""

    def finish_run(self, run_id: str, status: str) -> None:
        """Set the final status and stamp the end time."""

    def record_step_run(
        self,
        step: StepRun,
        produced: Sequence[Artifact],
        *,
        version: bool = True,
        source_state: tuple[str, dict[str, Any]] | None = None,
    ) -> int:
        """All or nothing: the step run's id; its new artifacts, lineage edges, with `version` and
        status "ran" a next version per output slot, and the source state."""

    def source_state(self, name: str) -> dict[str, Any]: ...
    def log_metrics(
        self, run_id: str, step_name: str, values: Sequence[tuple[str, float, int, float]]
    ) -> None:
        """(key, value, step, timestamp) into the run's metric history and latest values."""

    def metrics(self, run_id: str) -> list[dict[str, Any]]:
        """Every logged value, in logging order: {step_name, key, value, step}."""

    def find_cached(self, fingerprint: str) -> dict[str, str] | None:
        """Outputs {slot: artifact id} of the latest step run that *ran* with this fingerprint."""

    def latest_step_runs(self) -> dict[str, StepRun]:
        """The latest ran-or-cached execution of each step name."""

    def get_run(self, run_id: str) -> Run:
        """By id or unique prefix, with its step runs in order; NotFound, or Conflict if ambiguous."""

    def list_runs(self, limit: int = 50, *, top_level: bool = False) -> list[Run]:
        """Newest first; `top_level` leaves out the runs nested under another."""

    def count_runs(self) -> int: ...
    def producers(self, artifact_id: str) -> list[StepRun]:
        """Step runs that made this artifact by running (not by cache hit), earliest first."""

    def consumers(self, artifact_id: str, statuses: Sequence[str] = ("ran",)) -> list[StepRun]:
        """Step runs of these statuses that read this artifact, earliest first."""


# -- sealed test sets -----------------------------------------------------------------------------
class SealedTestRepository(Protocol):
    def sealed_artifacts(self, ids: Sequence[str]) -> set[str]:
        """Those of ids a step produced under an output it declared sealed (bindings["sealed"])."""

    def record_test_read(self, artifact_id: str, run_id: str, step_name: str) -> None: ...
    def test_reads(self, artifact_id: str) -> int: ...
    def test_read_log(self, artifact_id: str) -> list[dict[str, Any]]:
        """Every read: {run_id, step, at}, oldest first."""


# -- labeling -------------------------------------------------------------------------------------
class AnnotationRepository(Protocol):
    """Projects, the task queue, leases and answers. Never more answers to a task than its overlap
    (plus reopenings); a human answer needs a live lease of its annotator, an active user."""

    def create_project(self, project: LabelProject, items: Sequence[tuple[str, dict[str, Any]]]) -> int:
        """The number of tasks (one per distinct item id); Conflict for an existing name."""

    def add_tasks(
        self,
        project: str,
        items: Sequence[tuple[str, dict[str, Any]]],
        *,
        artifact_id: str,
        dataset_version: int,
    ) -> int:
        """Tasks for the items without one yet (how many); the project moves to that version."""

    def get_project(self, name: str) -> LabelProject: ...
    def list_projects(self) -> list[LabelProject]: ...
    def set_gold(self, project: str, answers: dict[str, Any]) -> int: ...
    def set_priorities(self, project: str, priorities: dict[str, float]) -> int: ...
    def reopen(self, project: str, item_ids: Sequence[str]) -> int: ...
    def set_suggestions(self, project: str, suggestions: dict[str, Any], source: Source) -> int: ...
    def next_task(self, project: str, annotator: str, now: datetime) -> Lease | None:
        """The annotator's own live lease first, else the highest-priority task with room; None
        when nothing is left for this annotator."""

    def submit(
        self,
        project: str,
        task_id: int,
        annotator: str,
        label: Any,
        seconds: float,
        now: datetime,
        source: Source = "human",
    ) -> Annotation:
        """InvalidInput for a label outside the set; Conflict for a second answer of the same
        annotator, a missing or expired lease (human answers), or a task with all its answers."""

    def skip(self, project: str, task_id: int, annotator: str, now: datetime) -> None: ...
    def import_annotations(
        self,
        project: str,
        rows: Sequence[tuple[str, str, Any, float, str]],  # source: checked, it comes from a file
        now: datetime,
        *,
        repeats: bool = False,
    ) -> dict[str, int]:
        """All or none; {"added", "unchanged"}: importing the same rows again adds nothing."""

    def annotations(self, project: str) -> list[Annotation]: ...
    def tasks(self, project: str) -> list[Task]: ...
    def progress(self, project: str) -> dict[str, Any]:
        """{"tasks", "complete", "annotations", "per_annotator": {name: n}, "gold"}."""


# -- identities -----------------------------------------------------------------------------------
class UserRepository(Protocol):
    """Users, their tokens and sign-in sessions (by the SHA-256 of the secret, never the secret)
    and per-resource grants."""

    def add_user(
        self, name: str, role: Role, kind: Kind, now: datetime, *, first_token: str | None = None
    ) -> User:
        """With `first_token` (a hash), its token "initial" too, in one transaction; Conflict for
        an existing name, InvalidInput for an unknown role or kind."""

    def get_user(self, name: str) -> User: ...
    def list_users(self) -> list[User]: ...
    def set_active(self, name: str, active: bool) -> User:
        """Disabling a user also ends their sessions."""

    def set_grant(self, name: str, resource: Resource, resource_name: str, level: Level | None) -> None:
        """One level per (user, resource kind, resource name); None takes the grant away."""

    def grants(self, name: str) -> dict[tuple[Resource, str], Level]: ...
    def add_token(
        self, user: str, name: str, token_hash: str, now: datetime, expires_at: datetime | None = None
    ) -> Token:
        """A new token id; InvalidInput for an empty name or an expiry not after `now`."""

    def token_by_hash(self, token_hash: str) -> tuple[Token, User]:
        """The token and its user whatever their state; NotFound for a hash nobody holds."""

    def list_tokens(self, user: str | None = None) -> list[Token]: ...
    def revoke_token(self, token_id: str, now: datetime) -> Token:
        """Stamps revoked_at once and ends the sessions signed in with the token."""

    def touch_token(self, token_id: str, now: datetime) -> None: ...
    def add_session(self, session_hash: str, session: Session) -> None: ...
    def session_by_hash(self, session_hash: str) -> tuple[Session, User]:
        """The session and its user, expired or not; NotFound when unknown or ended."""

    def delete_session(self, session_hash: str, user: str) -> None: ...


# -- experiment tracking ---------------------------------------------------------------------------
class TrackingRepository(Protocol):
    """Experiments and tracked runs (params logged once, tags overwritten, metric history)."""

    def create_experiment(
        self, name: str, *, artifact_location: str | None = None, tags: Mapping[str, Any] | None = None
    ) -> Experiment:
        """Conflict for an existing name."""

    def get_experiment(self, experiment_id: int) -> Experiment: ...
    def get_experiment_by_name(self, name: str) -> Experiment: ...
    def ensure_experiment(self, name: str) -> Experiment:
        """The experiment of that name, created if missing; the same one for concurrent callers."""

    def list_experiments(self) -> list[Experiment]: ...
    def create_run(
        self,
        experiment_id: int,
        *,
        name: str | None = None,
        user: str | None = None,
        tags: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        started_at: datetime | None = None,
        executor: str = "tracking",
        host: str | None = None,
        pid: int | None = None,
    ) -> TrackedRun: ...
    def update_run(
        self,
        run_id: str,
        *,
        status: str | None = None,
        finished_at: datetime | None = None,
        name: str | None = None,
    ) -> None:
        """A final status stamps the end time; InvalidInput for an unknown status."""

    def get_run(self, run_id: str) -> TrackedRun: ...
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[tuple[str, float, int, float]] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        *,
        step_name: str = "",
    ) -> None:
        """All or nothing; a param logged again with another value is a Conflict."""

    def record_child_runs(
        self, parent_run_id: str, children: Sequence[Any], *, step_name: str = ""
    ) -> list[str]:
        """Nested runs (tuning trials: objects with name, experiment, status, metrics, params,
        tags; `Any` as their type lives in train/) written in one transaction; their ids."""

    def log_metric(
        self, run_id: str, key: str, value: float, step: int = 0, timestamp: float | None = None
    ) -> None: ...
    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None: ...
    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None: ...
    def delete_tag(self, run_id: str, key: str) -> None: ...
    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        """Every value of one metric, by step then time."""

    def children_of(self, parent_ids: Sequence[str]) -> dict[str, list[TrackedRun]]: ...
    def child_counts(self, parent_ids: Sequence[str]) -> dict[str, int]: ...
    def search_runs(
        self,
        *,
        experiment_ids: Sequence[int] | None = None,
        filters: Sequence[RunFilter] = (),
        order_by: Sequence[RunOrder] = (),
        limit: int = 100,
        offset: int = 0,
        lifecycles: Sequence[str] | None = ("active",),
    ) -> list[TrackedRun]:
        """Matching runs, ordered (missing values last, then newest first, then id), one page;
        of the lifecycles given (None: deleted ones too)."""

    def count_runs(
        self,
        *,
        experiment_ids: Sequence[int] | None = None,
        filters: Sequence[RunFilter] = (),
        lifecycles: Sequence[str] | None = ("active",),
    ) -> int: ...
    def compare(self, run_a: str, run_b: str) -> dict[str, Any]: ...


# -- the whole metadata store -------------------------------------------------------------------
class MetadataRepository(ArtifactRepository, RunRepository, SealedTestRepository, Protocol):
    """One metadata store: what `Project.meta` is. The nouns below it are reached from it (the
    registry, monitoring and prediction repositories take it in their constructor today)."""

    url: str

    def close(self) -> None: ...
    @property
    def annotations(self) -> AnnotationRepository: ...
    @property
    def tracking(self) -> TrackingRepository: ...
    @property
    def users(self) -> UserRepository: ...
