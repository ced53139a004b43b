"""A project on disk with a labeling project, users and their tokens, and the app over it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from fastapi.testclient import TestClient

from loopline.core.identity import Role
from loopline.project import Project
from loopline.server import create_app

TEXTS = [
    "The service was quick and friendly.",
    "<script>alert(1)</script>",
    "Cold food, long wait.",
    "It was fine, nothing special.",
    "Would come back <b>any</b> day!",
    "The room smelled of smoke.",
]
LABELS = ("positive", "negative", "neutral")


@dataclass
class Setup:
    project: Project
    tokens: dict[str, str]
    name: str = "reviews"

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


class Clock:
    """The app's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def make_setup(
    root: Path,
    store_url: str | None = None,
    *,
    overlap: int = 1,
    texts: list[str] | None = None,
    lease_seconds: int = 600,
    annotators: tuple[str, ...] = ("alice", "bob"),
    gold_share: float = 0.0,
    instructions: str = "Is the review positive, negative or neutral?",
) -> Setup:
    """A project with a `reviews` table (item ids item0000, item0001, …) and a labeling project
    on it; annotators (and the manager mia) with their tokens."""
    project = Project.init(root, store=store_url)
    rows = texts or TEXTS
    frame = pl.DataFrame(
        {"_item_id": [f"item{i:04d}" for i in range(len(rows))], "text": rows, "n": range(len(rows))}
    )
    frame.write_csv(root / "reviews.csv")
    project.add(root / "reviews.csv", "reviews")
    project.annotate_create(
        "reviews",
        "reviews",
        LABELS,
        instructions=instructions,
        overlap=overlap,
        gold_share=gold_share,
        lease_seconds=lease_seconds,
        text_field="text",
    )
    tokens = {name: make_user(project, name, "annotator") for name in annotators}
    tokens["mia"] = make_user(project, "mia", "maintainer")
    return Setup(project, tokens)


def make_user(project: Project, name: str, role: Role) -> str:
    """A user of `role` in `project`, and its token."""
    return project.users_add(name, role)[1]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    made = make_setup(tmp_path / "proj")
    yield made
    made.project.close()


@pytest.fixture
def client(setup: Setup, clock: Clock) -> Iterator[TestClient]:
    with TestClient(create_app(setup.project, clock=clock)) as test_client:
        yield test_client
