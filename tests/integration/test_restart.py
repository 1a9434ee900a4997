"""The local cloud's process killed mid-import (SIGKILL: no clean shutdown) and started again on the
same data folder. DynamoDB (dynalite) and PostgreSQL keep their data; moto's S3, SQS and Step
Functions state is gone, the import's execution with it, as an execution lost on AWS (deleted,
aborted, timed out before its rule ran). The import must not stay PROCESSING forever: read again,
it is closed as FAILED with a readable message, the catalog lock is given back (the next import
runs), and its counters equal what is stored: nothing lost, nothing double-counted.

The import is held deterministically: the fault plan (local/faults.py, a file named by
LOCAL_FAULTS) lets the planner and the first chunk read, and holds every later chunk's download,
so the kill comes while chunk 0 is written and counted and chunk 1 is waiting for its bytes."""
from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import LOCAL_CLOUD_PARAMETERS
from tests.support.auth import api_session
from tests.support.cloud import get_import, wait_until
from tests.support.cloud_process import CloudProcess

ROWS = 3000


def write_catalog(path: Path, skus: range, name: str) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["sku", "name", "price"])
        for n in skus:
            writer.writerow([f"SKU-{n:05d}", f"{name} {n}", f"{n % 97}.50"])
    return path


def upload(cloud, path: Path) -> str:
    response = api_session(cloud).post(f"{cloud.api_url}/imports", json={"file_name": path.name,
                                                                         "size": path.stat().st_size}, timeout=30)
    assert response.status_code == 201, response.text
    body = response.json()
    with path.open("rb") as f:
        sent = requests.post(body["upload"]["url"], data=body["upload"]["fields"], files={"file": (path.name, f)},
                             timeout=60)
    assert sent.status_code in (200, 201, 204), sent.text
    return body["import"]["id"]


def catalog(cloud) -> tuple[dict[str, dict], int]:
    """(every product by lower-case SKU, walked through GET /products page by page, each once; the
    catalog total GET /products reports)."""
    http, products, cursor, total = api_session(cloud, "reader"), {}, None, None
    while True:
        params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        page = http.get(f"{cloud.api_url}/products", params=params, timeout=30).json()
        total = page["total"] if total is None else total
        for item in page["items"]:
            assert item["sku"].lower() not in products, f"listed twice: {item['sku']}"
            products[item["sku"].lower()] = item
        cursor = page["next"]
        if not cursor:
            return products, total


@pytest.fixture
def parameters() -> dict:
    # One chunk at a time, so the held download keeps the import mid-way at a known point.
    return {**LOCAL_CLOUD_PARAMETERS, "ChunkConcurrency": 1}


def test_killed_mid_import_then_restarted_closes_the_import_and_frees_the_catalog(tmp_path, parameters):
    data, faults = tmp_path / "cloud", tmp_path / "faults.json"
    # The planner's sniff and read and chunk 0's GET go through; chunk 1's waits (the kill comes first).
    faults.write_text(json.dumps([{"service": "s3", "operation": "GetObject", "match": "bytes=", "after": 3,
                                   "delay": 600}]))
    first = CloudProcess(data, parameters, environment={"LOCAL_FAULTS": str(faults)})
    try:
        path = write_catalog(tmp_path / "killed.csv", range(ROWS), "Killed")
        import_id = upload(first, path)
        held = wait_until(lambda: (lambda i: i if i["chunks_done"] == 1 else None)(get_import(first, import_id)),
                          timeout=90, message="chunk 0 counted")
        assert held["status"] == "PROCESSING" and held["total_chunks"] == 3
        time.sleep(1)                       # chunk 1 is waiting for its bytes
    finally:
        first.kill()

    faults.write_text("[]")
    second = CloudProcess(data, parameters, environment={"LOCAL_FAULTS": str(faults)})
    try:
        item = get_import(second, import_id)
        assert item["status"] == "FAILED", item
        assert item["error"] == ("The import was interrupted: its workflow no longer exists before the import "
                                 "finished. Products written so far are kept; import the file again to complete it.")
        assert item["finished_at"] and item["eta_seconds"] is None
        # nothing lost, nothing double-counted: the counters say what is stored, and the total agrees
        products, total = catalog(second)
        assert (item["chunks_done"], item["created"], item["rows_processed"]) == (1, 1000, 1000)
        assert len(products) == total == item["created"]
        assert set(products) == {f"sku-{n:05d}" for n in range(1000)}

        # The catalog is free: importing the file again runs at once (not QUEUED behind the lost
        # import) and completes it; products from the first attempt keep their ids and created_at.
        again = upload(second, path)
        done = wait_until(lambda: (lambda i: i if i["status"] in ("SUCCEEDED", "FAILED") else None)(
            get_import(second, again)), timeout=120, message="the second import ended")
        assert done["status"] == "SUCCEEDED", done
        assert (done["created"], done["updated"], done["unchanged"]) == (2000, 0, 1000)
        after, total = catalog(second)
        assert len(after) == total == ROWS
        assert all(after[k]["id"] == products[k]["id"] and after[k]["created_at"] == products[k]["created_at"]
                   for k in products)
    finally:
        second.stop()
