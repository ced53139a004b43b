"""Spans and boxes in the labeling page, in headless Chromium: an annotator selects text (with
the mouse, or a selection set from script) and presses a label key, or drags a box on an image
and presses a label key; removes one with its x; Enter submits and the regions arrive in the
store in character offsets (code points) and image pixels. The server refuses regions outside the
text or the image. Screenshots: /tmp/loopline-ui-spans.png and /tmp/loopline-ui-boxes.png."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from loopline.core.errors import InvalidInput
from loopline.server import create_app
from loopline.store.metadata.annotations import check_label
from tests.server.conftest import Setup, make_setup
from tests.server.live import chromium, live_server
from tests.server.test_browser import SHOTS, add_image_project, current_task, next_after, sign_in

TEXTS = [
    "Ada \U0001f642 met Bob at ACME in Paris.",  # an emoji: offsets are code points, not UTF-16
    "<script>alert(1)</script> wrote Eve.",
]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Setup, str, Any]]:
    setup = make_setup(tmp_path / "proj", texts=TEXTS)
    project = setup.project
    project.annotate_create("ents", "reviews", ["PER", "ORG", "LOC"], task_type="spans", text_field="text")
    add_image_project(setup, tmp_path / "inbox")
    project.annotate_create("shapes", "digits", ["stroke", "blank"], task_type="boxes")
    with live_server(create_app(project)) as url, chromium() as browser:
        yield setup, url, browser
    project.close()


def select_text(page: Any, start: int, end: int) -> None:
    """Select UTF-16 offsets start..end of the item's text from script."""
    page.evaluate(
        """([s, e]) => { const p = document.querySelector('#item .text');
        const w = document.createTreeWalker(p, NodeFilter.SHOW_TEXT); const r = document.createRange();
        let n, at = 0, started = false;
        while ((n = w.nextNode())) { const len = n.data.length;
          if (!started && s <= at + len) { r.setStart(n, s - at); started = true; }
          if (started && e <= at + len) { r.setEnd(n, e - at); break; }
          at += len; }
        const sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(r); }""",
        [start, end],
    )


def text_box(page: Any, start: int, end: int) -> dict[str, float]:
    """The screen rectangle of UTF-16 offsets start..end of a one-text-node item."""
    box: dict[str, float] = page.evaluate(
        """([s, e]) => { const t = document.querySelector('#item .text').firstChild;
        const r = document.createRange(); r.setStart(t, s); r.setEnd(t, e);
        const b = r.getBoundingClientRect(); return {x: b.x, y: b.y, width: b.width, height: b.height}; }""",
        [start, end],
    )
    return box


def test_spans_by_mouse_and_keys(served: tuple[Setup, str, Any]) -> None:
    setup, url, browser = served
    page, dialogs = sign_in(browser, url, setup.tokens["alice"])
    page.goto(url + "/annotate/ents")
    task = current_task(page)
    text = page.locator("#item .text").inner_text()
    assert text in TEXTS
    assert page.locator("#item script").count() == 0
    wanted: list[dict[str, Any]] = []
    if text == TEXTS[0]:
        units = text.encode("utf-16-le")
        # "Ada" with the mouse: press left of its first letter, release right of its last
        rect = text_box(page, 0, 3)
        y = rect["y"] + rect["height"] / 2
        page.mouse.move(rect["x"] + 1, y)
        page.mouse.down()
        page.mouse.move(rect["x"] + rect["width"] / 2, y)
        page.mouse.move(rect["x"] + rect["width"] - 1, y)
        page.mouse.up()
        assert page.evaluate("window.getSelection().toString()") == "Ada"
        page.keyboard.press("1")
        wanted.append({"start": 0, "end": 3, "label": "PER"})
        for word, key, label in (("Bob", "1", "PER"), ("ACME", "2", "ORG"), ("Paris", "3", "LOC")):
            start16 = len(units[: units.index(word.encode("utf-16-le"))]) // 2
            select_text(page, start16, start16 + len(word))
            page.keyboard.press(key)
            wanted.append({"start": text.index(word), "end": text.index(word) + len(word), "label": label})
    else:
        select_text(page, 0, 25)  # the script tag, as text
        page.keyboard.press("1")
        select_text(page, text.index("Eve"), text.index("Eve") + 3)
        page.keyboard.press("1")
        wanted = [{"start": 0, "end": 25, "label": "PER"}, {"start": 32, "end": 35, "label": "PER"}]
    # one too many, removed with its x
    select_text(page, 0, 2)
    page.keyboard.press("3")
    assert page.locator("#regions li").count() == len(wanted) + 1
    page.locator("#regions li").last.locator("button.remove").click()
    assert page.locator("#regions li").count() == len(wanted)
    assert page.locator("#region-count").inner_text() == str(len(wanted))
    assert page.locator("#item mark").count() >= len(wanted)
    assert page.locator("#item script").count() == 0 and page.locator("#item .text").inner_text() == text
    page.screenshot(path=str(SHOTS / "loopline-ui-spans.png"))
    page.keyboard.press("Enter")
    next_after(page, task)
    answers = setup.project.meta.annotations.annotations("ents")
    assert [(a.task_id, a.annotator) for a in answers] == [(int(task), "alice")]
    assert answers[0].label == wanted
    assert [text[r["start"] : r["end"]] for r in wanted][-1] in ("Paris", "Eve")
    assert dialogs == []


def test_boxes_by_dragging(served: tuple[Setup, str, Any]) -> None:
    setup, url, browser = served
    page, dialogs = sign_in(browser, url, setup.tokens["bob"])
    page.goto(url + "/annotate/shapes")
    task = current_task(page)
    page.wait_for_selector("#zoom-controls:not([hidden])")
    img = page.locator("#item img").bounding_box()
    assert img is not None
    scale = img["width"] / 8  # an 8x8 digit, fitted to the view

    def drag(x0: float, y0: float, x1: float, y1: float) -> None:
        page.mouse.move(img["x"] + x0 * scale, img["y"] + y0 * scale)
        page.mouse.down()
        page.mouse.move(img["x"] + (x0 + x1) / 2 * scale, img["y"] + (y0 + y1) / 2 * scale, steps=3)
        page.mouse.move(img["x"] + x1 * scale, img["y"] + y1 * scale, steps=3)
        page.mouse.up()

    drag(1, 1, 5, 7)  # image pixels
    page.keyboard.press("1")
    drag(7, 6, 5, 2)  # drawn from bottom right to top left
    page.keyboard.press("2")
    drag(0, 0, 3, 3)
    page.keyboard.press("2")
    assert page.locator("#regions li").count() == 3
    page.locator("#regions li").nth(2).locator("button.remove").click()
    assert page.locator("#regions li").count() == 2
    assert page.locator("#item .boxes-layer .box").count() == 2
    page.screenshot(path=str(SHOTS / "loopline-ui-boxes.png"))
    page.keyboard.press("Enter")
    next_after(page, task)
    answers = setup.project.meta.annotations.annotations("shapes")
    assert [(a.task_id, a.annotator) for a in answers] == [(int(task), "bob")]
    assert answers[0].label == [
        {"x": 1, "y": 1, "width": 4, "height": 6, "label": "stroke"},
        {"x": 5, "y": 2, "width": 2, "height": 4, "label": "blank"},
    ]
    assert dialogs == []


def test_regions_outside_the_item_are_refused(tmp_path: Path) -> None:
    setup = make_setup(tmp_path / "proj", texts=TEXTS)
    project = setup.project
    try:
        project.annotate_create("ents", "reviews", ["PER"], task_type="spans", text_field="text")
        add_image_project(setup, tmp_path / "inbox")
        project.annotate_create("shapes", "digits", ["stroke"], task_type="boxes")
        now = datetime(2030, 1, 1, tzinfo=UTC)
        lease = project.next_task("ents", "alice", now=now)
        assert lease is not None
        length = len(lease.task.data["text"])
        bad_spans = [
            ([{"start": 0, "end": length + 1, "label": "PER"}], "runs past the text"),
            ([{"start": 3, "end": 3, "label": "PER"}], "start < end"),
            ([{"start": -1, "end": 2, "label": "PER"}], "start < end"),
            ([{"start": "0", "end": 2, "label": "PER"}], "integer"),
            ([{"start": 0, "end": 2, "label": "ORG"}], "label"),
        ]
        for label, message in bad_spans:
            with pytest.raises(InvalidInput, match=message):
                project.submit("ents", lease.task.id, "alice", label, seconds=1.0, now=now)
        good = [{"start": 0, "end": length, "label": "PER"}]
        assert project.submit("ents", lease.task.id, "alice", good, seconds=1.0, now=now).label == good

        lease = project.next_task("shapes", "alice", now=now)
        assert lease is not None
        # this blob set's items do not tell the image size: a box's bounds are checked when they do
        spec = project.meta.annotations.get_project("shapes")
        sized = {**lease.task.data, "width": 8, "height": 8}
        too_wide = [{"x": 4, "y": 0, "width": 5, "height": 2, "label": "stroke"}]
        with pytest.raises(InvalidInput, match="runs past the image"):
            check_label(spec, too_wide, "task 1", sized)
        assert check_label(spec, too_wide, "task 1", lease.task.data) == too_wide
        bad_boxes = [
            ([{"x": 0, "y": 0, "width": 0, "height": 2, "label": "stroke"}], "positive width"),
            ([{"x": -1, "y": 0, "width": 1, "height": 2, "label": "stroke"}], "positive width"),
            ([{"x": 0, "y": 0, "width": 2, "label": "stroke"}], "needs numbers"),
        ]
        for label, message in bad_boxes:
            with pytest.raises(InvalidInput, match=message):
                project.submit("shapes", lease.task.id, "alice", label, seconds=1.0, now=now)
        good = [{"x": 0, "y": 0, "width": 8, "height": 8, "label": "stroke"}]
        assert project.submit("shapes", lease.task.id, "alice", good, seconds=1.0, now=now).label == good
        assert [len(a.label) for a in project.meta.annotations.annotations("shapes")] == [1]
    finally:
        project.close()
