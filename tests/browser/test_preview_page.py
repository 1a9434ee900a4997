"""The imports page's preview in a real browser: "Preview first", the summary's changes per field
and sample (now -> after import) with nothing written, the history marking the preview, then
"Import this file" importing the same upload, followed like any import."""
from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.support.cloud import all_products, clear_catalog, get_import, upload_via_api, wait_for_import

SCREENSHOT = Path("/tmp/preview_page.png")
BASE = ("sku,name,description,price,active\n"
        "W-1,Apple,red,1.00,true\n"
        "W-2,Pear,green,2.00,true\n"
        "W-3,Plum,blue,3.00,true\n")
CHANGED = ("sku,name,description,price,active\n"
           "W-1,Apple,red,1.50,true\n"        # price
           "W-2,Pear,green,2.00,false\n"      # active
           "W-3,Plum,blue,3.00,true\n"        # unchanged
           "W-4,New,,4.00,true\n"             # created
           "W-5,,no name,1.00,true\n")        # bad


def history_row(page: Page, import_id: str):
    return page.locator(f"#history tbody tr[data-import-id='{import_id}']")


def summary_numbers(page: Page) -> dict:
    return {key: int(re.sub(r"[^\d]", "", page.get_by_test_id(f"summary-{key}").inner_text()))
            for key in ("created", "updated", "unchanged", "failed")}


def test_preview_then_import_this_file(local_cloud, web_page: Page, tmp_path: Path):
    page = web_page
    clear_catalog(local_cloud)
    base = tmp_path / "base.csv"
    base.write_text(BASE, encoding="utf-8")
    wait_for_import(local_cloud, upload_via_api(local_cloud, base))
    before = all_products(local_cloud)
    changed = tmp_path / "changed.csv"
    changed.write_text(CHANGED, encoding="utf-8")

    page.get_by_test_id("preview-mode").check()
    page.locator("#file-input").set_input_files(str(changed))
    panel = page.locator("#current-import")
    expect(panel).to_have_attribute("data-import-id", re.compile(r"^imp_"))
    preview_id = panel.get_attribute("data-import-id")
    summary = page.locator("#summary")
    expect(summary).to_have_attribute("data-status", "SUCCEEDED", timeout=120_000)
    expect(page.get_by_test_id("summary-heading")).to_contain_text("Preview")
    expect(page.get_by_test_id("summary-heading")).to_contain_text("nothing was written")
    expect(page.locator("label[for='progress']")).to_have_text("Preview")
    assert summary_numbers(page) == {"created": 1, "updated": 2, "unchanged": 1, "failed": 1}
    expect(page.get_by_test_id("preview-field-price")).to_have_text("1")
    expect(page.get_by_test_id("preview-field-active")).to_have_text("1")
    expect(page.get_by_test_id("preview-field-name")).to_have_text("0")
    changes = page.get_by_test_id("preview-change")
    expect(changes).to_have_count(2)
    expect(changes.nth(0)).to_have_text(re.compile(r"2\s*W-1\s*Price\s*1\.00\s*1\.50"))
    expect(changes.nth(1)).to_have_text(re.compile(r"3\s*W-2\s*Active\s*yes\s*no"))
    expect(page.get_by_test_id("summary-error-report")).to_be_visible()
    assert all_products(local_cloud) == before              # the preview wrote nothing
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    row = history_row(page, preview_id)
    expect(row).to_have_attribute("data-status", "SUCCEEDED", timeout=20_000)
    expect(row.get_by_test_id("history-preview")).to_have_text("Preview")

    page.get_by_test_id("import-this-file").click()
    expect(panel).not_to_have_attribute("data-import-id", preview_id)
    import_id = panel.get_attribute("data-import-id")
    expect(summary).to_have_attribute("data-status", "SUCCEEDED", timeout=120_000)
    expect(page.get_by_test_id("summary-heading")).to_have_text(re.compile(r"^Import finished"))
    expect(page.get_by_test_id("summary-preview")).to_be_hidden()
    expect(page.locator("label[for='progress']")).to_have_text("Import")
    assert summary_numbers(page) == {"created": 1, "updated": 2, "unchanged": 1, "failed": 1}
    item = get_import(local_cloud, import_id)
    assert (item["mode"], item["from_import"], item["key"]) == ("import", preview_id, get_import(local_cloud, preview_id)["key"])
    after = all_products(local_cloud)
    assert after["w-1"]["price"] == "1.50" and after["w-2"]["active"] is False and "w-4" in after

    imported_row = history_row(page, import_id)
    expect(imported_row).to_have_attribute("data-status", "SUCCEEDED", timeout=20_000)
    expect(imported_row.get_by_test_id("history-preview")).to_have_count(0)
    assert page.js_errors == []
    assert page.console_errors == []
