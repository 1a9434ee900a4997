"""The webhooks page in a real browser against the local cloud: create an endpoint (secret shown
once), Test (status code and response time shown; the receiver gets a correctly signed POST),
Replay a delivery (same webhook-id again), disable/enable, API errors shown, delete with confirm."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from standardwebhooks.webhooks import Webhook

from catalog.shared import events
from tests.support.auth import api_session
from tests.support.cloud import wait_until
from tests.support.receiver import Receiver


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def page(web_page: Page, local_cloud) -> Page:
    for item in api_session(local_cloud).get(f"{local_cloud.api_url}/webhooks", timeout=30).json()["items"]:
        api_session(local_cloud).delete(f"{local_cloud.api_url}/webhooks/{item['id']}", timeout=30)
    web_page.get_by_role("link", name="Webhooks").click()
    web_page.wait_for_url(re.compile(r"webhooks\.html"))
    web_page.wait_for_selector("html[data-ready='true']")
    yield web_page
    for item in api_session(local_cloud).get(f"{local_cloud.api_url}/webhooks", timeout=30).json()["items"]:
        api_session(local_cloud).delete(f"{local_cloud.api_url}/webhooks/{item['id']}", timeout=30)


def test_create_test_replay_toggle_delete(page: Page, local_cloud, receiver: Receiver):
    expect(page.get_by_role("link", name="Webhooks")).to_have_attribute("aria-current", "page")
    expect(page.get_by_test_id("webhooks-empty")).to_be_visible()

    # An API error is shown to the user (the URL check refuses a non-http scheme server side too).
    page.get_by_test_id("webhook-url").fill("ftp://example.com/x")
    page.get_by_test_id("webhook-create").click()
    expect(page.get_by_test_id("webhook-url-error")).to_be_visible()

    # Create: the secret is shown once.
    page.get_by_test_id("webhook-url").fill(receiver.url)
    page.get_by_test_id("webhook-create").click()
    expect(page.get_by_test_id("secret-box")).to_be_visible()
    secret = page.get_by_test_id("secret-value").inner_text().strip()
    assert secret.startswith("whsec_"), secret
    row = page.get_by_test_id("webhook-row")
    expect(row).to_have_count(1)
    expect(row.get_by_test_id("webhook-url-cell")).to_have_text(receiver.url)
    expect(row.get_by_test_id("webhook-types")).to_have_text("All events")
    expect(row.get_by_test_id("webhook-enabled")).to_have_text("Enabled")
    endpoint_id = row.get_attribute("data-id")
    api = api_session(local_cloud).get(f"{local_cloud.api_url}/webhooks/{endpoint_id}", timeout=30).json()
    assert api["url"] == receiver.url and "secret" not in api

    page.get_by_test_id("secret-dismiss").click()
    expect(page.get_by_test_id("secret-box")).to_be_hidden()
    page.reload()
    page.wait_for_selector("html[data-ready='true']")
    assert secret not in page.content()

    # Test: status code and response time on the page; a signed POST at the receiver.
    row = page.get_by_test_id("webhook-row")
    row.get_by_test_id("webhook-test").click()
    result = page.get_by_test_id("webhook-test-result")
    expect(result).to_have_attribute("data-status", "200")
    expect(result).to_contain_text(re.compile(r"HTTP 200 · \d+ ms"))
    expect(row.get_by_test_id("webhook-last-status")).to_have_text("200")
    expect(row.get_by_test_id("webhook-last-ms")).to_have_text(re.compile(r"\d+ ms"))
    expect(row.get_by_test_id("webhook-last-delivery")).not_to_have_text("—")
    expect(row.get_by_test_id("webhook-failures")).to_have_text("0")
    assert len(receiver.requests) == 1
    sent = receiver.requests[0]
    assert {"webhook-id", "webhook-timestamp", "webhook-signature"} <= {k.lower() for k in sent["headers"]}
    headers = {k.lower(): v for k, v in sent["headers"].items()}
    payload = Webhook(secret).verify(sent["body"], headers)
    assert payload["type"] == "webhook.test"

    # Deliveries and Replay: a real event is delivered, replayed from the page with the same webhook-id.
    row.get_by_test_id("webhook-deliveries-toggle").click()
    expect(page.get_by_test_id("delivery")).to_have_count(1)           # the test send (not replayable)
    expect(page.get_by_test_id("delivery").get_by_test_id("delivery-replay")).to_have_count(0)
    events.publish(events.PRODUCT_CREATED, {"sku": "WH-PAGE-1"})
    wait_until(lambda: len(receiver.requests) >= 2, message="event delivered")
    delivered = {k.lower(): v for k, v in receiver.requests[1]["headers"].items()}
    assert Webhook(secret).verify(receiver.requests[1]["body"], delivered)["type"] == "product.created"
    delivery = page.locator(f"[data-testid='delivery'][data-delivery-id='{delivered['webhook-id']}']")
    wait_until(lambda: (page.get_by_test_id("webhooks-refresh").click(), delivery.count())[1],
               timeout=15, message="delivery listed")
    delivery.get_by_test_id("delivery-replay").click()
    expect(page.get_by_test_id("webhooks-status")).to_contain_text("queued for replay")
    wait_until(lambda: len(receiver.requests) >= 3, message="replayed delivery")
    replayed = {k.lower(): v for k, v in receiver.requests[2]["headers"].items()}
    assert replayed["webhook-id"] == delivered["webhook-id"]
    assert Webhook(secret).verify(receiver.requests[2]["body"], replayed)["data"] == {"sku": "WH-PAGE-1"}

    # Disable, then Replay is refused by the API and the error is shown; enable again.
    row.get_by_test_id("webhook-toggle").click()
    expect(row.get_by_test_id("webhook-enabled")).to_have_text("Disabled")
    assert api_session(local_cloud).get(f"{local_cloud.api_url}/webhooks/{endpoint_id}", timeout=30).json()["enabled"] is False
    delivery.first.get_by_test_id("delivery-replay").click()
    expect(page.get_by_test_id("webhook-error")).to_contain_text("disabled")
    row.get_by_test_id("webhook-toggle").click()
    expect(row.get_by_test_id("webhook-enabled")).to_have_text("Enabled")

    # Rotate secret (confirm): a new secret is shown once and signs the next test.
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_test_id("webhook-rotate").click()
    expect(page.get_by_test_id("secret-box")).to_be_visible()
    new_secret = page.get_by_test_id("secret-value").inner_text().strip()
    assert new_secret.startswith("whsec_") and new_secret != secret

    # Delete (confirm).
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_test_id("webhook-delete").click()
    expect(page.get_by_test_id("webhook-row")).to_have_count(0)
    expect(page.get_by_test_id("webhooks-empty")).to_be_visible()
    assert api_session(local_cloud).get(f"{local_cloud.api_url}/webhooks/{endpoint_id}", timeout=30).status_code == 404
    assert page.js_errors == []
