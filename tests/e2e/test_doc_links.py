"""Every relative link of README.md and docs/*.md leads to a file of the repository (and to a
heading of it, when it names one): the README is a front door to those pages, and a page moved
or a heading renamed must not leave a dead link behind. Nothing may point outside the
repository: a reader of a clone has only the clone."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)
HEADING = re.compile(r"^#{1,6} (.+)$", re.M)


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def links(page: Path) -> list[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))  # a code block's brackets are code
    return [target for target in LINK.findall(text) if not re.match(r"[a-z]+:", target)]


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return {anchor(h) for h in HEADING.findall(text)}


def dead_links(page: Path, root: Path = ROOT) -> list[str]:
    """Each link of `page` that leaves `root`, names no file, or names a heading the file lacks."""
    dead = []
    for target in links(page):
        path, _, fragment = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.is_relative_to(root):
            dead.append(f"{target}: outside the repository")
        elif not file.is_file():
            dead.append(f"{target}: no such file")
        elif fragment and file.suffix == ".md" and fragment not in anchors(file):
            dead.append(f"{target}: no heading #{fragment} in {file.name}")
    return dead


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    assert dead_links(page) == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_nothing_points_outside_the_repository(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    for outside in ("/work/", "shared/", "DESIGN.md", "](/", "](~"):
        assert outside not in text, f"{page.name} mentions {outside!r}"


def test_the_readme_links_every_page() -> None:
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in links(ROOT / "README.md")}
    assert set(PAGES[1:]) <= linked, sorted(p.name for p in set(PAGES[1:]) - linked)


def test_a_dead_link_is_caught(tmp_path: Path) -> None:
    """The check above can fail: a missing file, a missing heading and a way out are all found."""
    (tmp_path / "docs").mkdir()
    page = tmp_path / "docs" / "page.md"
    page.write_text(
        "# Title\n\n## Exit codes, `--json`\n\n```sh\n[not](a-link.md)\n```\n"
        "[a](missing.md) [b](#exit-codes---json) [c](#nope) [d](page.md#title) [e](../../out.md)"
        " [f](https://example.com/x.md)\n"
    )
    assert dead_links(page, tmp_path) == [
        "missing.md: no such file",
        "#nope: no heading #nope in page.md",
        "../../out.md: outside the repository",
    ]
