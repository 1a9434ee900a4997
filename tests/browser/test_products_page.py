"""The products page in a real browser: filters, cursor pages, create/edit in a dialog, the active
switch, delete with confirmation and delete-all with a typed confirmation; every change is also
checked through the API and in the catalog store (through the seam: tests/support/cloud.py)."""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.support.auth import api_session
from tests.support.cloud import all_products, clear_catalog, upload_via_api, wait_for_import

SCREENSHOT = Path("/tmp/products_page.png")
WIDGETS = 45   # TST-001 .. TST-045, "Blue widget n" (odd) / "Red gadget n" (even), odd ones active
SPECIALS = 5   # ZZ-1 .. ZZ-5, "Special n"


@pytest.fixture
def seeded(local_cloud, tmp_path) -> int:
    clear_catalog(local_cloud)
    lines = ["sku,name,price,active"]
    for i in range(1, WIDGETS + 1):
        name = f"Blue widget {i}" if i % 2 else f"Red gadget {i}"
        lines.append(f"TST-{i:03d},{name},{i}.50,{'yes' if i % 2 else 'no'}")
    for i in range(1, SPECIALS + 1):
        lines.append(f"ZZ-{i},Special {i},,yes")
    path = tmp_path / "seed.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = wait_for_import(local_cloud, upload_via_api(local_cloud, path))
    assert result["status"] == "SUCCEEDED", result
    assert len(all_products(local_cloud)) == WIDGETS + SPECIALS
    return WIDGETS + SPECIALS


@pytest.fixture
def page(web_page: Page, local_cloud, seeded) -> Page:
    web_page.get_by_role("link", name="Products", exact=True).click()
    web_page.wait_for_url(re.compile(r"products\.html"))
    web_page.wait_for_selector("html[data-ready='true']")
    return web_page


def skus(page: Page) -> list[str]:
    return page.locator("#products-body tr").evaluate_all("rows => rows.map(r => r.dataset.sku)")


def wait_idle(page: Page) -> None:
    page.wait_for_function("document.documentElement.dataset.loading === 'false'")


def api_product(cloud, sku: str) -> requests.Response:
    return api_session(cloud).get(f"{cloud.api_url}/products/{sku}", timeout=30)


def test_filters_and_pages(local_cloud, page: Page):
    expect(page.get_by_role("link", name="Products", exact=True)).to_have_attribute("aria-current", "page")
    total = page.get_by_test_id("products-total")
    expect(total).to_have_attribute("data-value", str(WIDGETS + SPECIALS))
    expect(total).to_contain_text("50 products")
    expect(page.locator("#products-body tr")).to_have_count(50)
    expect(page.get_by_test_id("page-next")).to_be_disabled()

    # Pages of 20: next, next, previous.
    page.get_by_label("Per page").select_option("20")
    wait_idle(page)
    expect(page.locator("#products-body tr")).to_have_count(20)
    assert skus(page) == [f"TST-{i:03d}" for i in range(1, 21)]
    expect(page.get_by_test_id("page-prev")).to_be_disabled()
    page.get_by_test_id("page-next").click()
    expect(page.get_by_test_id("page-number")).to_have_text("Page 2")
    wait_idle(page)
    assert skus(page) == [f"TST-{i:03d}" for i in range(21, 41)]
    page.get_by_test_id("page-next").click()
    expect(page.get_by_test_id("page-number")).to_have_text("Page 3")
    wait_idle(page)
    assert skus(page) == [f"TST-{i:03d}" for i in range(41, 46)] + [f"ZZ-{i}" for i in range(1, 6)]
    expect(page.get_by_test_id("page-next")).to_be_disabled()
    page.get_by_test_id("page-prev").click()
    expect(page.get_by_test_id("page-number")).to_have_text("Page 2")
    wait_idle(page)
    assert skus(page) == [f"TST-{i:03d}" for i in range(21, 41)]

    # SKU prefix, typed (any letter case): back to page 1 with only the matches.
    page.get_by_label("SKU starts with").press_sequentially("zz", delay=30)
    expect(page.locator("#products-body tr")).to_have_count(SPECIALS)
    wait_idle(page)
    assert skus(page) == [f"ZZ-{i}" for i in range(1, 6)]
    expect(page.get_by_test_id("page-number")).to_have_text("Page 1")
    expect(total).to_have_attribute("data-value", str(WIDGETS + SPECIALS))
    api = api_session(local_cloud).get(f"{local_cloud.api_url}/products", params={"sku": "zz"}, timeout=30).json()
    assert [p["sku"] for p in api["items"]] == skus(page)

    # Name contains, together with active = inactive only.
    page.get_by_label("SKU starts with").fill("")
    page.get_by_label("Name contains").press_sequentially("GADGET", delay=30)
    gadgets = [f"TST-{i:03d}" for i in range(2, WIDGETS + 1, 2)]
    expect(page.locator("#products-body tr")).to_have_count(20)
    wait_idle(page)
    page.get_by_label("Per page").select_option("50")
    expect(page.locator("#products-body tr")).to_have_count(len(gadgets))
    wait_idle(page)
    assert skus(page) == gadgets
    page.get_by_test_id("filter-active").select_option("true")
    expect(page.get_by_test_id("products-empty")).to_be_visible()
    expect(page.get_by_test_id("products-empty")).to_contain_text("No products match")
    expect(page.locator("#products-body tr")).to_have_count(0)
    page.get_by_test_id("filter-active").select_option("false")
    expect(page.locator("#products-body tr")).to_have_count(len(gadgets))
    api = api_session(local_cloud).get(f"{local_cloud.api_url}/products",
                       params={"q": "gadget", "active": "false", "limit": 50}, timeout=30).json()
    assert [p["sku"] for p in api["items"]] == gadgets
    if api["matches"] is not None:
        expect(page.get_by_test_id("products-matches")).to_have_attribute("data-value", str(api["matches"]))
    expect(page.get_by_test_id("products-status")).to_contain_text("matching products")

    page.get_by_label("Name contains").fill("")
    page.get_by_test_id("filter-active").select_option("")
    expect(page.locator("#products-body tr")).to_have_count(50)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert page.js_errors == []


def test_create_edit_toggle_delete(local_cloud, page: Page):
    dialog = page.get_by_test_id("product-dialog")

    # Create, keyboard only after opening.
    page.get_by_test_id("product-new").click()
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("SKU", exact=True)).to_be_focused()
    page.keyboard.type("NEW-1")
    dialog.get_by_label("Name").fill("Brand new thing")
    dialog.get_by_label("Price").fill("19.9")
    dialog.get_by_label("Price").press("Enter")
    expect(dialog).to_be_hidden()
    expect(page.get_by_test_id("products-status")).to_contain_text("NEW-1 created")
    row = page.locator("#products-body tr[data-sku='NEW-1']")
    expect(row.get_by_test_id("product-price")).to_have_text("19.90")
    expect(page.get_by_test_id("products-total")).to_have_attribute("data-value", "51")
    stored = api_product(local_cloud, "NEW-1").json()
    assert (stored["name"], stored["price"], stored["active"]) == ("Brand new thing", "19.90", True)
    assert "new-1" in all_products(local_cloud)

    # A duplicate SKU (other letter case) shows the API's message next to the SKU field.
    page.get_by_test_id("product-new").click()
    dialog.get_by_label("SKU", exact=True).fill("tst-001")
    dialog.get_by_label("Name").fill("Copy")
    dialog.get_by_label("Price").fill("-3")
    page.get_by_test_id("product-save").click()
    # Validation first: the price is wrong.
    expect(page.get_by_test_id("product-price-error")).to_be_visible()
    expect(dialog.get_by_label("Price")).to_have_attribute("aria-invalid", "true")
    dialog.get_by_label("Price").fill("3")
    page.get_by_test_id("product-save").click()
    sku_error = page.get_by_test_id("product-sku-error")
    expect(sku_error).to_be_visible()
    expect(sku_error).not_to_be_empty()
    expect(dialog.get_by_label("SKU", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_test_id("product-price-error")).to_be_hidden()
    expect(dialog).to_be_visible()
    page.screenshot(path="/tmp/products_dialog.png")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert api_product(local_cloud, "TST-001").json()["name"] == "Blue widget 1"

    # Edit the price of TST-002.
    row = page.locator("#products-body tr[data-sku='TST-002']")
    row.get_by_role("button", name="Edit TST-002").click()
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("SKU", exact=True)).to_have_value("TST-002")
    expect(dialog.get_by_label("Name")).to_have_value("Red gadget 2")
    dialog.get_by_label("Price").fill("7.25")
    page.get_by_test_id("product-save").click()
    expect(dialog).to_be_hidden()
    expect(row.get_by_test_id("product-price")).to_have_text("7.25")
    stored = api_product(local_cloud, "TST-002").json()
    assert (stored["price"], stored["name"], stored["active"]) == ("7.25", "Red gadget 2", False)
    assert all_products(local_cloud)["tst-002"]["price"] == "7.25"

    # Toggle active on TST-002 (inactive -> active) with the keyboard.
    switch = row.get_by_role("switch", name="Active: TST-002")
    expect(switch).to_have_attribute("aria-checked", "false")
    switch.focus()
    page.keyboard.press("Space")
    row = page.locator("#products-body tr[data-sku='TST-002']")
    expect(row).to_have_attribute("data-active", "true")
    expect(row.get_by_role("switch")).to_have_attribute("aria-checked", "true")
    assert api_product(local_cloud, "TST-002").json()["active"] is True
    assert all_products(local_cloud)["tst-002"]["active"] is True

    # Delete TST-003: cancel first, then confirm.
    row = page.locator("#products-body tr[data-sku='TST-003']")
    confirm = page.get_by_test_id("confirm-dialog")
    row.get_by_role("button", name="Delete TST-003").click()
    expect(confirm).to_be_visible()
    expect(page.get_by_test_id("confirm-text")).to_contain_text("TST-003")
    page.get_by_test_id("confirm-cancel").click()
    expect(confirm).to_be_hidden()
    assert api_product(local_cloud, "TST-003").status_code == 200
    row.get_by_role("button", name="Delete TST-003").click()
    page.get_by_test_id("confirm-ok").click()
    expect(confirm).to_be_hidden()
    expect(page.locator("#products-body tr[data-sku='TST-003']")).to_have_count(0)
    expect(page.get_by_test_id("products-total")).to_have_attribute("data-value", "50")
    assert api_product(local_cloud, "TST-003").status_code == 404
    assert "tst-003" not in all_products(local_cloud)
    assert page.js_errors == []


def test_delete_all_with_typed_confirmation(local_cloud, page: Page):
    dialog = page.get_by_test_id("delete-all-dialog")
    page.get_by_test_id("delete-all-open").click()
    expect(dialog).to_be_visible()
    expect(page.get_by_test_id("delete-all-count")).to_have_text("50 products")
    ok = page.get_by_test_id("delete-all-ok")
    expect(ok).to_be_disabled()
    page.get_by_label("Type DELETE to confirm").fill("delete")
    expect(ok).to_be_disabled()
    page.get_by_label("Type DELETE to confirm").fill("DELETE")
    expect(ok).to_be_enabled()
    ok.click()
    expect(page.get_by_test_id("delete-all-status")).to_contain_text("All products deleted", timeout=60_000)
    expect(page.get_by_test_id("delete-all-progress")).to_have_js_property("value", 100)
    expect(page.get_by_test_id("delete-all-percent")).to_have_text("100%")
    page.get_by_test_id("delete-all-cancel").click()
    expect(dialog).to_be_hidden()

    expect(page.get_by_test_id("products-total")).to_have_attribute("data-value", "0")
    expect(page.get_by_test_id("products-total")).to_contain_text("0 products")
    expect(page.get_by_test_id("products-empty")).to_be_visible()
    expect(page.get_by_test_id("products-empty")).to_have_text("No products yet.")
    expect(page.locator("#products-body tr")).to_have_count(0)
    api = api_session(local_cloud).get(f"{local_cloud.api_url}/products", timeout=30).json()
    assert (api["items"], api["total"]) == ([], 0)
    assert all_products(local_cloud) == {}
    assert page.js_errors == []


def _export_rows(body: bytes) -> list[list[str]]:
    rows = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
    assert rows[0] == ["sku", "name", "description", "price", "active"]
    return rows[1:]


def test_export_what_the_filters_show(local_cloud, page: Page):
    # The filters as a person sets them: inactive products with "gadget" in their name.
    page.get_by_label("Name contains").fill("gadget")
    page.get_by_test_id("filter-active").select_option("false")
    wait_idle(page)
    shown = skus(page)
    assert shown == [f"TST-{i:03d}" for i in range(2, WIDGETS + 1, 2)]
    page.get_by_test_id("export-start").click()
    download_link = page.get_by_test_id("export-download")
    expect(download_link).to_be_visible(timeout=60_000)
    status = page.get_by_test_id("export-status")
    expect(status).to_have_text(f"Export ready: {len(shown)} products.")
    expect(page.get_by_test_id("export-percent")).to_have_text("100%")
    expect(page.get_by_test_id("export-start")).to_be_enabled()
    with page.expect_download() as download:
        download_link.click()
    body = Path(download.value.path()).read_bytes()
    assert download.value.suggested_filename.startswith("products-") and download.value.suggested_filename.endswith(".csv")
    rows = _export_rows(body)
    assert [r[0] for r in rows] == shown
    assert rows[0] == ["TST-002", "Red gadget 2", "", "2.50", "false"]

    # No filters: the whole catalog, with a known total (the bar shows a percentage).
    page.get_by_label("Name contains").fill("")
    page.get_by_test_id("filter-active").select_option("")
    wait_idle(page)
    page.get_by_test_id("export-start").click()
    expect(status).to_have_text(f"Export ready: {WIDGETS + SPECIALS} products.", timeout=60_000)
    with page.expect_download() as download:
        download_link.click()
    assert len(_export_rows(Path(download.value.path()).read_bytes())) == WIDGETS + SPECIALS
    assert page.js_errors == []


def test_a_failed_export_is_shown(local_cloud, page: Page):
    page.route("**/products/export*", lambda route: route.fulfill(
        status=422, content_type="application/json",
        body='{"error": "invalid request (sku: too long)", "fields": {"sku": "too long"}}'))
    page.get_by_test_id("export-start").click()
    error = page.get_by_test_id("export-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("The export did not finish")
    expect(error).to_contain_text("sku")
    expect(page.get_by_test_id("export-download")).to_be_hidden()
    expect(page.get_by_test_id("export-start")).to_be_enabled()


def test_errors_are_shown(local_cloud, page: Page):
    # A request the API refuses (a cursor of another listing) is shown, not swallowed.
    page.route("**/products?*", lambda route: route.fulfill(
        status=500, content_type="application/json", body='{"error": "the catalog is unavailable"}'))
    page.get_by_label("Name contains").fill("x")
    error = page.get_by_test_id("products-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("the catalog is unavailable")
    page.unroute("**/products?*")
    page.get_by_label("Name contains").fill("")
    expect(error).to_be_hidden()
    expect(page.locator("#products-body tr")).to_have_count(50)
