"""A real browser (Debian's Chromium, headless) driven by Playwright against the local cloud.

`local_cloud` (tests/conftest.py) serves the web page and the API on one port.
Playwright's own browser downloads are not used: the system Chromium is launched directly.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def chromium():
    # A missing browser is a broken setup (CI installs Chromium), not a reason to skip the suite.
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.fail(f"the browser tests need Chromium, and there is none at {CHROMIUM}: install it "
                    "(Debian: apt-get install chromium) or point CHROMIUM_PATH at its executable", pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def web_page(chromium, local_cloud):
    """A fresh browser context on the imports page.

    Uncaught JavaScript errors are collected in page.js_errors, console errors (including failed
    requests the test provoked on purpose) in page.console_errors.
    """
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en-US",
                                   timezone_id="UTC", accept_downloads=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.js_errors, page.console_errors = [], []
    page.on("pageerror", lambda error: page.js_errors.append(str(error)))
    page.on("console", lambda msg: page.console_errors.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{local_cloud.api_url}/")
    page.wait_for_selector("html[data-ready='true']")
    yield page
    context.close()
