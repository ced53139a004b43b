"""Entry point of the `loopline` command.

`loopline add PATH --name NAME [--json]` on a path that still holds the latest version of NAME
is answered here, before Typer, Rich or SQLAlchemy are imported (datasets/unchanged.py does the
check): re-adding an unchanged folder then costs about what starting Python costs. Every other
command, and any add this cannot answer for sure, runs the full command line (cli/commands.py),
which prints its usual messages. LOOPLINE_FAST_PATH=0 turns the shortcut off.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from loopline.store.statcache import StatCache


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if os.environ.get("LOOPLINE_FAST_PATH") != "0" and _add_unchanged(args):
        return
    from loopline.cli.commands import run

    run(args)


def _add_options(args: list[str]) -> tuple[str, str, bool] | None:
    """(PATH, NAME, --json) of `add PATH --name NAME [--json]` in any order click accepts, or
    None for anything else (other commands, other options, --help, a repeated option)."""
    if not args or args[0] != "add":
        return None
    path: str | None = None
    name: str | None = None
    as_json = False
    rest = iter(args[1:])
    for arg in rest:
        if arg == "--json" and not as_json:
            as_json = True
        elif arg in ("--name", "-n") and name is None:
            name = next(rest, None)
        elif arg.startswith("--name=") and name is None:
            name = arg.removeprefix("--name=")
        elif not arg.startswith("-") and path is None:
            path = arg
        else:
            return None
    return (path, name, as_json) if path and name else None


def _add_unchanged(args: list[str]) -> bool:
    """Print what `add` prints when nothing changed and return True; False (having printed
    nothing) when that cannot be said for sure, e.g. on a PostgreSQL store."""
    options = _add_options(args)
    if options is None:
        return False
    path, name, as_json = options
    try:
        from pathlib import Path

        from loopline.core.settings import PROJECT_FILE, Settings, stat_cache_path
        from loopline.datasets.unchanged import unchanged
        from loopline.store.metadata.peek import latest_version
        from loopline.store.statcache import StatCache

        start = Path.cwd()  # found as Project.open finds it
        found = next((d / PROJECT_FILE for d in (start, *start.parents) if (d / PROJECT_FILE).exists()), None)
        if found is None or not stat_cache_path(found.parent).exists():
            return False
        cache = StatCache(stat_cache_path(found.parent))
        try:
            settings = Settings.build(found.parent, _project_section(found, cache), dict(os.environ))
            latest = latest_version(settings.store_url, name)  # None on PostgreSQL
            blobs = settings.blobs_url.removeprefix("file://")
            if latest is None or not os.path.isdir(f"{blobs}/tmp"):
                return False  # the full path creates what is missing, or says what is wrong
            result = unchanged(Path(path), name, latest, cache)
        finally:
            cache.close()
    except Exception:  # whatever went wrong, the full command meets it and explains it
        return False
    if result is None:
        return False
    if as_json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2, default=str) + "\n")
    else:
        sys.stdout.write(result.summary() + "\n")
    return True


def _project_section(found: Path, cache: StatCache) -> dict[str, Any]:
    """The `project:` section of loopline.yaml as the full command reads it (and validates the
    whole file), kept in the stat cache while the file keeps its inode, size and mtime: PyYAML
    alone takes ~10 ms to import."""
    from loopline.store.statcache import stat_key

    key = stat_key(found.stat())
    known = cache.recall(str(found), key)
    if known is not None:
        return dict(json.loads(known))
    from loopline.pipeline.config import read_project_file

    project = read_project_file(found).project
    cache.remember(str(found), key, json.dumps(project))
    return project
