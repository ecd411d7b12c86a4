"""The chat in a real browser: the served app (real model, the repo's corpus, a fresh data
dir) driven by headless Chromium through Playwright.

Needs Debian's chromium (`apt-get install -y chromium`); skipped without it. Playwright's
own browser download is never used. Saves screenshots under the test's tmp_path;
with CAREERBOT_UPDATE_SCREENSHOT=1 it also refreshes docs/screenshot.png for the README.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, running_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SALARY = "What's the starting pay for a junior ML engineer?"
FOLLOWUP = "And in San Francisco?"
SCREENSHOT = ROOT / "docs" / "screenshot.png"

pytestmark = [pytest.mark.integration, pytest.mark.browser]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The app as `make run` serves it: ingest on start, API + UI on one port."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y "
                    "chromium) to run the browser test")
    data = tmp_path_factory.mktemp("browser") / "data"
    with running_server(data) as base:
        yield base, data


def votes(data: Path, n: int = 0, timeout: float = 10) -> list[dict[str, Any]]:
    """The feedback log's records once it holds at least `n` of them."""
    path = data / "feedback.jsonl"
    deadline = time.monotonic() + timeout
    while True:
        rows = path.read_text().splitlines() if path.exists() else []
        if len(rows) >= n:
            return [json.loads(line) for line in rows]
        assert time.monotonic() < deadline, f"{path} did not get {n} record(s)"
        time.sleep(0.1)


def test_chat_in_the_browser(server: tuple[str, Path], tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    base, data = server
    elsewhere: list[str] = []

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1360, "height": 900},
        )
        try:
            page = browser.new_page()
            page.set_default_timeout(30_000)
            page.on("request", lambda r: None if r.url.startswith((base, "data:", "blob:"))
                    else elsewhere.append(r.url))
            page.goto(f"{base}/")
            box = page.locator("#cb-input textarea")
            box.wait_for()
            # The examples render after the input box, so each is waited for, not counted:
            # counting right after the box appeared failed once in CI on a slow start.
            for kind in ("TIMELINE", "DEGREE", "SALARY", "TOOLING"):  # example questions
                page.get_by_text(f"{kind} · ").first.wait_for()
            # the guide filter lists the indexed guides
            page.get_by_text("Guides to search").click()
            page.locator("#cb-guides input[type=checkbox]").nth(3).wait_for()
            page.get_by_text("Guides to search").click()

            # a salary question: the answer streams into the chat, then its sources
            box.fill(SALARY)
            box.press("Enter")
            answer = page.locator("#cb-chat .cb-answer.cb-done").nth(0)
            answer.wait_for()
            assert answer.locator(".cb-tag-salary").is_visible()
            marker = answer.locator("sup.cb-cite a").first
            marker.wait_for()
            first = page.locator("#cb-sources .cb-latest .cb-src").first
            quote = first.locator(".cb-quote")
            assert quote.is_visible()
            text = quote.inner_text().strip()
            assert "$" in text, text  # a salary figure, quoted from a guide
            assert text in (marker.get_attribute("title") or "")  # hover shows the quote
            assert first.locator(".cb-src-title").inner_text().strip()
            # clicking a marker brings its passage into view, highlighted
            marker.click()
            page.wait_for_function(
                "document.querySelector('#cb-sources .cb-latest .cb-src')"
                ".classList.contains('cb-flash')")

            # a follow-up leans on the first question: still a salary answer
            box.fill(FOLLOWUP)
            box.press("Enter")
            second = page.locator("#cb-chat .cb-answer.cb-done").nth(1)
            second.wait_for()
            assert second.locator(".cb-tag-salary").is_visible()
            assert "San Francisco" in second.inner_text()
            page.locator("#cb-sources details.cb-src-turn").first.wait_for(state="attached")
            second.locator("sup.cb-cite a").first.click()

            time.sleep(0.4)  # let the scroll and the highlight settle
            shot = tmp_path / "chat.png"
            page.screenshot(path=str(shot))
            assert shot.stat().st_size > 10_000
            # The README's picture is refreshed only on request, so a test run never
            # leaves the checkout modified.
            try:
                if os.environ.get("CAREERBOT_UPDATE_SCREENSHOT"):
                    shutil.copyfile(shot, SCREENSHOT)
            except OSError:
                pass

            # thumbs up on the follow-up's answer lands in the feedback log with its question,
            # history, citations and what retrieval did
            before = len(votes(data))
            page.locator("#cb-chat button[aria-label=Like]").last.click()
            row = votes(data, before + 1)[-1]
            assert row["vote"] == "up" and row["question"] == FOLLOWUP and row["citations"]
            assert row["channel"] == "ui" and row["history"][0]["content"] == SALARY
            assert row["retrieval"]["results"][0]["rank"] == 1

            # something the guides do not cover is an amber note, not an answer
            box.fill("What's the best pizza in Naples?")
            box.press("Enter")
            third = page.locator("#cb-chat .cb-answer.cb-done").nth(2)
            third.wait_for()
            assert "cb-abstain" in (third.get_attribute("class") or "")
            assert "Not covered by the guides" in third.inner_text()
            page.screenshot(path=str(tmp_path / "abstention.png"))

            # a new chat starts over: an empty chat and sources panel
            page.locator("#cb-new").click()
            page.locator("#cb-chat .cb-answer").first.wait_for(state="detached")
            assert page.locator("#cb-sources .cb-src").count() == 0
        finally:
            browser.close()
    assert elsewhere == []  # no analytics, fonts or anything else from outside


# Our own questions (none of the evaluation set's).
FIRST = "Which statistics topics should I study?"
SECOND = "Is Kaggle worth my time?"
THIRD = "What about for a complete beginner?"
EDITED = "What about for someone studying part-time?"
OTHER_CHAT = "Do I need to know Docker?"
TAB_CHAT = "Are cloud certifications worth it?"


def launch(pw: Any, profile: Path) -> Any:
    ctx = pw.chromium.launch_persistent_context(
        str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
        viewport={"width": 1360, "height": 900}, accept_downloads=True)
    ctx.set_default_timeout(30_000)
    return ctx


def open_chat(ctx: Any, base: str) -> tuple[Any, Any]:
    page = ctx.pages[0] if ctx.pages else ctx.new_page()
    page.goto(f"{base}/")
    page.wait_for_load_state("load")
    box = page.locator("#cb-input textarea")
    box.wait_for()
    return page, box


def answers(page: Any) -> Any:
    return page.locator("#cb-chat .cb-answer.cb-done")


def ask(page: Any, box: Any, question: str) -> None:
    n = answers(page).count()
    box.fill(question)
    box.press("Enter")
    answers(page).nth(n).wait_for()


def history(page: Any, expected: list[str] | None = None, timeout: float = 10) -> list[str]:
    """The sidebar's titles, newest first (once they are `expected`, when given: a
    conversation is saved just after its answer)."""
    deadline = time.monotonic() + timeout
    while True:
        titles = [t.strip() for t in page.locator(
            "#cb-history label:has(input[type=radio])").all_inner_texts()]
        if expected is None or titles == expected or time.monotonic() > deadline:
            return titles
        time.sleep(0.1)


def mark_old(page: Any) -> None:
    """Tag the answers on the page, so a wait can tell a new answer from one shown before
    (an answer's HTML is rendered anew when it changes)."""
    page.evaluate("document.querySelectorAll('#cb-chat .cb-answer')"
                  ".forEach(e => e.classList.add('cb-old'))")


def new_answers(page: Any) -> Any:
    return page.locator("#cb-chat .cb-answer.cb-done:not(.cb-old)")


def test_conversations_in_the_browser(server: tuple[str, Path], tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    base, data = server
    profile = tmp_path / "profile"
    with sync_api.sync_playwright() as pw:
        ctx = launch(pw, profile)
        try:
            ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
            page, box = open_chat(ctx, base)
            # Shift+Enter adds a line, Enter sends
            box.fill("first line")
            box.press("Shift+Enter")
            box.type("second line")
            assert box.input_value() == "first line\nsecond line"
            assert answers(page).count() == 0  # nothing was sent
            box.fill("")
            ask(page, box, FIRST)
            ask(page, box, SECOND)
            assert history(page, [FIRST]) == [FIRST]  # titled by its first question

            # a reload: the conversation is there, and a follow-up continues it
            page.reload()
            page.wait_for_load_state("load")
            answers(page).nth(1).wait_for()
            assert page.locator("#cb-chat .message.user").count() == 2
            assert history(page, [FIRST]) == [FIRST]
            ask(page, box, THIRD)
            assert answers(page).count() == 3

            # copy: the answer and its numbered sources, as Markdown
            page.locator("#cb-chat button.cb-copy").last.click()
            page.wait_for_function("document.querySelector('#cb-chat button.cb-copy')")
            copied = page.evaluate("navigator.clipboard.readText()")
            last = answers(page).last.locator(".cb-body").inner_text()
            assert "Sources:" in copied and "characters" in copied
            assert copied.split("\n")[0].split(" [")[0] in last

            # retry gives an answer again, in place of the last one
            mark_old(page)
            page.locator("#cb-chat button[aria-label=Retry]").click()
            new_answers(page).first.wait_for()
            assert answers(page).count() == 3
            assert page.locator("#cb-chat .message.user").count() == 3

            # edit and resend the last question
            mark_old(page)
            page.locator("#cb-chat .message.user").last.hover()
            page.locator("#cb-chat button[aria-label=Edit]").last.click()
            page.locator("#cb-chat textarea").last.fill(EDITED)
            page.locator("#cb-chat button[aria-label=Submit]").click()
            new_answers(page).first.wait_for()
            users = page.locator("#cb-chat .message.user").all_inner_texts()
            assert [u.strip() for u in users] == [FIRST, SECOND, EDITED]

            # export: a Markdown file with every citation of the conversation
            with page.expect_download() as got:
                page.locator("#cb-export-box a.cb-export").click()
            md = Path(got.value.path()).read_text(encoding="utf-8")
            assert md.startswith(f"# {FIRST}") and f"## 2. {SECOND}" in md
            quotes = page.locator("#cb-sources .cb-latest .cb-quote").all_inner_texts()
            assert quotes and all(q.strip().split("\n")[0][:40] in md for q in quotes)
            assert "characters" in md and "https://" in md

            # so far the server has kept nothing of this conversation: no file of the data
            # dir (the store, the feedback log, locks) holds its questions
            stored = [p for p in data.rglob("*") if p.is_file()]
            assert stored and not [p for p in stored for q in (FIRST, SECOND)
                                   if q.encode() in p.read_bytes()]
            # a thumbs-down lands in the feedback log
            before = len(votes(data))
            page.locator("#cb-chat button[aria-label=Dislike]").last.click()
            row = votes(data, before + 1)[-1]
            assert row["vote"] == "down" and row["question"] == EDITED
            assert [t["content"] for t in row["history"]][::2] == [FIRST, SECOND]

            # a second conversation, then the first one renamed and deleted
            page.locator("#cb-new").click()
            page.locator("#cb-chat .cb-answer").first.wait_for(state="detached")
            ask(page, box, OTHER_CHAT)
            assert history(page, [OTHER_CHAT, FIRST]) == [OTHER_CHAT, FIRST]
            page.locator("#cb-history label").filter(has_text=FIRST).click()
            answers(page).nth(2).wait_for()
            page.locator("#cb-title textarea").fill("Statistics")
            page.locator("#cb-rename").click()
            assert history(page, [OTHER_CHAT, "Statistics"]) == [OTHER_CHAT, "Statistics"]
            page.locator("#cb-delete").click()
            assert history(page, [OTHER_CHAT]) == [OTHER_CHAT]
        finally:
            ctx.close()

        # a browser restart: the remaining conversation is still there
        ctx = launch(pw, profile)
        try:
            page, box = open_chat(ctx, base)
            answers(page).first.wait_for()
            assert history(page, [OTHER_CHAT]) == [OTHER_CHAT]
            assert page.locator("#cb-chat .message.user").first.inner_text().strip() \
                == OTHER_CHAT
            # the chat's own clear icon starts a new chat; the saved one stays listed
            page.locator("#cb-chat button[aria-label=Clear]").click()
            page.locator("#cb-chat .cb-answer").first.wait_for(state="detached")
            assert history(page) == [OTHER_CHAT]

            # two tabs: what one saves, the other shows (and keeps) once it is used again
            other = ctx.new_page()
            other.goto(f"{base}/")
            other.locator("#cb-input textarea").wait_for()
            assert history(other, [OTHER_CHAT]) == [OTHER_CHAT]
            page.bring_to_front()
            ask(page, box, TAB_CHAT)
            assert history(page, [TAB_CHAT, OTHER_CHAT]) == [TAB_CHAT, OTHER_CHAT]
            other.bring_to_front()
            other.locator("#cb-header").click()  # looked at again: it takes the fresh list
            assert history(other, [TAB_CHAT, OTHER_CHAT]) == [TAB_CHAT, OTHER_CHAT]
            other.close()

            # the Inspect tab: hybrid, dense and sparse side by side
            page.get_by_role("tab", name="Inspect").click()
            query = page.locator("#cb-ins-q textarea")
            query.fill("Docker and Kubernetes skills")
            query.press("Enter")
            page.locator("#cb-ins-out .cb-ins-col").nth(2).wait_for()
            cols = page.locator("#cb-ins-out .cb-ins-col h3").all_inner_texts()
            assert cols == ["Hybrid", "Dense", "Sparse"]
            first = page.locator("#cb-ins-out .cb-ins-hit").first
            assert "fused #1" in first.inner_text() and first.locator(
                ".cb-src-section").inner_text().startswith("§")
        finally:
            ctx.close()
