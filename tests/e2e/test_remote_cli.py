"""The CLI against a `loopline server` (a subprocess on a free loopback port, one per module):
`loopline login` checks and keeps a token in the user's config, and a folder made by `loopline
init --server URL` answers the read commands with the same `--json` as the project folder the
server serves; a promote through it is refused for a viewer with the server's message and, for
a scientist, lands in the audit log with them as actor. A command the server does not offer to
the CLI says so (exit 2), never a traceback."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from loopline.project import Project
from tests.conftest import BIN, cli
from tests.monitor.conftest import make_setup
from tests.server.live import free_port

UPLOAD = 200_000  # the server's --max-upload-bytes


@dataclass
class Served:
    url: str
    root: Path  # the project the server serves
    client: Path  # a folder made by `loopline init --server URL`
    config: Path  # XDG_CONFIG_HOME, logged in as the scientist
    tokens: dict[str, str]
    run_id: str

    def env(self, config: Path | None = None) -> dict[str, str]:
        return {"XDG_CONFIG_HOME": str(config or self.config), "LOOPLINE_SERVER": "", "LOOPLINE_TOKEN": ""}


def _wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:  # readiness, not a correctness wait
        if process.poll() is not None:
            raise RuntimeError(f"loopline server exited {process.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("loopline server did not start")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("remote")
    setup = make_setup(base / "proj")  # a run (data, train), clf v1 in production
    project = setup.project
    (base / "proj" / "people.csv").write_text("id,age\n1,30\n2,41\n")
    project.add(base / "proj" / "people.csv", "people")
    (base / "proj" / "people.csv").write_text("id,age\n1,31\n3,25\n")
    project.add(base / "proj" / "people.csv", "people")
    project.register("clf", "model", reason="retrained")  # v2
    (base / "proj" / "docs" / "deep").mkdir(parents=True)
    (base / "proj" / "docs" / "a.txt").write_text("alpha\n")
    (base / "proj" / "docs" / "deep" / "b.bin").write_bytes(bytes(range(256)) * 10)
    project.add(base / "proj" / "docs", "docs")  # a blob set
    (base / "proj" / "r.csv").write_text("_item_id,text\na,good\nb,bad\nc,meh\n")
    project.add(base / "proj" / "r.csv", "reviews")
    project.annotate_create("reviews", "reviews", ["pos", "neg"], text_field="text")
    tokens = {
        role: project.users_add(name, role)[1]
        for role, name in (("scientist", "sam"), ("viewer", "vic"), ("approver", "ada"))
    }
    run_id = project.runs(1, top_level=True)[0].id
    project.close()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in ("LOOPLINE_SERVER", "LOOPLINE_TOKEN")}
    process = subprocess.Popen(
        [
            str(BIN / "loopline"),
            "server",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--max-upload-bytes",
            str(UPLOAD),
        ],
        cwd=base / "proj",
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until_up(url, process)
        client = base / "client"
        cli("init", str(client), "--server", url, cwd=base, check=True)
        made = Served(url, base / "proj", client, base / "config", tokens, run_id)
        cli("login", url, "--token", tokens["scientist"], cwd=base, env=made.env(), check=True)
        yield made
    finally:
        process.terminate()
        process.wait(timeout=30)


def login_as(served: Served, role: str, config: Path) -> None:
    """`loopline login` as the user of `role`, keeping the token in the config folder `config`."""
    cli(
        "login",
        served.url,
        "--token",
        served.tokens[role],
        cwd=config.parent,
        env=served.env(config),
        check=True,
    )


def run(
    served: Served, where: str, *args: str, config: Path | None = None
) -> subprocess.CompletedProcess[str]:
    folder = served.root if where == "local" else served.client
    return cli(*args, cwd=folder, env=served.env(config))


READS = [
    ("datasets", "--json"),
    ("versions", "people", "--json"),
    ("versions", "table", "--json"),
    ("head", "people", "--json"),
    ("head", "table@1", "-n", "1200", "--json"),
    ("diff", "people@1", "people@2", "--key", "id", "--json"),
    ("runs", "--json"),
    ("status", "--json"),
    ("show", "RUN", "--json"),
    ("show", "clf", "--json"),
    ("models", "--json"),
    ("models", "show", "clf", "--json"),
    ("models", "show", "clf", "production", "--json"),
    ("models", "history", "clf", "--json"),
    ("audit", "log", "--action", "model.", "--json"),
    ("audit", "verify", "--json"),
    ("audit", "head", "--json"),
    ("annotate", "status", "--json"),
    ("annotate", "status", "reviews", "--json"),
]


def invoke(served: Served, where: str, argv: list[str], monkeypatch: pytest.MonkeyPatch) -> str:
    """What the command prints, run in this process (the read comparisons are many: a subprocess
    each would cost an interpreter start apiece); what it opened is closed after."""
    from typer.testing import CliRunner

    from loopline.cli.commands import app

    monkeypatch.chdir(served.root if where == "local" else served.client)
    for key, value in served.env().items():
        monkeypatch.setenv(key, value)
    opened: list[Any] = []
    real = Project.open.__func__  # type: ignore[attr-defined]

    def tracked(cls: type[Project], directory: Any = None) -> Any:
        opened.append(real(cls, directory))
        return opened[-1]

    monkeypatch.setattr(Project, "open", classmethod(tracked))
    try:
        result = CliRunner().invoke(app, argv, catch_exceptions=False)
    finally:
        for project in opened:
            project.close()
    assert result.exit_code == 0, f"{where}: {result.output}"
    return result.stdout


@pytest.mark.parametrize("args", READS, ids=lambda a: "-".join(x for x in a if x != "--json"))
def test_read_commands_say_the_same_locally_and_through_the_server(
    served: Served, args: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = [served.run_id if a == "RUN" else a for a in args]
    local = json.loads(invoke(served, "local", argv, monkeypatch))
    remote = json.loads(invoke(served, "remote", argv, monkeypatch))
    assert remote == local
    assert local, "the listing is empty: the comparison proves nothing"


@pytest.mark.parametrize("where", ["local", "remote"])
def test_the_listings_hold_what_the_project_holds(
    served: Served, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = {d["name"] for d in json.loads(invoke(served, where, ["datasets", "--json"], monkeypatch))}
    assert {"people", "table", "model", "docs"} <= names
    runs = json.loads(invoke(served, where, ["runs", "--json"], monkeypatch))
    assert [s["name"] for s in runs[-1]["steps"]] == ["data", "train"]
    models = json.loads(invoke(served, where, ["models", "--json"], monkeypatch))
    assert [(m["name"], m["versions"]) for m in models] == [("clf", 2)]
    assert models[0]["aliases"]["production"] == 1
    text = run(served, where, "show", served.run_id)  # as a user sees it, in a terminal's width
    assert text.returncode == 0 and "train" in text.stdout


def test_a_promote_through_the_server_is_audited_as_the_logged_in_user(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    def cmd(where: str, *args: str) -> str:
        return invoke(served, where, list(args), monkeypatch)

    first = cmd("remote", "promote", "clf", "1", "--alias", "staging")
    assert "(by sam, auth token)" in first
    moved = cmd("remote", "promote", "clf", "2", "--alias", "staging", "--reason", "try", "--json")
    assert json.loads(moved) == {
        "name": "clf",
        "alias": "staging",
        "version": 2,
        "from_version": 1,
        "actor": "sam",
        "auth": "token",
    }
    events = json.loads(cmd("remote", "audit", "log", "--action", "model.promote", "--json"))
    assert (events[0]["actor"], events[0]["auth"], events[0]["object"]) == ("sam", "token", "clf@2")
    assert "staging" in (events[0]["after"] or "")
    assert events == json.loads(cmd("local", "audit", "log", "--action", "model.promote", "--json"))
    back = cmd("remote", "rollback", "clf", "--alias", "staging", "--json")
    assert json.loads(back) | {"auth": "?"} == {
        "name": "clf",
        "alias": "staging",
        "version": 1,
        "from_version": 2,
        "actor": "sam",
        "auth": "?",
    }
    history = json.loads(cmd("remote", "models", "history", "clf", "--json"))
    assert history == json.loads(cmd("local", "models", "history", "clf", "--json"))
    assert [e["kind"] for e in history][-3:] == ["promote", "promote", "rollback"]


def test_an_approval_through_the_server_names_its_approver(served: Served, tmp_path: Path) -> None:
    config = tmp_path / "approver-config"
    login_as(served, "approver", config)
    done = run(served, "remote", "approve", "clf", "2", "--alias", "production", "--json", config=config)
    assert done.returncode == 0, done.stderr
    event = json.loads(done.stdout)
    assert (event["kind"], event["actor"], event["auth"], event["version"]) == ("approve", "ada", "token", 2)


def test_a_viewer_may_not_promote_and_is_told_so_by_the_server(served: Served, tmp_path: Path) -> None:
    config = tmp_path / "viewer-config"
    login_as(served, "viewer", config)
    refused = run(served, "remote", "promote", "clf", "2", "--alias", "canary", config=config)
    assert refused.returncode == 2
    assert "vic is a viewer" in refused.stderr and "Traceback" not in refused.stderr
    listed = run(served, "remote", "models", "--json", config=config)  # reading is a viewer's right
    assert listed.returncode == 0 and "canary" not in listed.stdout


def test_a_command_the_server_does_not_offer_says_so(served: Served) -> None:
    for args in (("run",), ("lineage", "people"), ("users", "list"), ("runs", "--all")):
        refused = run(served, "remote", *args)
        assert refused.returncode == 2, (args, refused.stderr)
        assert "not supported on a remote project" in refused.stderr and "Traceback" not in refused.stderr


def test_add_and_checkout_through_the_server(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = tmp_path / "cities.csv"
    table.write_text("city,pop\nOslo,700000\nBergen,285000\n")
    added = run(served, "remote", "add", str(table), "--name", "cities", "--json")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout) | {"artifact_id": "?"} == {
        "name": "cities",
        "version": 1,
        "created": True,
        "artifact_id": "?",
        "kind": "table",
        "files": 1,
        "hashed": 1,
    }
    again = run(served, "remote", "add", str(table), "--name", "cities")
    assert again.returncode == 0 and again.stdout.startswith("nothing changed: cities@1 is current")
    (version,) = json.loads(run(served, "local", "versions", "cities", "--json").stdout)
    assert (version["source"], version["rows"]) == ("upload:cities.csv", 2)
    (event,) = json.loads(run(served, "local", "audit", "log", "--object", "cities", "--json").stdout)
    assert (event["actor"], event["auth"], event["action"]) == ("sam", "token", "dataset.add_version")
    for ref in ("cities", "docs@1", "people@1"):
        remote, local = tmp_path / f"remote-{ref}", tmp_path / f"local-{ref}"
        invoke(served, "remote", ["checkout", ref, str(remote)], monkeypatch)
        invoke(served, "local", ["checkout", ref, str(local)], monkeypatch)
        assert _tree(remote) == _tree(local) and _tree(remote), ref
    assert _tree(tmp_path / "remote-cities") == {"cities.csv": table.read_bytes()}


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_an_upload_over_the_servers_limit_is_refused_and_adds_nothing(served: Served, tmp_path: Path) -> None:
    big = tmp_path / "big.csv"
    big.write_text("a,b\n" + "1,2\n" * (UPLOAD // 4 + 10))
    refused = run(served, "remote", "add", str(big), "--name", "big")
    assert refused.returncode == 2, refused.stderr
    assert f"at most {UPLOAD} bytes" in refused.stderr and "Traceback" not in refused.stderr
    names = {d["name"] for d in json.loads(run(served, "local", "datasets", "--json").stdout)}
    assert "big" not in names
    viewer = tmp_path / "viewer-config"
    login_as(served, "viewer", viewer)
    small = tmp_path / "small.csv"
    small.write_text("a\n1\n")
    denied = run(served, "remote", "add", str(small), "--name", "small", config=viewer)
    assert denied.returncode == 2 and "vic is a viewer" in denied.stderr


def test_login_keeps_the_token_in_a_private_file_outside_the_project(served: Served) -> None:
    path = served.config / "loopline" / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = json.loads(path.read_text())["servers"][served.url]
    assert saved == {"token": served.tokens["scientist"], "user": "sam", "role": "scientist"}
    assert served.tokens["scientist"] not in (served.client / "loopline.yaml").read_text()
    assert not list(served.config.glob("loopline/.credentials-*")), "a temp file was left"


def test_a_bad_token_or_an_unreachable_url_saves_nothing(served: Served, tmp_path: Path) -> None:
    config = tmp_path / "config"
    bad = cli("login", served.url, "--token", "not-a-token", cwd=tmp_path, env=served.env(config))
    assert bad.returncode == 2 and "refused the token" in bad.stderr and "nothing was saved" in bad.stderr
    gone = f"http://127.0.0.1:{free_port()}"
    down = cli("login", gone, "--token", "x", cwd=tmp_path, env=served.env(config))
    assert down.returncode == 2 and f"no loopline server answered at {gone}" in down.stderr
    elsewhere = cli("login", f"{served.url}/not-here", "--token", "x", cwd=tmp_path, env=served.env(config))
    assert elsewhere.returncode == 2 and "no loopline server answered" in elsewhere.stderr
    assert "Traceback" not in bad.stderr + down.stderr + elsewhere.stderr
    assert not (config / "loopline" / "credentials.json").exists()


def test_token_from_stdin_then_logout(served: Served, tmp_path: Path) -> None:
    config = tmp_path / "config"
    env = {**os.environ, **served.env(config)}
    piped = subprocess.run(
        [str(BIN / "loopline"), "login", served.url],
        input=served.tokens["viewer"] + "\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert piped.returncode == 0, piped.stderr
    assert "as vic (viewer)" in piped.stdout and served.tokens["viewer"] not in piped.stdout
    assert run(served, "remote", "datasets", "--json", config=config).returncode == 0
    out = cli("logout", cwd=served.client, env=served.env(config))  # the project's server
    assert out.returncode == 0 and f"logged out of {served.url}" in out.stdout
    missing = run(served, "remote", "datasets", config=config)
    assert missing.returncode == 2 and f"loopline login {served.url}" in missing.stderr


def test_loopline_server_environment_variable_points_anywhere_at_the_server(
    served: Served, tmp_path: Path
) -> None:
    env = served.env() | {"LOOPLINE_SERVER": served.url}
    result = cli("models", "--json", cwd=tmp_path, env=env)  # no loopline.yaml here at all
    assert result.returncode == 0, result.stderr
    assert [m["name"] for m in json.loads(result.stdout)] == ["clf"]


def test_labels_exported_and_imported_through_the_server(served: Served, tmp_path: Path) -> None:
    answers = tmp_path / "answers.jsonl"
    answers.write_text(
        '{"item_id": "a", "annotator": "crowd1", "label": "pos"}\n'
        '{"item_id": "b", "annotator": "crowd1", "label": "neg"}\n'
    )
    imported = run(served, "remote", "annotate", "import", "reviews", str(answers), "--json")
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["added"] == 2
    (event,) = json.loads(
        run(served, "local", "audit", "log", "--action", "labeling.import", "--json").stdout
    )
    assert (event["actor"], event["auth"]) == ("sam", "token")
    for fmt in ("csv", "jsonl", "json"):
        remote, local = tmp_path / f"remote.{fmt}", tmp_path / f"local.{fmt}"
        got = run(served, "remote", "annotate", "export", "reviews", str(remote), "--json")
        assert got.returncode == 0, got.stderr
        assert json.loads(got.stdout)["annotations"] == 2
        run(served, "local", "annotate", "export", "reviews", str(local))
        assert remote.read_bytes() == local.read_bytes(), fmt
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"item_id": "zz-not-an-item", "annotator": "crowd1", "label": "pos"}\n')
    refused = run(served, "remote", "annotate", "import", "reviews", str(bad))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
    status = json.loads(run(served, "remote", "annotate", "status", "reviews", "--json").stdout)
    assert status["annotations"] == 2, "a refused import left answers behind"
