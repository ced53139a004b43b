"""What a run ran on: Python, platform, loopline and every installed package, and the user's git state."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
import sys
from pathlib import Path

from loopline.core.hashing import hash_json
from loopline.core.types import Environment


def installed_packages() -> dict[str, str]:
    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found[name.lower().replace("_", "-")] = dist.version
    return dict(sorted(found.items()))


def capture_environment() -> Environment:
    packages = installed_packages()
    python = platform.python_version()
    plat = platform.platform()
    version = packages.get("loopline", "unknown")
    packages_hash = hash_json(packages)
    env_id = hash_json({"python": python, "platform": plat, "loopline": version, "packages": packages_hash})
    return Environment(env_id, python, plat, version, packages_hash, packages)


def declared_versions(names: tuple[str, ...]) -> dict[str, str | None]:
    """Versions of the packages a step declares in `env:`; part of its fingerprint."""
    result: dict[str, str | None] = {}
    for name in names:
        try:
            result[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            result[name] = None
    if "python" in names:
        result["python"] = f"{sys.version_info.major}.{sys.version_info.minor}"
    return result


def git_state(root: Path) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the git work tree holding root, or (None, None) outside git."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return None, None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=30,
        )
        return commit.stdout.strip(), bool(status.stdout.strip())
    except (OSError, subprocess.TimeoutExpired):
        return None, None
