"""Faults injected while an import runs, through the local cloud: a chunk worker crashing between
its writes and its count, DynamoDB throttling batch writes (an equivalent transient Data API error
on PostgreSQL), S3 downloads dropped mid-import (transiently and for good). Faults come from the
local cloud's fault plan (local/faults.py: applied in the emulators' request paths, never in the
functions) or, for a crash inside a worker, from a test hook in this process.

Each case ends with the same check, against the stored catalog: nothing lost, nothing
double-counted (`assert_catalog_consistent`)."""
from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from catalog.shared.settings import settings_from
from tests.support.auth import api_session
from tests.support.cloud import all_products, clear_catalog, store_name, upload_via_api, wait_for_import

ROWS = 3000        # three chunks of 1,000 (tests/conftest.py: ChunkRows)


@pytest.fixture
def cloud(local_cloud):
    clear_catalog(local_cloud)
    local_cloud.faults.clear()
    yield local_cloud
    local_cloud.faults.clear()


def write_catalog(path: Path, skus: range, name: str) -> Path:
    """A valid catalog: SKUs in alternating letter case, so keys and spellings differ."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["sku", "name", "price", "active"])
        for n in skus:
            writer.writerow([f"SKU-{n:05d}" if n % 2 else f"sku-{n:05d}", f"{name} {n}", f"{n % 97}.50",
                             "true" if n % 3 else "false"])
    return path


def read_catalog(path: Path) -> dict[str, dict]:
    with path.open(newline="", encoding="utf-8") as f:
        return {row["sku"].strip().lower(): row for row in csv.DictReader(f)}


def catalog_total(cloud) -> int:
    response = api_session(cloud, "reader").get(f"{cloud.api_url}/products?limit=1", timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["total"]


def assert_catalog_consistent(cloud, before: dict[str, dict], item: dict, rows: dict[str, dict] | None) -> dict:
    """Nothing lost, nothing double-counted. `before`: the catalog before the import; `rows`: the
    file's winning rows, when the import wrote them all (SUCCEEDED), or None when it ended early.

    - the catalog total (GET /products) equals the products stored, and the listing shows each once
      (all_products checks the listing against the table);
    - products the import did not touch are exactly as before, and every product that existed keeps
      its id and created_at;
    - the import's counters equal what is stored: created = new products, updated = existing ones it
      changed, unchanged = the rest of its rows; for a complete import every row is in the catalog
      with the file's values."""
    after = all_products(cloud)
    assert catalog_total(cloud) == len(after), "the catalog total differs from the products stored"
    new = set(after) - set(before)
    assert set(before) <= set(after), f"products lost: {sorted(set(before) - set(after))[:5]}"
    for key, product in before.items():
        assert (after[key]["id"], after[key]["created_at"]) == (product["id"], product["created_at"]), key
    changed = {k for k in before if after[k] != before[k]}
    assert item["created"] == len(new), (item, len(new))
    assert item["updated"] == len(changed), (item, len(changed))
    if rows is not None:
        assert set(rows) <= set(after) and new == set(rows) - set(before)
        assert changed <= set(rows)
        assert item["unchanged"] == len(set(rows) & set(before)) - len(changed)
        assert item["rows_processed"] == item["total_rows"] and item["chunks_done"] == item["total_chunks"]
        for key, row in rows.items():
            stored = after[key]
            assert (stored["sku"], stored["name"], stored["price"], stored["active"]) == \
                (row["sku"], row["name"], row["price"], row["active"] == "true"), (stored, row)
    return after


def seed(cloud, tmp_path: Path, skus: range) -> dict[str, dict]:
    """A catalog holding `skus`, imported (so they have ids and created_at of their own)."""
    item = wait_for_import(cloud, upload_via_api(cloud, write_catalog(tmp_path / "seed.csv", skus, "Seed")))
    assert item["status"] == "SUCCEEDED", item
    return all_products(cloud)


def overlapping_file(tmp_path: Path) -> tuple[Path, dict[str, dict]]:
    """3,000 rows over a seeded 0..2999: 1,500 new SKUs, 1,500 existing ones, of which every other
    one renamed (changed) and the rest as they are (unchanged)."""
    path = tmp_path / "overlap.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["sku", "name", "price", "active"])
        for n in range(1500, 1500 + ROWS):
            name = f"Renamed {n}" if n < 3000 and n % 2 == 0 else f"Seed {n}"
            writer.writerow([f"SKU-{n:05d}" if n % 2 else f"sku-{n:05d}", name, f"{n % 97}.50",
                             "true" if n % 3 else "false"])
    rows = read_catalog(path)
    for row in rows.values():
        row["price"] = f"{float(row['price']):.2f}"
    return path, rows


def file_rows(path: Path) -> dict[str, dict]:
    rows = read_catalog(path)
    for row in rows.values():
        row["price"] = f"{float(row['price']):.2f}"
    return rows


# --- 1. a chunk worker that raises after writing, before counting, then is retried -------------
def test_chunk_crashing_between_write_and_count_in_a_filled_catalog(cloud, tmp_path, monkeypatch):
    """The pipeline test covers a first bulk load (ids derived from the import); here the catalog
    already holds half the SKUs, so the chunks read, compare and write created and updated products
    alike, and two of the three crash after writing, before counting. Their retries must count what
    the first attempts wrote as created and updated (not as unchanged), and only once."""
    from catalog.imports import progress
    before = seed(cloud, tmp_path, range(0, 3000))
    path, rows = overlapping_file(tmp_path)
    original, crashed = progress.ImportStore.record_chunk, []

    def crash_once(self, import_id, index, counts):
        if index in (0, 2) and index not in crashed:
            crashed.append(index)
            raise RuntimeError("simulated crash after the chunk's writes")
        return original(self, import_id, index, counts)

    monkeypatch.setattr(progress.ImportStore, "record_chunk", crash_once)
    item = wait_for_import(cloud, upload_via_api(cloud, path), timeout=120)
    assert sorted(crashed) == [0, 2], "the crashes did not happen"
    assert item["status"] == "SUCCEEDED", item
    assert (item["created"], item["updated"], item["unchanged"]) == (1500, 750, 750)
    assert_catalog_consistent(cloud, before, item, rows)


# --- 2. throttled batch writes (DynamoDB) or a transient Data API error (PostgreSQL) ------------
def test_throttled_writes_lose_nothing(cloud, tmp_path):
    """A share of the catalog writes is refused as AWS refuses them under load: DynamoDB's
    ProvisionedThroughputExceededException on BatchWriteItem to the products table; on PostgreSQL
    the Data API's 503 (ServiceUnavailableError) on the chunk's upsert. The SDK's retries and the
    chunk retries absorb them."""
    before = seed(cloud, tmp_path, range(0, 3000))
    path, rows = overlapping_file(tmp_path)
    settings = settings_from(os.environ)
    if store_name(cloud) == "dynamodb":
        rule = {"service": "dynamodb", "operation": "BatchWriteItem", "match": settings.products_table,
                "error": "ProvisionedThroughputExceededException", "share": 0.3, "seed": 1}
    else:
        rule = {"service": "rds-data", "operation": "ExecuteStatement", "match": "INSERT INTO products AS p",
                "error": "ServiceUnavailableError", "status": 503, "share": 0.5, "seed": 1}
    [fault] = cloud.faults.set([rule])
    item = wait_for_import(cloud, upload_via_api(cloud, path), timeout=180)
    cloud.faults.clear()
    assert fault.injected > 0, f"no write was refused ({fault.seen} seen)"
    assert item["status"] == "SUCCEEDED", item
    assert (item["created"], item["updated"], item["unchanged"]) == (1500, 750, 750)
    assert_catalog_consistent(cloud, before, item, rows)


# --- 3. S3 GetObject failing mid-import -------------------------------------------------------
def test_dropped_downloads_are_read_again(cloud, tmp_path):
    """GETs cut off halfway (the headers and half the body, then the connection closes): the
    planner's read of the file, and two chunks' ranged reads. The read fails in the function after
    the SDK call returned, out of the SDK's retries' reach: the planner resumes its range where it
    stopped, and the state machine's chunk retry reads the chunk again."""
    path = write_catalog(tmp_path / "dropped.csv", range(0, ROWS), "Dropped")
    size = path.stat().st_size
    planner, chunks = cloud.faults.set([
        {"service": "s3", "operation": "GetObject", "match": f"bytes=0-{size - 1}", "error": "truncate", "times": 1},
        # after the planner's 4 KB sniff and the GET that resumes its read: the chunks' first two GETs
        {"service": "s3", "operation": "GetObject", "match": "bytes=", "error": "truncate", "after": 2, "times": 2}])
    item = wait_for_import(cloud, upload_via_api(cloud, path), timeout=120)
    cloud.faults.clear()
    assert (planner.injected, chunks.injected) == (1, 2)
    assert item["status"] == "SUCCEEDED", item
    assert item["created"] == ROWS
    assert_catalog_consistent(cloud, {}, item, file_rows(path))


def test_chunk_download_failing_for_good_fails_the_import(cloud, tmp_path):
    """One chunk's range can never be read (S3 refuses it every time, as it does when a bucket
    policy or key denies it, past every chunk retry): the import ends FAILED with a readable
    message, and its counters say exactly what the other chunks wrote."""
    before = seed(cloud, tmp_path, range(0, 500))
    path = write_catalog(tmp_path / "broken.csv", range(0, ROWS), "Broken")
    size = path.stat().st_size
    # chunk 1's range starts after the header and the first 1,000 rows: match its start offset
    with path.open("rb") as f:
        lines = f.readlines()
    start = sum(len(line) for line in lines[:1001])
    cloud.faults.set([{"service": "s3", "operation": "GetObject", "match": f"bytes={start}-", "error": "AccessDenied"}])
    item = wait_for_import(cloud, upload_via_api(cloud, path), timeout=180)
    cloud.faults.clear()
    assert size > start
    assert item["status"] == "FAILED", item
    assert item["error"] == "The import did not complete: 1 of 3 chunks did not finish", item["error"]
    assert item["chunks_done"] == 2
    assert (item["created"], item["updated"]) == (1500, 500)      # chunk 0 (500 new, 500 renamed) and chunk 2
    assert_catalog_consistent(cloud, before, item, None)
