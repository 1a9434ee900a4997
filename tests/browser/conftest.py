"""A real browser (Debian's Chromium, headless) driven by Playwright against the local cloud.

`local_cloud` (tests/conftest.py) serves the web page, the API and the local issuer on one port; the
page signs in through the issuer's sign-in form (users admin and reader, password local).
Playwright's own browser downloads are not used: the system Chromium is launched directly.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

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


SIGN_IN_URL = re.compile(r".*/local-auth/oauth2/authorize(\?.*)?$")


def sign_in(page: Page, user: str = "admin", password: str = "local") -> None:
    """Signs in on the local issuer's sign-in form the page has gone to, and waits for the page to
    come back ready (authorization code + PKCE, done by the page's own code)."""
    page.wait_for_url(SIGN_IN_URL)
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("html[data-ready='true']")


@pytest.fixture
def browser_page(chromium, local_cloud):
    """page(user="admin", path="/"): a fresh browser context on a page of the application, signed in
    as `user` (users of the local issuer: admin, reader) through the sign-in form.

    Uncaught JavaScript errors are collected in page.js_errors, console errors (including failed
    requests the test provoked on purpose) in page.console_errors.
    """
    contexts = []

    def open_page(user: str = "admin", path: str = "/") -> Page:
        context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en-US",
                                       timezone_id="UTC", accept_downloads=True)
        contexts.append(context)
        context.set_default_timeout(15_000)
        page = context.new_page()
        page.js_errors, page.console_errors = [], []
        page.on("pageerror", lambda error: page.js_errors.append(str(error)))
        page.on("console", lambda msg: page.console_errors.append(msg.text) if msg.type == "error" else None)
        page.goto(f"{local_cloud.api_url}{path}")
        sign_in(page, user)
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def web_page(browser_page):
    """A fresh browser context on the imports page, signed in as the admin."""
    return browser_page("admin")
