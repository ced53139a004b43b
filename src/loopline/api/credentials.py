"""Tokens saved by `loopline login`: one JSON file in the user's config folder, never in a
project (a project folder is shared and committed; a token is one person's).

The file is `$XDG_CONFIG_HOME/loopline/credentials.json` (default `~/.config/loopline/`), mode
0600 in a 0700 folder, written atomically (a temp file beside it, fsync, rename) so that a killed
login never leaves half a file. It maps a server URL (normalised: scheme and host lower-case, no
trailing slash) to the token and who it signed in as.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from loopline.core.errors import InvalidInput, StorageError, Unauthorized

FILE_NAME = "credentials.json"


def config_dir(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "loopline"


def credentials_path(environ: dict[str, str] | None = None) -> Path:
    return config_dir(environ) / FILE_NAME


def normalise_url(url: str) -> str:
    """The key a server is saved under: `http(s)://host[:port][/path]`, lower-case host, no
    trailing slash; anything else is refused before a request is made."""
    text = url.strip()
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise InvalidInput(
            f"{url!r} is not a server URL",
            hint="give the loopline server's address, e.g. http://127.0.0.1:8000",
        )
    if parts.query or parts.fragment or "@" in parts.netloc:
        raise InvalidInput(
            f"{url!r} has a query, fragment or user name",
            hint="give only scheme, host, port (and path, behind a proxy)",
        )
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}"


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {"servers": {}}
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc.strerror}", hint="check its permissions") from exc
    try:
        data = json.loads(text)
    except ValueError:
        raise InvalidInput(
            f"{path} is not valid JSON",
            hint="remove it and `loopline login URL` again",
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("servers"), dict):
        raise InvalidInput(f"{path} is not a loopline credentials file", hint="remove it and log in again")
    return data


def _write(path: Path, data: dict[str, Any]) -> None:
    """Atomically, created 0600 (never readable by others, not even for an instant)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temp = tempfile.mkstemp(prefix=".credentials-", suffix=".tmp", dir=path.parent)  # 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2, sort_keys=True)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def save(url: str, token: str, user: str, role: str, environ: dict[str, str] | None = None) -> Path:
    path = credentials_path(environ)
    data = _read(path)
    data["servers"][normalise_url(url)] = {"token": token, "user": user, "role": role}
    _write(path, data)
    return path


def forget(url: str, environ: dict[str, str] | None = None) -> bool:
    """Remove the login for `url`; False when there was none."""
    path = credentials_path(environ)
    data = _read(path)
    if data["servers"].pop(normalise_url(url), None) is None:
        return False
    _write(path, data)
    return True


def saved(environ: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Every saved login by URL."""
    servers: dict[str, dict[str, Any]] = _read(credentials_path(environ))["servers"]
    return servers


def token_for(url: str, environ: dict[str, str] | None = None) -> str:
    """The token to send to `url`: LOOPLINE_TOKEN when set (CI), else the saved login."""
    env = os.environ if environ is None else environ
    if env.get("LOOPLINE_TOKEN"):
        return env["LOOPLINE_TOKEN"]
    key = normalise_url(url)
    entry = saved(environ).get(key)
    token = entry.get("token") if isinstance(entry, dict) else None
    if not isinstance(token, str) or not token:
        raise Unauthorized(
            f"not logged in to {key}",
            where=str(credentials_path(environ)),
            hint=f"run `loopline login {key}` (or set LOOPLINE_TOKEN)",
        )
    return token
