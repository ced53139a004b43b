"""The web UI in headless Chromium (Playwright, Debian's chromium): an annotator signs in with a
token, labels with the keyboard (1-9, Enter, S) and the labels arrive in the store; a text item
holding `<script>` shows as text and runs nothing; a manager sees progress. Each page is saved to
/tmp/loopline-ui-*.png for a human to look at."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loopline.server import create_app
from tests.server.conftest import TEXTS, Setup, make_setup
from tests.server.live import SHOTS, chromium, live_server


def digit_png(index: int) -> bytes:
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = (digits.images[index] * (255 / 16)).astype("uint8")
    out = io.BytesIO()
    Image.fromarray(255 - pixels, mode="L").save(out, format="PNG")
    return out.getvalue()


def add_image_project(setup: Setup, folder: Path) -> None:
    """A `digits` blob set of three 8x8 PNGs and a project on it, the first with a suggestion."""
    folder.mkdir()
    for i in range(3):
        (folder / f"digit_{i}.png").write_bytes(digit_png(i))
    project = setup.project
    project.add(folder, "digits")
    project.annotate_create(
        "digits",
        "digits",
        [str(d) for d in range(10)],
        instructions="Which digit is it?",
        overlap=2,
        gold_share=0.3,
    )
    first = min(project.meta.annotations.tasks("digits"), key=lambda t: t.id)
    assert first.data["path"] == "digit_0.png"
    project.meta.annotations.set_gold("digits", {first.item_id: "0"})  # handed out first
    project.meta.annotations.set_suggestions("digits", {first.item_id: "0"}, "model")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Setup, str, Any]]:
    setup = make_setup(tmp_path / "proj")
    add_image_project(setup, tmp_path / "inbox")
    with live_server(create_app(setup.project)) as url, chromium() as browser:
        yield setup, url, browser
    setup.project.close()


def sign_in(browser: Any, url: str, token: str) -> tuple[Any, list[str]]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.goto(url + "/")
    assert page.url == url + "/signin"
    page.fill("#token", token)
    page.click("button[type=submit]")
    return page, dialogs


def current_task(page: Any) -> str:
    page.wait_for_selector("#annotate[data-state=ready]")
    return str(page.get_attribute("#item", "data-task-id"))


def next_after(page: Any, old: str) -> None:
    page.wait_for_function(
        "old => { const a = document.getElementById('annotate');"
        " return a.dataset.state === 'done' ||"
        " (a.dataset.state === 'ready' && document.getElementById('item').dataset.taskId !== old); }",
        arg=old,
    )


def test_annotator_labels_with_the_keyboard(served: tuple[Setup, str, Any]) -> None:
    setup, url, browser = served
    page, dialogs = sign_in(browser, url, "wrong-token")
    assert page.locator(".alert").inner_text() == "That token is unknown or no longer active."
    page.screenshot(path=str(SHOTS / "loopline-ui-signin-error.png"))
    page.fill("#token", setup.tokens["alice"])
    page.click("button[type=submit]")
    page.wait_for_url(url + "/annotate")
    page.screenshot(path=str(SHOTS / "loopline-ui-projects.png"))
    cookie = next(c for c in page.context.cookies() if c["name"] == "loopline_session")
    assert cookie["value"] != setup.tokens["alice"], "the cookie holds the token"
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

    page.click("a[href='/annotate/reviews']")
    seen: dict[str, str] = {}
    plan = ["1", "S", "2", "3"]  # label, skip, label, label
    for n, key in enumerate(plan):
        task = current_task(page)
        text = page.locator("#item .text").inner_text()
        seen[task] = text
        assert (
            page.locator("#progress-text").inner_text()
            == f"{sum(k != 'S' for k in plan[:n])} of {len(TEXTS)} done"
        )
        if text == TEXTS[1]:
            # the script shows as text, as the data says it, and is no element of the page
            assert page.locator("#item script").count() == 0
            assert page.locator("#item .text").inner_html() == "&lt;script&gt;alert(1)&lt;/script&gt;"
            page.screenshot(path=str(SHOTS / "loopline-ui-annotate-script-item.png"))
        if key == "S":
            page.keyboard.press("s")
        else:
            page.keyboard.press(key)
            assert page.get_attribute(f"button.label[data-key='{key}']", "aria-pressed") == "true"
            if n == 0:
                page.screenshot(path=str(SHOTS / "loopline-ui-annotate.png"))
            page.keyboard.press("Enter")
        next_after(page, task)

    labels = {"1": "positive", "2": "negative", "3": "neutral"}
    answers = setup.project.meta.annotations.annotations("reviews")
    tasks = list(seen)
    expected = [(int(tasks[i]), "alice", labels[k]) for i, k in enumerate(plan) if k != "S"]
    assert [(a.task_id, a.annotator, a.label) for a in answers] == expected
    assert all(a.seconds >= 0 and a.source == "human" for a in answers)
    assert int(tasks[1]) not in {a.task_id for a in answers}  # the skipped one
    assert TEXTS[1] in seen.values()  # the script item was shown
    assert dialogs == []
    assert page.locator("#progress-text").inner_text() == f"3 of {len(TEXTS)} done"


def test_image_item_with_zoom_and_suggestion(served: tuple[Setup, str, Any]) -> None:
    setup, url, browser = served
    page, dialogs = sign_in(browser, url, setup.tokens["bob"])
    page.goto(url + "/annotate/digits")
    current_task(page)
    page.wait_for_selector("#zoom-controls:not([hidden])")
    fitted = page.locator("#item img").bounding_box()
    assert fitted is not None and fitted["width"] > 8 * 10  # an 8x8 digit, fitted to the view
    assert page.locator("#suggestion").is_visible()
    assert page.locator("#suggestion-label").inner_text() == "0"
    assert page.locator("#suggestion-source").inner_text() == "(model)"
    assert "suggested" in (page.get_attribute("button.label[data-label='0']", "class") or "")
    assert page.get_attribute("button.label[data-label='0']", "aria-pressed") == "false"  # shown, not chosen
    page.screenshot(path=str(SHOTS / "loopline-ui-annotate-image.png"))
    page.click("#zoom-in")
    zoomed = page.locator("#item img").bounding_box()
    assert zoomed is not None and zoomed["width"] > fitted["width"]
    # the mouse works as well as the keys
    task = current_task(page)
    page.click("button.label[data-label='0']")
    page.click("#submit")
    next_after(page, task)
    answers = setup.project.meta.annotations.annotations("digits")
    assert [(a.task_id, a.annotator, a.label) for a in answers] == [(int(task), "bob", "0")]
    assert dialogs == []


def test_manager_pages(served: tuple[Setup, str, Any]) -> None:
    setup, url, browser = served
    project = setup.project
    for who, label in (("alice", "positive"), ("bob", "negative")):
        for _ in range(2):
            lease = project.next_task("reviews", who)
            project.submit("reviews", lease.task.id, who, label, 4.0)
    # digits: alice answers right, bob says 7 to everything (and so fails the gold task)
    for who in ("alice", "bob"):
        while (lease := project.next_task("digits", who)) is not None:
            truth = lease.task.data["path"].removeprefix("digit_").removesuffix(".png")
            project.submit("digits", lease.task.id, who, truth if who == "alice" else "7", 2.0)
    page, _ = sign_in(browser, url, setup.tokens["mia"])
    page.wait_for_url(url + "/")  # the home page; the labeling pages are a click away
    page.goto(url + "/manage")
    rows = page.locator("table.grid tbody tr")
    assert rows.count() == 2
    assert "4 of 6 complete" in rows.filter(has_text="reviews").inner_text()
    page.screenshot(path=str(SHOTS / "loopline-ui-manage.png"), full_page=True)
    page.click("a[href='/manage/reviews']")
    page.wait_for_url(url + "/manage/reviews")
    body = page.locator("main").inner_text()
    assert "4 / 6" in body and "alice" in body and "bob" in body
    assert page.locator("a[href='/api/annotate/reviews/export?format=jsonl']").count() == 1
    page.screenshot(path=str(SHOTS / "loopline-ui-manage-project.png"), full_page=True)

    page.goto(url + "/manage/digits")
    rows = {
        r.split("\t")[0]: r.split("\t")[1:]
        for r in page.locator("section", has_text="Gold accuracy").locator("tbody tr").all_inner_texts()
    }
    assert rows["alice"][:3] == ["3", "1", "100.0%"]
    assert rows["bob"][:3] == ["3", "1", "0.0%"] and "under 70% on gold" in rows["bob"][3]
    pair = page.locator("section", has_text="Agreement between annotators").locator("tbody tr").inner_text()
    assert pair.split("\t")[:3] == ["alice", "bob", "3"]
    page.screenshot(path=str(SHOTS / "loopline-ui-manage-agreement.png"), full_page=True)
    with page.expect_download() as download:
        page.click("text=Export CSV")
    exported = Path(download.value.path()).read_text()
    assert exported.count("\n") >= 7 and "alice" in exported and "bob" in exported

    # an annotator is turned away from the manager pages
    page2, _ = sign_in(browser, url, setup.tokens["alice"])
    page2.wait_for_url(url + "/annotate")
    response = page2.goto(url + "/manage")
    assert response is not None and response.status == 403
    page2.screenshot(path=str(SHOTS / "loopline-ui-forbidden.png"))
