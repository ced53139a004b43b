"""`RemoteProject`: a project that lives on a `loopline server`, opened by `Project.open()` when
the project file says `project: {server: URL}` or `LOOPLINE_SERVER=URL` is set.

It offers the Project methods the read, registry and audit commands call, with the same
signatures and the same records (Artifact, Run, RegisteredModel, AuditEvent, …), built from the
REST API's shapes, so one command's code serves a local and a remote project and `--json` says
the same thing for both. Every call goes through `loopline.Client` as the logged-in user, so the
server's roles and audit log apply (labeling projects' status, export and import included). A
method it lacks (`run`, `lineage`, `users …`) is refused with
InvalidInput (exit 2) naming what is not supported remotely, never an AttributeError.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopline.api import credentials
from loopline.api import remote_records as records
from loopline.api.remote_records import RemoteEvent
from loopline.core.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from loopline.api.client import Client
    from loopline.api.models import ModelDetailOut
    from loopline.api.pipeline import PipelineRunReportOut
    from loopline.core.types import Artifact, Environment, Run
    from loopline.datasets.snapshot import AddResult
    from loopline.pipeline.status import StepState
    from loopline.registry import ModelVersion, RegisteredModel
    from loopline.store.metadata.audit import AuditEvent

SERVER_ENV = "LOOPLINE_SERVER"


class RemoteRegistry:
    """The slice of `project.registry` the commands read: one model with its versions."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def model(self, name: str) -> tuple[RegisteredModel, list[ModelVersion]]:
        found: ModelDetailOut = self._client.model_detail(name)
        versions = [records.version(v.model_dump(mode="json")) for v in found.versions]
        return records.model(found.model_dump(mode="json"), len(versions)), versions

    def card(self, name: str, version: str | None = None) -> dict[str, Any]:
        raise InvalidInput(
            "`loopline models show --card` is not supported on a remote project",
            hint=f"`loopline models show {name} VERSION --json` has the card as `model_card`",
        )


class RemoteProject:
    """A project on a server, as its logged-in user sees it; close() ends the connection."""

    def __init__(self, url: str, token: str, *, root: Path | None = None) -> None:
        from loopline.api.client import Client

        self.url = credentials.normalise_url(url)
        self.root = root  # the folder whose loopline.yaml named the server (None: LOOPLINE_SERVER)
        self.client = Client(self.url, token)
        self.registry = RemoteRegistry(self.client)
        self._reports: dict[str, PipelineRunReportOut] = {}
        self._trials: dict[str, int] = {}

    @classmethod
    def connect(cls, url: str, *, root: Path | None = None) -> RemoteProject:
        """The project at `url` with the token saved by `loopline login` (Unauthorized, naming
        the login to run, when there is none)."""
        return cls(url, credentials.token_for(url), root=root)

    def close(self) -> None:
        self.client.close()

    def __getattr__(self, name: str) -> Any:
        """Anything the server does not offer to the CLI: a clear refusal, not a traceback."""
        if name.startswith("_"):
            raise AttributeError(name)
        raise InvalidInput(
            f"this command is not supported on a remote project ({self.url}): it needs "
            f"Project.{name}, which works only on a local project folder",
            hint="run it on the server's machine in its project folder, or in a local project "
            f"(unset {SERVER_ENV} / remove `server:` from loopline.yaml)",
        )

    # -- data ------------------------------------------------------------------------------------
    def datasets(self) -> list[tuple[Artifact, int]]:
        return [(records.artifact(d.model_dump(by_alias=True)), d.versions) for d in self.client.datasets()]

    def versions(self, name: str) -> list[Artifact]:
        return [records.artifact(a.model_dump(by_alias=True)) for a in self.client.versions(name)]

    def _ref(self, ref: str) -> tuple[str, int]:
        """NAME@VERSION, or NAME for its latest version (an artifact id is a local-only ref)."""
        name, sep, version = ref.rpartition("@")
        if sep and version.isdigit():
            return name, int(version)
        if sep:
            raise InvalidInput(f"{ref!r} is not NAME or NAME@VERSION", hint="e.g. people@2")
        found = list(self.client.versions(ref))
        if not found or found[-1].version is None:
            raise NotFound(f"no dataset named {ref!r}", hint="`loopline datasets` lists them")
        return ref, found[-1].version

    def head(self, ref: str, n: int = 10, offset: int = 0) -> tuple[Artifact, list[dict[str, Any]]]:
        """n rows from the server, a page at a time (each page bounded by the server)."""
        if n < 0:
            raise InvalidInput(f"-n must be 0 or more, got {n}", hint="e.g. `loopline head NAME -n 20`")
        if offset:
            raise InvalidInput("a remote head starts at the first row")
        name, version = self._ref(ref)
        art = records.artifact(self.client.version(name, version).artifact.model_dump(by_alias=True))
        rows: list[dict[str, Any]] = []
        token: str | None = None
        while len(rows) < n:
            page = self.client.items(name, version, limit=min(n - len(rows), 1000), page_token=token)
            rows += page.items
            token = page.next_page_token
            if not token:
                break
        return art, rows[:n]

    def diff(self, a: str, b: str, key: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
        (old, va), (new, vb) = self._ref(a), self._ref(b)
        if old != new:
            raise InvalidInput(
                f"{a} and {b} are versions of different datasets ({old} and {new})",
                hint=f"compare two versions of one name, e.g. {old}@1 {old}@2",
            )
        return self.client.diff(old, va, vb, list(key) or None).model_dump(mode="json")

    def add(self, path: Path, name: str) -> AddResult:
        """One table file sent to the server, added there as `loopline add` adds it."""
        from loopline.datasets.snapshot import TABLE_SUFFIXES, AddResult

        path = Path(path).absolute()
        if path.is_dir():
            raise InvalidInput(
                f"{path} is a folder: a remote project takes table files only (for now)",
                hint="add a CSV, Parquet or JSON Lines file, or add the folder on the server's machine",
            )
        if not path.is_file():
            raise InvalidInput(f"{path} does not exist", hint="give the path of a file to add")
        if path.suffix.lower() not in TABLE_SUFFIXES:
            raise InvalidInput(
                f"{path.name} is not a table file",
                where=str(path),
                hint=f"tables are {', '.join(sorted(TABLE_SUFFIXES))}",
            )
        got = self.client.upload_version(name, path)
        art = records.artifact(self.client.version(name, got.version).artifact.model_dump(by_alias=True))
        return AddResult(got.name, got.version, got.created, art, got.files, got.hashed)

    def checkout(self, ref: str, directory: Path) -> list[Path]:
        """The version's files from the server, each written atomically and verified."""
        name, version = self._ref(ref)
        art = self.client.version(name, version).artifact
        directory = Path(directory).absolute()
        if art.kind != "blobs":
            suffix = {"table": ".parquet", "model": ".skops"}.get(art.kind, ".json")
            target = directory / (art.original_name or f"{art.name or art.id[:12]}{suffix}")
            if target.parent != directory:
                raise InvalidInput(f"the server named the file {art.original_name!r}: not a file name")
            return [self.client.download_version(name, version, target)]
        written: list[Path] = []
        token: str | None = None
        while True:
            page = self.client.items(name, version, limit=1000, page_token=token)
            for entry in page.items:
                target = (directory / str(entry["path"])).resolve()
                if not target.is_relative_to(directory.resolve()):
                    raise InvalidInput(f"manifest path {entry['path']!r} escapes the target folder")
                written.append(self.client.download_version(name, version, target, str(entry["path"])))
            token = page.next_page_token
            if not token:
                return written

    def status(self) -> list[StepState]:
        """The server's pipeline, step by step: fresh or stale, and why."""
        from loopline.pipeline.status import StepState

        return [StepState(s.name, s.state, list(s.reasons)) for s in self.client.pipeline_status().steps]

    # -- runs ------------------------------------------------------------------------------------
    def runs(self, limit: int = 50, *, top_level: bool = False) -> list[Run]:
        if not top_level:
            raise InvalidInput("a remote project lists top-level runs only", hint="`loopline runs`")
        page = self.client.pipeline_runs(limit=limit)
        found = []
        for item in page.items:
            self._trials[item.run_id] = item.trials
            found.append(records.run(item.model_dump(mode="json")))
        return found

    def child_counts(self, run_ids: list[str]) -> dict[str, int]:
        """The trial counts the listing just sent (the server counts them with the page)."""
        return {i: self._trials.get(i, 0) for i in run_ids}

    def show(self, run_id: str) -> Run:
        report = self.client.pipeline_run(run_id)
        self._reports[report.run_id] = report
        return records.run(report.model_dump(mode="json", by_alias=True))

    def _report(self, run: Run) -> PipelineRunReportOut:
        if run.id not in self._reports:
            self.show(run.id)
        return self._reports[run.id]

    def run_report(self, run: Run) -> dict[str, Any]:
        data = self._report(run).model_dump(mode="json", by_alias=True)
        return {k: v for k, v in data.items() if k not in ("environment", "metrics", "test_reads")}

    def environment(self, env_id: str) -> Environment:
        from loopline.core.types import Environment

        for report in self._reports.values():
            if report.environment is not None and report.environment.id == env_id:
                return Environment(**report.environment.model_dump())
        return Environment(**self.client.environment(env_id).model_dump())

    def metrics(self, run_id: str) -> list[dict[str, Any]]:
        report = self._reports.get(run_id) or self.client.pipeline_run(run_id)
        return [m.model_dump(mode="json") for m in report.metrics]

    def sealed_reads(self, run: Run) -> list[dict[str, Any]]:
        return [t.model_dump(mode="json") for t in self._report(run).test_reads]

    # -- models ----------------------------------------------------------------------------------
    def models(self) -> list[RegisteredModel]:
        return [records.model(m.model_dump(mode="json"), m.versions) for m in self.client.models()]

    def _number(self, name: str, ref: int | str | None) -> int:
        """A version number from a number, an alias, "latest" or None (the latest)."""
        if isinstance(ref, int):
            return ref
        if isinstance(ref, str) and ref.isdigit():
            return int(ref)
        detail = self.client.model_detail(name)
        if ref is None or ref == "latest":
            if detail.latest_version is None:
                raise NotFound(f"registered model {name!r} has no versions", hint="`loopline models`")
            return detail.latest_version
        if ref not in detail.aliases:
            raise NotFound(
                f"{name} has no alias {ref!r}",
                hint=f"aliases: {', '.join(detail.aliases) or 'none'} (`loopline models show {name}`)",
            )
        return detail.aliases[ref]

    def model(self, name: str, ref: int | str | None = None) -> ModelVersion:
        return self._version_detail(name, ref)[0]

    def version_detail(
        self, name: str, ref: int | str | None
    ) -> tuple[ModelVersion, dict[str, Any] | None, list[RemoteEvent], list[str]]:
        return self._version_detail(name, ref)

    def _version_detail(
        self, name: str, ref: int | str | None
    ) -> tuple[ModelVersion, dict[str, Any] | None, list[RemoteEvent], list[str]]:
        found = self.client.model_version(name, self._number(name, ref))
        fields = found.model_dump(mode="json")
        approvals = [records.event(e.model_dump(mode="json")) for e in found.approvals]
        return records.version(fields), found.model_card, approvals, list(found.awaiting_approval)

    def version_card(self, version: ModelVersion) -> dict[str, Any] | None:
        try:
            return self.client.model_version(version.name, version.version).model_card
        except NotFound:
            return None

    def model_history(self, name: str) -> list[RemoteEvent]:
        return [records.event(e.model_dump(mode="json")) for e in self.client.model_history(name)]

    def promote(self, name: str, version: int, alias: str, reason: str = "") -> dict[str, Any]:
        return self.client.promote(name, version, alias, reason).model_dump(mode="json")

    def approve(
        self, name: str, version: int, alias: str, reason: str = "", *, removal: bool = False
    ) -> RemoteEvent:
        return records.event(
            self.client.approve(name, version, alias, reason, removal=removal).model_dump(mode="json")
        )

    def rollback(self, name: str, alias: str = "production", reason: str = "") -> dict[str, Any]:
        return self.client.rollback(name, alias, reason).model_dump(mode="json")

    # -- labeling --------------------------------------------------------------------------------
    def annotate_projects(self) -> list[Any]:
        """The labeling projects (each with its `name`), as the server lists them."""
        return [status.project for status in self.client.labeling_projects()]

    def annotate_status(self, name: str) -> dict[str, Any]:
        for status in self.client.labeling_projects():
            if status.project.name == name:
                return status.model_dump(mode="json")
        raise NotFound(
            f"no labeling project {name!r} on {self.url}", hint="`loopline annotate status` lists them"
        )

    def annotate_export(self, name: str, path: Path, fmt: str | None = None) -> tuple[Path, int]:
        """The project's answers from the server, written to path atomically."""
        from loopline.wiring.annotate import file_format

        return self.client.export_labels(name, Path(path), file_format(Path(path), fmt))

    def annotate_import(
        self, name: str, path: Path, fmt: str | None = None, duplicates: str = "keep"
    ) -> dict[str, Any]:
        """A labels file sent whole and read by the server as a local import reads it: all rows
        or none, in the audit log as the logged-in user."""
        from pydantic import ValidationError

        from loopline.api.labeling import LabelImport
        from loopline.wiring.annotate import read_labels

        text, found = read_labels(Path(path), fmt)
        try:
            body = LabelImport.model_validate({"text": text, "format": found, "duplicates": duplicates})
        except ValidationError as exc:
            problem = exc.errors()[0]
            raise InvalidInput(
                f"cannot send {path}: {problem['msg']} ({'.'.join(map(str, problem['loc']))})",
                hint="split a file over 8 million characters; duplicates is keep, first, last or error",
            ) from exc
        return self.client.import_labels(name, body).model_dump(mode="json")

    # -- audit -----------------------------------------------------------------------------------
    def audit_log(
        self,
        object: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        limit: int | None = None,
    ) -> list[AuditEvent]:
        """Newest first, as the local log; paged from the server until `limit` (or the end)."""
        from loopline.api.paging import MAX_LIMIT
        from loopline.store.metadata.audit import AuditEvent

        found: list[AuditEvent] = []
        token: str | None = None
        while limit is None or len(found) < limit:
            size = MAX_LIMIT if limit is None else min(MAX_LIMIT, limit - len(found))
            page = self.client.audit_log(
                object=object, actor=actor, action=action, limit=size, page_token=token
            )
            found += [AuditEvent(**e.model_dump()) for e in page.items]
            token = page.next_page_token
            if not token:
                break
        return found

    def audit_verify(self, head: str | None = None) -> Any:
        from loopline.core.audit import Break, Head
        from loopline.store.metadata.audit import Verified

        got = self.client.audit_verify(head)
        return Verified(
            events=got.events,
            head=Head(seq=got.head.seq, hash=got.head.hash) if got.head else None,
            broken=Break(seq=got.broken.seq, problem=got.broken.problem) if got.broken else None,
        )

    def audit_head(self) -> Any:
        from loopline.core.audit import Head

        got = self.client.audit_head()
        return None if got is None else Head(seq=got.seq, hash=got.hash)


def write_remote_project(directory: Path, url: str) -> Path:
    """`loopline init --server URL`: a folder whose loopline.yaml names the server, nothing else
    (no metadata database, no blobs: they live on the server)."""
    import yaml

    from loopline.core.settings import PROJECT_FILE

    key = credentials.normalise_url(url)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / PROJECT_FILE
    if path.exists():
        raise InvalidInput(f"{path} exists already", hint=f"add `server: {key}` to its `project:` section")
    text = yaml.safe_dump({"project": {"server": key}}, sort_keys=False)
    path.write_text(
        "# a remote project: every command goes to this loopline server as the user of\n"
        f"# `loopline login {key}` (docs/remote.md)\n" + text,
        encoding="utf-8",
    )
    return path
