"""The Guides tab in a real browser (headless Chromium, the served app with the real model):
list, upload with a title that tries to run script, the chat's "guides changed" notice,
delete with confirmation."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import CORPUS, running_server
from tests.test_ui_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.integration, pytest.mark.browser]

HOSTILE = '<img src=x onerror="window.__pwned=1">Kiln <b>notes</b>'
GUIDE = ("# Kiln Notes\n\n## Glazes\n\nA celadon glaze needs a reduction firing at cone ten to "
         "turn its iron a pale green.\n")


def test_guides_tab_uploads_and_deletes(tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium to run browser tests")
    sync_api = pytest.importorskip("playwright.sync_api")
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    upload = tmp_path / "kiln.md"
    upload.write_text(GUIDE)
    with running_server(tmp_path / "data", corpus) as base, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            page.set_default_timeout(60_000)
            page.goto(f"{base}/")
            page.wait_for_load_state("load")
            page.locator("#cb-input textarea").wait_for()
            page.get_by_role("tab", name="Guides").click()
            table = page.locator("#cb-guide-table")
            table.get_by_text("001_b99e32355209f981").wait_for()

            page.locator("#cb-guide-upload input[type=file]").set_input_files(str(upload))
            page.locator("#cb-guide-title textarea, #cb-guide-title input").first.fill(HOSTILE)
            page.locator("#cb-guide-send").click()
            page.locator("#cb-guide-status").get_by_text("added").wait_for()
            assert (corpus / "kiln.md").exists()
            # the title is shown as text, never run
            table.get_by_text("window.__pwned", exact=False).first.wait_for()
            assert page.evaluate("window.__pwned") is None

            # the chat says the guides changed (polled every 10 s)
            page.get_by_role("tab", name="Chat").click()
            page.locator("#cb-guides-notice").get_by_text("guides changed").wait_for()

            page.get_by_role("tab", name="Guides").click()
            page.locator("#cb-guide-pick input").click()
            page.get_by_role("option", name="(kiln)", exact=False).click()
            page.locator("#cb-guide-delete").click()
            page.locator("#cb-guide-confirm").wait_for()
            page.locator("#cb-guide-confirm").click()
            page.locator("#cb-guide-confirm-text").get_by_text("Deleted").wait_for()
            assert not (corpus / "kiln.md").exists()
            assert page.evaluate("window.__pwned") is None
        finally:
            browser.close()
