"""Project settings: built once at the edge (environment `LOOPLINE_*`, then loopline.yaml) and passed down."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_FILE = "loopline.yaml"
STATE_DIR = ".loopline"


@dataclass(frozen=True)
class Settings:
    root: Path
    store_url: str
    blobs_url: str
    stat_cache: Path
    blob_cache: Path  # where a remote blob store's reads are cached on this machine
    remote_url: str | None = None  # where `loopline push` / `pull` go by default
    user: str = "unknown"  # the actor recorded in histories: LOOPLINE_USER, else the OS user
    # Project.add answers an unchanged path without opening the store; LOOPLINE_FAST_PATH=0: never
    fast_path: bool = True

    @classmethod
    def build(cls, root: Path, project: Mapping[str, Any], environ: Mapping[str, str]) -> Settings:
        """Environment first, then the `project:` section of loopline.yaml, then defaults."""
        state = root / STATE_DIR
        store = (
            environ.get("LOOPLINE_STORE")
            or project.get("store")
            or f"sqlite:///{(state / 'metadata.db').as_posix()}"
        )
        blobs = environ.get("LOOPLINE_BLOBS") or project.get("blobs") or str(state / "blobs")
        return cls(
            root=root,
            store_url=str(store),
            blobs_url=str(blobs),
            stat_cache=stat_cache_path(root),
            blob_cache=state / "cache" / "blobs",
            remote_url=environ.get("LOOPLINE_REMOTE") or project.get("remote") or None,
            user=environ.get("LOOPLINE_USER") or _os_user(),
            fast_path=environ.get("LOOPLINE_FAST_PATH") != "0",
        )


def stat_cache_path(root: Path) -> Path:
    """A project's stat cache: always beside it (inodes mean nothing on another machine)."""
    return root / STATE_DIR / "statcache.db"


def _os_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container) and no USER variable
        return "unknown"
