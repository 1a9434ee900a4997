"""The imports page in a real browser: upload a CSV, follow it to the end, read the summary and
the history, cancel a running import; against the whole application in the local cloud."""
from __future__ import annotations

import csv
import io
import re
import threading
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from catalog.imports import chunks as chunks_module
from tests.support.auth import api_session
from tests.support.cloud import all_products, clear_catalog, upload_via_api, wait_for_import

TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")
SCREENSHOT = Path("/tmp/upload_page.png")
ACTIVE_VALUES = {"", "true", "1", "yes", "y", "t", "on", "false", "0", "no", "n", "f", "off"}


def expected_outcome(path: Path) -> dict:
    """An independent reading of the file by the rules users are promised (DESIGN.md section 3):
    sku and name required, price a non-negative decimal with at most two places, active a
    yes/no word; the last valid row of a case-insensitive SKU wins, earlier ones are duplicates."""
    text = path.read_text(encoding="utf-8-sig")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in next(reader)]
    total, bad_lines, valid_keys = 0, [], []
    line = reader.line_num
    for record in reader:
        first_line, line = line + 1, reader.line_num
        if not any(v.strip() for v in record):
            continue
        total += 1
        row = dict(zip(header, record))
        sku, name = row.get("sku", "").strip(), row.get("name", "").strip()
        price = row.get("price", "").strip()
        ok = bool(sku) and bool(name) and row.get("active", "").strip().lower() in ACTIVE_VALUES
        if price:
            try:
                value = Decimal(price)
                ok = ok and value.is_finite() and Decimal(0) <= value <= Decimal("99999999.99") \
                    and value == value.quantize(Decimal("0.01"))
            except InvalidOperation:
                ok = False
        if ok:
            valid_keys.append(sku.lower())
        else:
            bad_lines.append(first_line)
    unique = set(valid_keys)
    return {"total": total, "created": len(unique), "updated": 0, "unchanged": 0, "failed": len(bad_lines),
            "duplicates": len(valid_keys) - len(unique), "bad_lines": bad_lines, "keys": unique}


def shown_number(page: Page, testid: str) -> int:
    text = page.get_by_test_id(testid).inner_text()
    digits = re.sub(r"[^\d]", "", text)
    assert digits, f"{testid} shows no number: {text!r}"
    return int(digits)


def history_row(page: Page, import_id: str):
    return page.locator(f"#history tbody tr[data-import-id='{import_id}']")


def test_upload_shows_progress_summary_and_history(local_cloud, web_page: Page, sample_csv: Path):
    page = web_page
    clear_catalog(local_cloud)  # an empty catalog: every valid SKU of the file is created
    expected = expected_outcome(sample_csv)
    assert expected["failed"] and expected["duplicates"], "the sample file should have bad rows and a duplicate"

    page.locator("#file-input").set_input_files(str(sample_csv))

    panel = page.locator("#current-import")
    expect(panel).to_be_visible()
    expect(page.locator("#current-file")).to_have_text(sample_csv.name)
    expect(panel).to_have_attribute("data-import-id", re.compile(r"^imp_"))
    import_id = panel.get_attribute("data-import-id")

    summary = page.locator("#summary")
    expect(summary).to_be_visible(timeout=120_000)
    expect(summary).to_have_attribute("data-status", "SUCCEEDED")
    expect(page.locator("#current-phase")).to_have_text("Succeeded")

    # The upload went through the browser, with its progress in bytes.
    size = sample_csv.stat().st_size
    expect(page.locator("#upload-progress")).to_have_js_property("value", 100)
    upload_text = page.locator("#upload-bytes").inner_text()
    assert upload_text.endswith(f"of {size} B"), upload_text
    expect(page.locator("#progress")).to_have_js_property("value", 100)
    expect(page.locator("#progress-percent")).to_have_text("100%")
    expect(page.locator("#upload-status")).to_contain_text("Import finished")
    expect(page.locator("#cancel-current")).to_be_hidden()

    # The summary shows exactly what the file holds.
    shown = {key: shown_number(page, f"summary-{key}")
             for key in ("total", "created", "updated", "unchanged", "failed", "duplicates")}
    assert shown == {key: expected[key] for key in shown}
    expect(page.get_by_test_id("summary-error")).to_be_hidden()
    expect(page.get_by_test_id("summary-elapsed")).not_to_have_text("—")

    # ... and the catalog holds exactly those products.
    assert set(all_products(local_cloud)) == expected["keys"]

    # The bad-rows report is linked (the page fetches it with its token: the API answers with a signed
    # URL) and downloads a CSV listing every bad line.
    link = page.get_by_test_id("summary-error-report")
    expect(link).to_be_visible()
    href = link.get_attribute("href")
    assert href == f"/imports/{import_id}/errors"
    with page.expect_download() as download:
        link.click()
    report = Path(download.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(report)))
    assert sorted(int(r["line"]) for r in rows) == expected["bad_lines"]

    # The history lists the import as succeeded, with its numbers and without a Cancel button.
    row = history_row(page, import_id)
    expect(row).to_have_attribute("data-status", "SUCCEEDED", timeout=20_000)
    expect(row.get_by_test_id("history-status")).to_have_text("Succeeded")
    expect(row.locator("td.file")).to_have_text(sample_csv.name)
    expect(row.locator("td.source")).to_have_text("Upload")
    expect(row.get_by_test_id("history-created")).to_have_text(str(expected["created"]))
    expect(row.get_by_test_id("history-failed")).to_have_text(str(expected["failed"]))
    expect(row.get_by_test_id("history-cancel")).to_have_count(0)
    expect(row.get_by_test_id("history-error-report")).to_have_attribute("href", href)
    expect(page.locator("#history tbody tr").first).to_have_attribute("data-import-id", import_id)

    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert page.js_errors == []
    assert page.console_errors == []


def test_cancel_is_offered_only_for_running_imports(local_cloud, web_page: Page, sample_csv: Path):
    page = web_page
    api = local_cloud.api_url
    finished = upload_via_api(local_cloud, sample_csv, file_name="finished.csv")
    assert wait_for_import(local_cloud, finished)["status"] == "SUCCEEDED"
    # An import whose file never comes stays PENDING: running, so it can be cancelled.
    waiting = api_session(local_cloud).post(f"{api}/imports", json={"file_name": "waiting.csv", "size": 100}, timeout=30)
    assert waiting.status_code == 201, waiting.text
    waiting_id = waiting.json()["import"]["id"]

    # The page's timers stand still from here on: the history changes only when the test says so.
    page.clock.install()
    page.reload()
    page.wait_for_selector("html[data-ready='true']")
    expect(history_row(page, waiting_id)).to_have_attribute("data-status", "PENDING")
    expect(history_row(page, finished)).to_have_attribute("data-status", "SUCCEEDED")

    rows = page.locator("#history tbody tr")
    for i in range(rows.count()):
        row = rows.nth(i)
        running = row.get_attribute("data-status") not in TERMINAL
        expect(row.get_by_test_id("history-cancel")).to_have_count(1 if running else 0)

    # Cancelling from the page (keyboard: focus the button, press Enter).
    cancel = history_row(page, waiting_id).get_by_test_id("history-cancel")
    expect(cancel).to_have_accessible_name("Cancel the import of waiting.csv")
    cancel.focus()
    page.keyboard.press("Enter")
    expect(history_row(page, waiting_id)).to_have_attribute("data-status", "CANCELLED")
    expect(history_row(page, waiting_id).get_by_test_id("history-cancel")).to_have_count(0)
    assert api_session(local_cloud).get(f"{api}/imports/{waiting_id}", timeout=30).json()["status"] == "CANCELLED"

    # An import that ended behind the page's back: the API's 409 is shown, the row catches up.
    late = api_session(local_cloud).post(f"{api}/imports", json={"file_name": "late.csv", "size": 100}, timeout=30).json()
    late_id = late["import"]["id"]
    page.get_by_test_id("history-refresh").click()
    late_cancel = history_row(page, late_id).get_by_test_id("history-cancel")
    expect(late_cancel).to_be_visible()
    assert api_session(local_cloud).post(f"{api}/imports/{late_id}/cancel", timeout=30).status_code == 200
    late_cancel.click()
    expect(page.get_by_test_id("history-message")).to_contain_text("already ended")
    expect(history_row(page, late_id)).to_have_attribute("data-status", "CANCELLED")
    expect(history_row(page, late_id).get_by_test_id("history-cancel")).to_have_count(0)
    assert page.js_errors == []


def test_dropped_files_are_checked_and_api_errors_shown(local_cloud, web_page: Page):
    page = web_page
    max_bytes = int(local_cloud.environment.get("MAX_UPLOAD_BYTES") or 0) or None
    if max_bytes is None or max_bytes > 64 * 1024 * 1024:
        pytest.skip("the upload limit of this cloud is too large to exceed in a test")

    def drop(name: str, size: int, mime: str) -> None:
        page.evaluate("""([name, size, mime]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(size).fill(97)], name, {type: mime}));
            const zone = document.getElementById("drop-zone");
            for (const type of ["dragenter", "dragover", "drop"]) {
                zone.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: transfer}));
            }
        }""", [name, size, mime])

    error = page.get_by_test_id("upload-error")
    drop("photo.png", 100, "image/png")
    expect(error).to_be_visible()
    expect(error).to_contain_text("not a CSV file")
    expect(page.locator("#current-import")).to_be_hidden()

    drop("huge.csv", max_bytes + 1, "text/csv")  # the API refuses it (413) before anything is uploaded
    expect(error).to_contain_text("limit")
    expect(page.locator("#current-import")).to_be_hidden()
    assert page.js_errors == []


def test_the_chunk_grid_follows_the_distributed_map(local_cloud, web_page: Page, tmp_path: Path, monkeypatch):
    """Chunks held while they write show as running, the others as pending; a chunk whose first
    attempt dies after its work shows as retried once the retry succeeds; at the end every square
    is done. All from the progress poll."""
    page = web_page
    path = tmp_path / "five-chunks.csv"
    rows = "\n".join(f"GRID-{n},Grid {n},{n}.00" for n in range(4500))     # ChunkRows 1000: 5 chunks
    path.write_text(f"sku,name,price\n{rows}\n", encoding="utf-8")
    gate, attempts = threading.Event(), []
    store_of = chunks_module.catalog_store

    def store_that_waits(settings):      # the functions run in this process: hold them mid-chunk
        store = store_of(settings)
        write = store.write_chunk
        store.write_chunk = lambda *args, **kwargs: (gate.wait(timeout=120), write(*args, **kwargs))[1]
        return store

    def last_chunk_dies_once(invoke, event):
        attempts.append(event["index"])
        result = invoke(event)
        if event["index"] == 4 and attempts.count(4) == 1:
            raise RuntimeError("injected: the first attempt of the last chunk dies after its work")
        return result

    monkeypatch.setattr(chunks_module, "catalog_store", store_that_waits)
    local_cloud.functions.wrap("ProcessChunkFunction", last_chunk_dies_once)
    try:
        page.locator("#file-input").set_input_files(str(path))
        grid = page.get_by_test_id("chunk-grid")
        expect(grid.locator(".chunk")).to_have_count(5, timeout=60_000)
        expect(grid.locator('.chunk[data-state="running"]')).to_have_count(4, timeout=60_000)   # concurrency 4
        expect(grid.locator('.chunk[data-state="pending"]')).to_have_count(1)
        expect(page.locator("#chunk-count")).to_contain_text("5 chunks: ")
        expect(page.locator("#chunk-count")).to_contain_text("4 running")
        expect(page.locator("#chunk-count")).to_contain_text("1 pending")
        gate.set()
        expect(page.locator("#summary")).to_have_attribute("data-status", "SUCCEEDED", timeout=120_000)
    finally:
        gate.set()
        local_cloud.functions.wrap("ProcessChunkFunction", None)
    states = [grid.locator(".chunk").nth(i).get_attribute("data-state") for i in range(5)]
    assert states == ["done"] * 4 + ["retried"], states
    expect(page.locator("#chunk-count")).to_have_text("5 chunks: 4 done, 1 retried")
    assert page.js_errors == []
