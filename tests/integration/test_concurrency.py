"""Two people acting at once, through the local cloud's real entry points. The semantics (README,
"Concurrency"): one bulk change of the catalog at a time — imports queue behind each other, a
delete-all and an import exclude each other — and product writes through the API go ahead during
an import on PostgreSQL (each chunk is one atomic upsert) and wait (409) on DynamoDB. Each case
ends by checking the stored catalog: nothing lost, nothing double-counted."""
from __future__ import annotations

import csv
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.support.auth import api_session
from tests.support.cloud import all_products, clear_catalog, get_import, store_name, upload_via_api, wait_for_import, wait_until


@pytest.fixture
def empty_catalog(local_cloud):
    clear_catalog(local_cloud)
    return local_cloud


def write_catalog(path: Path, skus: range, name: str) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["sku", "name", "price"])
        for n in skus:
            writer.writerow([f"SKU-{n:05d}" if n % 2 else f"sku-{n:05d}", f"{name} {n}", f"{n % 97}.50"])
    return path


def total(cloud) -> int:
    response = api_session(cloud, "reader").get(f"{cloud.api_url}/products?limit=1", timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["total"]


@pytest.fixture
def held_chunks(local_cloud):
    """Chunk invocations wait at a gate until the test opens it: an import held mid-flight."""
    gate, started = threading.Event(), []

    def hold(invoke, event):
        started.append(event["index"])
        gate.wait(timeout=120)
        return invoke(event)

    local_cloud.functions.wrap("ProcessChunkFunction", hold)
    yield gate, started
    gate.set()
    local_cloud.functions.wrap("ProcessChunkFunction", None)


def test_two_overlapping_imports_started_together_queue_and_count_exactly(empty_catalog, tmp_path):
    cloud = empty_catalog
    http = api_session(cloud)
    assert http.post(f"{cloud.api_url}/products", json={"sku": "SEED-1", "name": "Seed"}, timeout=30).status_code == 201
    first = write_catalog(tmp_path / "a.csv", range(0, 3000), "A")
    second = write_catalog(tmp_path / "b.csv", range(1500, 4500), "B")
    with ThreadPoolExecutor(2) as pool:
        ids = list(pool.map(lambda path: upload_via_api(cloud, path), (first, second)))
    done = sorted((wait_for_import(cloud, i, timeout=300) for i in ids), key=lambda item: item["started_at"])
    assert [d["status"] for d in done] == ["SUCCEEDED", "SUCCEEDED"]
    earlier, later = done
    assert later["started_at"] >= earlier["finished_at"], "the two imports overlapped"
    assert (earlier["created"], earlier["updated"]) == (3000, 0)
    assert (later["created"], later["updated"], later["unchanged"]) == (1500, 1500, 0)

    products = all_products(cloud)
    assert len(products) == total(cloud) == 4501
    assert len({p["id"] for p in products.values()}) == 4501
    later_name = "B" if earlier["file_name"] == "a.csv" else "A"
    for n in range(1500, 3000):                       # written by both: created by the first, updated by the second
        product = products[f"sku-{n:05d}"]
        assert product["name"] == f"{later_name} {n}"
        assert product["created_at"] <= earlier["finished_at"] <= later["started_at"] <= product["updated_at"]


def test_a_product_written_through_the_api_during_an_import(empty_catalog, tmp_path, held_chunks):
    cloud = empty_catalog
    gate, started = held_chunks
    http = api_session(cloud)
    assert http.post(f"{cloud.api_url}/products", json={"sku": "sku-00001", "name": "Before"}, timeout=30).status_code == 201
    import_id = upload_via_api(cloud, write_catalog(tmp_path / "c.csv", range(0, 2000), "File"))
    wait_until(lambda: started, 60, "a chunk running")   # the import holds the catalog

    created = http.post(f"{cloud.api_url}/products", json={"sku": "SKU-00003", "name": "Api"}, timeout=30)
    patched = http.patch(f"{cloud.api_url}/products/sku-00001", json={"name": "Api edit"}, timeout=30)
    outside = http.post(f"{cloud.api_url}/products", json={"sku": "OTHER-1", "name": "Not in the file"}, timeout=30)
    if store_name(cloud) == "dynamodb":
        for response in (created, patched, outside):
            assert response.status_code == 409, response.text
            assert response.json()["error"] == f"an import is running ({import_id}); write products when it has finished"
    else:
        assert (created.status_code, patched.status_code, outside.status_code) == (201, 200, 201)
    gate.set()
    item = wait_for_import(cloud, import_id, timeout=300)
    assert item["status"] == "SUCCEEDED"

    products = all_products(cloud)
    api_wrote = store_name(cloud) != "dynamodb"
    assert len(products) == total(cloud) == 2000 + api_wrote
    # every SKU of the file holds the file's values: the chunks wrote after the API
    assert products["sku-00003"]["name"] == "File 3" and products["sku-00001"]["name"] == "File 1"
    assert (item["created"], item["updated"]) == (1998, 2) if api_wrote else (1999, 1)
    if api_wrote:   # the product the API created keeps its id and created_at through the import's update
        assert products["sku-00003"]["id"] == created.json()["id"]
        assert products["sku-00003"]["created_at"] == created.json()["created_at"]


def test_delete_all_during_an_import_is_refused(empty_catalog, tmp_path, held_chunks):
    cloud = empty_catalog
    gate, started = held_chunks
    import_id = upload_via_api(cloud, write_catalog(tmp_path / "d.csv", range(0, 1500), "D"))
    wait_until(lambda: started, 60, "a chunk running")
    response = api_session(cloud).delete(f"{cloud.api_url}/products", timeout=30)
    assert response.status_code == 409 and import_id in response.json()["error"]
    gate.set()
    assert wait_for_import(cloud, import_id, timeout=300)["status"] == "SUCCEEDED"
    assert len(all_products(cloud)) == total(cloud) == 1500


def test_cancel_racing_the_last_chunk(empty_catalog, tmp_path):
    cloud = empty_catalog
    last_started, release = threading.Event(), threading.Event()
    results = []

    def hold_the_last(invoke, event):
        if event["index"] == 2:                        # 3,000 rows: chunks 0, 1 and 2 (1,000 rows each)
            last_started.set()
            release.wait(timeout=120)
        result = invoke(event)
        results.append(result)
        return result

    cloud.functions.wrap("ProcessChunkFunction", hold_the_last)
    try:
        import_id = upload_via_api(cloud, write_catalog(tmp_path / "e.csv", range(0, 3000), "E"))
        assert last_started.wait(timeout=120)
        cancelled = api_session(cloud).post(f"{cloud.api_url}/imports/{import_id}/cancel", timeout=30)
        release.set()
        assert cancelled.status_code == 200, cancelled.text
        wait_until(lambda: len(results) == 3, 120, "every chunk returned")   # the last one was running: it finishes
    finally:
        release.set()
        cloud.functions.wrap("ProcessChunkFunction", None)
    item = get_import(cloud, import_id)
    assert item["status"] == "CANCELLED"
    # whichever side of the cancel the last chunk fell on, what was written is what was counted
    worked = [r for r in results if "skipped" not in r]
    assert item["chunks_done"] == len(worked) >= 2
    assert item["created"] == sum(r["created"] for r in worked)
    assert len(all_products(cloud)) == total(cloud) == item["created"]


def test_twenty_clients_creating_one_sku_in_different_letter_cases(empty_catalog):
    cloud = empty_catalog
    token = api_session(cloud).headers["Authorization"]
    spellings = ["Race-1", "RACE-1", "race-1", "rAcE-1", " Race-1 "] * 4
    barrier = threading.Barrier(len(spellings))

    def create(sku: str) -> requests.Response:
        barrier.wait(timeout=30)
        return requests.post(f"{cloud.api_url}/products", json={"sku": sku, "name": "Racer"},
                             headers={"Authorization": token}, timeout=60)

    with ThreadPoolExecutor(len(spellings)) as pool:
        responses = list(pool.map(create, spellings))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 19, [r.text for r in responses if r.status_code not in (201, 409)]
    assert all("already exists" in r.json()["error"] for r in responses if r.status_code == 409)
    products = all_products(cloud)
    assert list(products) == ["race-1"] and total(cloud) == 1
