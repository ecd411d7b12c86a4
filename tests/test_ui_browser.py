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


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The app as `make run` serves it: ingest on start, API + UI on one port."""
    data = tmp_path / "data"
    with running_server(data) as base:
        yield base, data


def test_chat_in_the_browser(server: tuple[str, Path], tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y "
                    "chromium) to run the browser test")
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
            for kind in ("TIMELINE", "DEGREE", "SALARY", "TOOLING"):  # example questions
                assert page.get_by_text(f"{kind} · ").count() >= 1, kind
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

            # thumbs up on the follow-up's answer is stored with its question and citations
            page.locator("#cb-chat button[aria-label=Like]").last.click()
            feedback = data / "feedback.jsonl"
            deadline = time.monotonic() + 10
            while not feedback.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            row = json.loads(feedback.read_text().splitlines()[-1])
            assert row["vote"] == "up" and row["question"] == FOLLOWUP and row["citations"]

            # something the guides do not cover is an amber note, not an answer
            box.fill("What's the best pizza in Naples?")
            box.press("Enter")
            third = page.locator("#cb-chat .cb-answer.cb-done").nth(2)
            third.wait_for()
            assert "cb-abstain" in (third.get_attribute("class") or "")
            assert "Not covered by the guides" in third.inner_text()
            page.screenshot(path=str(tmp_path / "abstention.png"))

            # clear chat resets the conversation and the sources panel
            page.locator("#cb-clear").click()
            page.locator("#cb-chat .cb-answer").first.wait_for(state="detached")
            assert page.locator("#cb-sources .cb-src").count() == 0
        finally:
            browser.close()
    assert elsewhere == []  # no analytics, fonts or anything else from outside
