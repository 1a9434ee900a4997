"""Signing in and out in a real browser: the page goes to the local issuer's sign-in form, comes back
with a code, exchanges it (PKCE) for a token it keeps in memory, sends it on every API call, shows who
is signed in, and signs out; a reader's writes are refused by the API and the page says so."""
from __future__ import annotations

import json
import re
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import SIGN_IN_URL, sign_in
from tests.support.auth import api_session


def api_requests(page: Page) -> list:
    """Collects every request the page sends to the HTTP API (not the page's files, not the issuer)."""
    seen = []
    api_path = re.compile(r"^/(imports|products|webhooks|openapi\.json)(/|\?|$)")

    def record(request):
        path = re.sub(r"^https?://[^/]+", "", request.url)
        if api_path.match(path) and not path.endswith(".html"):
            seen.append(request)
    page.on("request", record)
    return seen


def test_sign_in_shows_the_user_keeps_the_token_in_memory_and_signs_out(chromium, local_cloud):
    context = chromium.new_context()
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sent = api_requests(page)
    try:
        # A page load without a token goes to the sign-in form, and back to the page asked for.
        page.goto(f"{local_cloud.api_url}/webhooks.html")
        page.wait_for_url(SIGN_IN_URL)
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        page.get_by_label("Username").fill("admin")
        page.get_by_label("Password").fill("wrong")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_have_text("Incorrect username or password.")
        sign_in(page, "admin")
        assert re.sub(r"^https?://[^/]+", "", page.url) == "/webhooks.html"      # no code left in the address
        expect(page.get_by_test_id("session-user")).to_have_text("admin@example.com")
        expect(page.get_by_test_id("session-role")).to_have_text("admin")

        # Every API call carried the token; nothing of it was stored in the browser.
        page.wait_for_load_state("networkidle")
        assert sent, "the page called no API"
        assert all(r.headers.get("authorization", "").startswith("Bearer ey") for r in sent), \
            [r.url for r in sent if "authorization" not in r.headers]
        token = sent[0].headers["authorization"].removeprefix("Bearer ")
        stored = page.evaluate("JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage),"
                               " document.cookie])")
        assert token not in stored and "ey" not in stored
        assert all(token not in cookie["value"] for cookie in context.cookies())

        # The API description is downloaded with the token too (a plain link could not carry it).
        with page.expect_download() as download:
            page.get_by_role("link", name="API description (OpenAPI)").click()
        document = json.loads(Path(download.value.path()).read_text())
        assert "/webhooks" in document["paths"]

        # Moving to another page signs in again through the issuer's session: no form.
        page.get_by_role("link", name="Products", exact=True).click()
        page.wait_for_url(re.compile(r"/products\.html$"))
        page.wait_for_selector("html[data-ready='true']")
        expect(page.get_by_test_id("session-user")).to_have_text("admin@example.com")

        # Signing out ends the issuer's session: the page comes back to the sign-in form.
        page.get_by_test_id("sign-out").click()
        page.wait_for_url(SIGN_IN_URL)
        expect(page.get_by_label("Password")).to_be_visible()
        sign_in(page, "reader")
        expect(page.get_by_test_id("session-user")).to_have_text("reader@example.com")
        expect(page.get_by_test_id("session-role")).to_have_text("reader (view only)")
        assert errors == []
    finally:
        context.close()


def test_a_reader_browses_and_is_refused_changes(browser_page, local_cloud):
    admin = api_session(local_cloud)
    sku = "SIGNIN-READER-1"
    admin.delete(f"{local_cloud.api_url}/products/{sku}", timeout=30)
    assert admin.post(f"{local_cloud.api_url}/products", json={"sku": sku, "name": "Visible to readers"},
                      timeout=30).status_code == 201
    try:
        page = browser_page("reader", "/products.html")
        expect(page.get_by_test_id("session-role")).to_have_text("reader (view only)")
        page.get_by_label("SKU starts with").fill(sku)
        expect(page.locator(f"#products-body tr[data-sku='{sku}']")).to_have_count(1)

        # A change is refused by the API (403) and the page shows why.
        page.get_by_test_id("product-new").click()
        dialog = page.get_by_test_id("product-dialog")
        dialog.get_by_label("SKU", exact=True).fill("SIGNIN-READER-2")
        dialog.get_by_label("Name").fill("Not allowed")
        page.get_by_test_id("product-save").click()
        expect(dialog).to_contain_text("needs the admin role")
        assert admin.get(f"{local_cloud.api_url}/products/SIGNIN-READER-2", timeout=30).status_code == 404
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()

        # The webhooks page: a reader sees the list, and creating an endpoint is refused.
        page.get_by_role("link", name="Webhooks").click()
        page.wait_for_url(re.compile(r"/webhooks\.html$"))
        page.wait_for_selector("html[data-ready='true']")
        page.get_by_test_id("webhook-url").fill("http://127.0.0.1:9/hook")
        page.get_by_test_id("webhook-create").click()
        expect(page.get_by_test_id("webhook-form-error")).to_contain_text("needs the admin role")
        assert page.js_errors == []
    finally:
        admin.delete(f"{local_cloud.api_url}/products/{sku}", timeout=30)


def test_a_refused_token_signs_in_again(web_page: Page):
    """A 401 from the API (the token expired while the page was open) sends the page through the sign-in
    page, whose session brings it straight back signed in, without the form."""
    page = web_page
    refused = []

    def expire_once(route):
        if refused:
            route.continue_()
            return
        refused.append(route.request.url)
        route.fulfill(status=401, content_type="application/json", body='{"message": "Unauthorized"}')

    page.route("**/imports?*", expire_once)
    with page.expect_response(lambda response: "/imports?" in response.url and response.status == 200) as listed:
        with page.expect_event("framenavigated", predicate=lambda frame: "code=" in frame.url):
            page.get_by_test_id("history-refresh").click()
        page.wait_for_selector("html[data-ready='true']")
    assert listed.value.request.headers["authorization"].startswith("Bearer ")
    expect(page.get_by_test_id("session-user")).to_have_text("admin@example.com")
    expect(page.get_by_test_id("history-message")).to_be_hidden()
    assert len(refused) == 1
    assert page.js_errors == []
