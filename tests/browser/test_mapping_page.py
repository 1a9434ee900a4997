"""Column mapping on the imports page in a real browser: the preset picker of the upload form, the
columns an import used, and the mapping form a failed import offers when a required column is missing."""
from __future__ import annotations

import time
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.support.auth import api_session
from tests.support.cloud import all_products

SCREENSHOT = Path("/tmp/mapping_form.png")    # to look at the form by hand


def unique(prefix: str) -> str:
    return f"{prefix}{time.time_ns() % 10**10}"


def save_preset(cloud, name: str, mapping: dict) -> None:
    response = api_session(cloud).put(f"{cloud.api_url}/mappings/{name}", json={"mapping": mapping}, timeout=30)
    assert response.status_code == 201, response.text


def upload_unmapped(page: Page, tmp_path: Path, sku: str) -> str:
    """Uploads a file whose columns no alias knows; waits for its FAILED summary; returns its import id."""
    path = tmp_path / "unmapped.csv"
    path.write_text(f"Ref,Label,Cost\n{sku},Desk lamp,49.00\n")
    page.locator("#file-input").set_input_files(str(path))
    summary = page.locator("#summary")
    expect(summary).to_be_visible(timeout=120_000)
    expect(summary).to_have_attribute("data-status", "FAILED")
    return page.locator("#current-import").get_attribute("data-import-id")


def test_the_preset_picked_on_the_upload_form_maps_the_columns(local_cloud, web_page: Page, tmp_path: Path):
    page = web_page
    name = unique("shop-")
    save_preset(local_cloud, name, {"sku": "Artikel", "name": "Bezeichnung"})
    page.reload()       # the picker lists the presets when the page loads
    page.wait_for_selector("html[data-ready='true']")
    picker = page.get_by_test_id("preset-select")
    expect(picker.locator(f"option[value='{name}']")).to_have_count(1)
    picker.select_option(name)

    sku = unique("bp")
    path = tmp_path / "german.csv"
    path.write_text(f"Artikel,Bezeichnung,Preis,Price\n{sku},Tasse,x,3.50\n")
    page.locator("#file-input").set_input_files(str(path))
    summary = page.locator("#summary")
    expect(summary).to_be_visible(timeout=120_000)
    expect(summary).to_have_attribute("data-status", "SUCCEEDED")
    expect(page.get_by_test_id("summary-columns")).to_have_text(
        f"Columns: sku ← Artikel, name ← Bezeichnung, price ← Price (preset {name})")
    expect(page.get_by_test_id("mapping-form")).to_be_hidden()
    assert all_products(local_cloud)[sku.lower()]["name"] == "Tasse"
    assert page.js_errors == []


def test_a_missing_column_shows_the_file_headers_and_the_form_sends_the_mapping(local_cloud, web_page: Page,
                                                                               tmp_path: Path):
    page = web_page
    failed_id = upload_unmapped(page, tmp_path, unique("mf"))
    expect(page.get_by_test_id("summary-error")).to_contain_text("'sku', 'name' missing")
    form = page.get_by_test_id("mapping-form")
    expect(form).to_be_visible()
    expect(page.get_by_test_id("mapping-hint")).to_contain_text("no column for sku, name")
    for field in ("sku", "name", "description", "price", "active"):
        options = page.get_by_test_id(f"map-{field}").locator("option")
        expect(options).to_have_count(4)
        assert options.all_inner_texts()[1:] == ["Ref", "Label", "Cost"]
    expect(page.get_by_test_id("map-sku")).to_have_attribute("aria-invalid", "true")

    submit = page.get_by_test_id("mapping-submit")
    error = page.get_by_test_id("mapping-error")
    submit.click()                                   # nothing chosen: said on the page, nothing sent
    expect(error).to_have_text("Choose a column for SKU and Name.")
    page.get_by_test_id("map-sku").select_option("Ref")
    page.get_by_test_id("map-name").select_option("Ref")
    submit.click()
    expect(error).to_have_text("Column “Ref” is chosen for both sku and name.")

    page.get_by_test_id("map-name").select_option("Label")
    expect(error).to_be_hidden()                     # the complaint goes with the choice that fixed it
    page.get_by_test_id("map-price").select_option("Cost")
    preset = unique("desk-")
    page.get_by_test_id("mapping-preset-name").fill(preset)
    form.screenshot(path=str(SCREENSHOT))
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/imports")) as sent:
        submit.click()
    # The contract of POST /imports {from_import}: a new import of the same upload, with this mapping.
    assert sent.value.post_data_json == {"from_import": failed_id, "preset": preset,
                                         "mapping": {"sku": "Ref", "name": "Label", "price": "Cost"}}
    # The preset was saved first (PUT /mappings/{name}) and the upload form's picker lists it.
    saved = api_session(local_cloud, "reader").get(f"{local_cloud.api_url}/mappings/{preset}", timeout=30)
    assert saved.status_code == 200 and saved.json()["mapping"] == {"sku": "Ref", "name": "Label", "price": "Cost"}
    expect(page.get_by_test_id("preset-select").locator(f"option[value='{preset}']")).to_have_count(1)
    assert page.js_errors == []


def test_the_mapping_form_imports_the_same_upload_again(local_cloud, web_page: Page, tmp_path: Path):
    page = web_page
    sku = unique("ma")
    failed_id = upload_unmapped(page, tmp_path, sku)
    page.get_by_test_id("map-sku").select_option("Ref")
    page.get_by_test_id("map-name").select_option("Label")
    page.get_by_test_id("map-price").select_option("Cost")
    page.get_by_test_id("mapping-submit").click()

    panel = page.locator("#current-import")
    expect(panel).not_to_have_attribute("data-import-id", failed_id)
    expect(page.get_by_test_id("mapping-form")).to_be_hidden()
    summary = page.locator("#summary")
    expect(summary).to_have_attribute("data-status", "SUCCEEDED", timeout=120_000)
    expect(page.get_by_test_id("summary-columns")).to_have_text("Columns: sku ← Ref, name ← Label, price ← Cost")
    stored = all_products(local_cloud)[sku.lower()]
    assert (stored["name"], stored["price"]) == ("Desk lamp", "49.00")
    assert page.js_errors == []
