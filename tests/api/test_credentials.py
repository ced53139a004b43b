"""Where `loopline login` keeps tokens and under which key: the user's config folder (XDG, else
~/.config), a URL normalised so that one server has one entry, a file that is 0600 after every
write and readable back, and errors (not tracebacks) for a damaged file or a missing login."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from loopline.api import credentials
from loopline.core.errors import InvalidInput, Unauthorized


def test_the_file_is_in_the_users_config_folder(tmp_path: Path) -> None:
    home = {"HOME": str(tmp_path)}
    assert credentials.credentials_path(home) == tmp_path / ".config" / "loopline" / "credentials.json"
    xdg = home | {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    assert credentials.credentials_path(xdg) == tmp_path / "xdg" / "loopline" / "credentials.json"


@pytest.mark.parametrize(
    ("given", "key"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("HTTP://Loopline.Example:8000/", "http://loopline.example:8000"),
        ("https://proxy.example/loopline/", "https://proxy.example/loopline"),
    ],
)
def test_a_server_has_one_key(given: str, key: str) -> None:
    assert credentials.normalise_url(given) == key


@pytest.mark.parametrize(
    "bad", ["127.0.0.1:8000", "ftp://host", "http://", "http://u:p@host", "http://h/?a=1"]
)
def test_what_is_not_a_server_url_is_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        credentials.normalise_url(bad)


def test_save_read_forget(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    path = credentials.save("http://h:1/", "secret-1", "sam", "scientist", env)
    credentials.save("http://other:2", "secret-2", "vic", "viewer", env)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert credentials.token_for("HTTP://H:1", env) == "secret-1"
    assert credentials.token_for("http://h:1", env | {"LOOPLINE_TOKEN": "ci"}) == "ci"
    assert credentials.forget("http://h:1", env) and not credentials.forget("http://h:1", env)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(Unauthorized, match="not logged in to http://h:1") as missing:
        credentials.token_for("http://h:1", env)
    assert missing.value.hint is not None and "loopline login http://h:1" in missing.value.hint
    assert list(credentials.saved(env)) == ["http://other:2"]
    assert sorted(p.name for p in path.parent.iterdir()) == ["credentials.json"]  # no temp file left


def test_a_damaged_file_is_an_error_that_says_what_to_do(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    path = credentials.credentials_path(env)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(InvalidInput, match="not valid JSON") as damaged:
        credentials.token_for("http://h:1", env)
    assert damaged.value.hint is not None and "log" in damaged.value.hint
