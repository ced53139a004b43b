"""Where the files and folder sources may read: their declared root inside the project, never
outside it. `..` in a root or glob is refused in the declaration; a root that is a symlink
leaving the project is refused when resolved; files that are symlinks leaving the root are
skipped and reported, never read.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

from loopline.collect.spec import SourceSpec
from loopline.store.filescan import FileInfo, scan_files


def project_dir(spec: SourceSpec) -> Path | None:
    """The project folder, when the declaration says which loopline.yaml it came from."""
    if not spec.where:
        return None
    path, _, line = spec.where.rpartition(":")
    if not line.isdigit():
        path = spec.where
    file = Path(path)
    return file.parent if file.suffix in (".yaml", ".yml") else None


def check_declaration(spec: SourceSpec, default_glob: str) -> None:
    """Lexical checks of `root` and `glob`, then, when the project is known, that root exists."""
    root = spec.option("root", ".")
    if not isinstance(root, str) or not root.strip():
        raise spec.fail("`root` must be a folder path relative to the project", hint='e.g. root: "inbox"')
    if os.path.isabs(root) or _escapes(root):
        raise spec.fail(
            f"root {root!r} is outside the project",
            hint="sources read only inside the project folder; give a relative path without `..`",
        )
    pattern = spec.option("glob", default_glob)
    if not isinstance(pattern, str) or not pattern.strip():
        raise spec.fail("`glob` must be a pattern such as '*.csv' or '**/*.jsonl'")
    if pattern.startswith("/") or ".." in pattern.split("/"):
        raise spec.fail(
            f"glob {pattern!r} leaves the root",
            hint="a glob is relative to `root` and may not contain `..` or start with /",
        )
    project = project_dir(spec)
    if project is not None:
        resolve_root(spec, project)


def _escapes(path: str) -> bool:
    normal = posixpath.normpath(path.replace(os.sep, "/"))
    return normal == ".." or normal.startswith("../")


def resolve_root(spec: SourceSpec, project: Path) -> Path:
    """The real path of the declared root; ConfigError when it leaves the project or is missing."""
    declared = spec.option("root", ".")
    real_project = Path(os.path.realpath(project))
    root = Path(os.path.realpath(project / declared))
    if root != real_project and real_project not in root.parents:
        raise spec.fail(
            f"root {declared!r} resolves to {root}, outside the project {real_project}",
            hint="sources read only inside the project folder (a symlinked root may not leave it)",
        )
    if not root.is_dir():
        what = "does not exist" if not root.exists() else "is not a folder"
        raise spec.fail(
            f"root folder {declared!r} {what}",
            hint=f"create {project / declared} or fix `root:`",
        )
    return root


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A regex for a glob on relative posix paths: `*` and `?` stay in one folder, `**/` spans any
    number of folders (zero included), `[...]` is a character class."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body).replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


@dataclass
class Selection:
    files: list[FileInfo] = field(default_factory=list)  # matching files that stay inside root
    refused: list[tuple[str, str]] = field(default_factory=list)  # (relative path, why)


def select_files(root: Path, pattern: str) -> Selection:
    """Files under root matching the glob (hidden names skipped); symlinks leaving root refused."""
    links: list[tuple[str, str]] = []
    found = scan_files(str(root), links=links, skip_hidden=True)
    match = glob_regex(pattern).match
    everything = pattern in ("**", "**/*")
    selection = Selection(files=found if everything else [f for f in found if match(f[0])])
    prefix = str(root).rstrip(os.sep) + os.sep
    escaping: set[str] = set()
    for rel, full in links:
        target = os.path.realpath(full)
        if not target.startswith(prefix) and target != str(root):
            escaping.add(rel)
            if match(rel) or os.path.isdir(full):
                selection.refused.append((rel, f"symlink to {target}, outside the root {root}: not read"))
    if escaping:
        selection.files = [f for f in selection.files if f[0] not in escaping]
    return selection
