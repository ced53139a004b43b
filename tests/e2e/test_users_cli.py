"""`loopline users` and `loopline tokens` as a user runs them, in a subprocess on a temp project:
a secret printed once and never listed, revocation, and exit 2 with what/where/fix for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loopline.core.errors import Unauthorized
from loopline.project import Project
from tests.conftest import cli


@pytest.fixture
def project(tmp_path: Path) -> Path:
    cli("init", cwd=tmp_path, check=True)
    return tmp_path


def test_users_and_tokens_from_add_to_revoke(project: Path) -> None:
    added = json.loads(
        cli(
            "users",
            "add",
            "ci",
            "--role",
            "scientist",
            "--kind",
            "service",
            "--json",
            cwd=project,
            check=True,
        ).stdout
    )
    assert (added["name"], added["role"], added["kind"]) == ("ci", "scientist", "service")
    first = added["token"]
    made = json.loads(
        cli(
            "tokens",
            "create",
            "ci",
            "--name",
            "nightly",
            "--expires",
            "30d",
            "--json",
            cwd=project,
            check=True,
        ).stdout
    )
    assert made["name"] == "nightly" and made["state"] == "active" and made["expires_at"]
    listed = cli("tokens", "list", "ci", "--json", cwd=project, check=True).stdout
    assert first not in listed and made["token"] not in listed, "a listing shows a secret"
    assert {t["name"] for t in json.loads(listed)} == {"initial", "nightly"}
    table = cli("tokens", "list", cwd=project, check=True).stdout
    assert made["id"] in table and made["token"] not in table
    users = json.loads(cli("users", "list", "--json", cwd=project, check=True).stdout)
    assert users == [{"name": "ci", "role": "scientist", "kind": "service", "active": True}]

    revoked = cli("tokens", "revoke", made["id"], cwd=project, check=True)
    assert f"revoked token {made['id']} (nightly) of ci" in revoked.stdout
    opened = Project.open(project)
    try:
        assert opened.authenticate_token(first).name == "ci"
        with pytest.raises(Unauthorized, match="revoked"):
            opened.authenticate_token(made["token"])
    finally:
        opened.close()
    states = {t["name"]: t["state"] for t in json.loads(cli("tokens", "list", "--json", cwd=project).stdout)}
    assert states == {"initial": "active", "nightly": "revoked"}

    assert (
        cli(
            "users", "grant", "ci", "--model", "churn", "--level", "edit", cwd=project, check=True
        ).stdout.strip()
        == "ci: edit on model churn"
    )
    assert "disabled ci" in cli("users", "disable", "ci", cwd=project, check=True).stdout
    assert json.loads(cli("users", "list", "--json", cwd=project).stdout)[0]["active"] is False


def test_the_annotators_shortcut_makes_users(project: Path) -> None:
    made = json.loads(
        cli(
            "annotate", "annotators", "add", "lead", "--role", "manager", "--json", cwd=project, check=True
        ).stdout
    )
    assert made["role"] == "maintainer"
    cli("annotate", "annotators", "add", "ann", cwd=project, check=True)
    assert cli("annotate", "annotators", "list", cwd=project, check=True).stdout.split() == ["ann"]
    assert "maintainer" in cli("annotate", "annotators", "add", "--help", cwd=project).stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ("users", "add", "x", "--role", "owner"),
            ["--role: unknown role 'owner'", "hint: one of: admin, maintainer"],
        ),
        (("users", "add", "x", "--role", "viewer", "--kind", "robot"), ["unknown kind 'robot'"]),
        (("users", "disable", "nobody"), ["no user named 'nobody'", "loopline users list"]),
        (("tokens", "create", "nobody", "--name", "x"), ["no user named 'nobody'"]),
        (
            ("tokens", "create", "ann", "--name", "x", "--expires", "soon"),
            ["--expires: 'soon' is not a duration", "30d"],
        ),
        (("tokens", "revoke", "feedbeef"), ["no token 'feedbeef'", "tokens list"]),
        (("tokens", "list", "nobody"), ["no user named 'nobody'"]),
        (("users", "grant", "ann", "--level", "edit"), ["name one resource", "--model"]),
        (("users", "grant", "ann", "--model", "m", "--level", "owner"), ["--level: unknown level 'owner'"]),
        (("annotate", "annotators", "add", "z", "--role", "admin"), ["unknown annotator role 'admin'"]),
    ],
)
def test_bad_input_exits_2_saying_what_where_and_how(
    project: Path, args: tuple[str, ...], says: list[str]
) -> None:
    cli("users", "add", "ann", "--role", "annotator", cwd=project, check=True)
    result = cli(*args, cwd=project)
    assert result.returncode == 2, result.stderr
    for text in says:
        assert text in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
