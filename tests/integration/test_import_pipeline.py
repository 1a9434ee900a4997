"""The import pipeline end to end through the local cloud's real entry points:
HTTP API -> presigned POST -> S3 -> SQS -> import_start -> Step Functions -> Lambdas -> the catalog
store the session's cloud runs (--catalog-store: PostgreSQL through the RDS Data API, or DynamoDB);
products are read back through the catalog store seam (tests/support/cloud.py: all_products)."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from tests.support.auth import api_session
from tests.support.cloud import all_products, clear_catalog, get_import, upload_via_api, wait_for_history, wait_for_import

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT.parent / "shared" / "tools" / "gen_products.py"


@pytest.fixture
def empty_catalog(local_cloud):
    clear_catalog(local_cloud)
    return local_cloud


@pytest.fixture(scope="module")
def generated_20k(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("gen") / "products-20k.csv"
    subprocess.run([sys.executable, str(GENERATOR), "20000", str(path), "--seed", "7",
                    "--columns", "sku,name,description,price,active"], check=True)
    return path


def expected_catalog(path: Path) -> dict[str, dict]:
    """Independent reading of a valid file: last row per case-insensitive SKU wins."""
    with path.open(newline="", encoding="utf-8-sig") as f:
        return {row["sku"].strip().lower(): row for row in csv.DictReader(f)}


def test_sample_upload_through_presigned_post(empty_catalog, sample_csv):
    cloud = empty_catalog
    import_id = upload_via_api(cloud, sample_csv)
    item = wait_for_import(cloud, import_id)

    assert item["status"] == "SUCCEEDED", item
    assert item["total_rows"] == 17
    assert (item["created"], item["updated"], item["unchanged"]) == (11, 0, 0)
    assert item["failed"] == 5
    assert item["duplicates"] == 1
    assert item["rows_processed"] == 17
    assert item["bytes_processed"] == sample_csv.stat().st_size
    assert item["percent"] == 100.0

    products = all_products(cloud)
    assert len(products) == 11
    tote = products["abc-1002"]
    assert tote["sku"] == "abc-1002"                            # the later row's spelling wins
    assert tote["name"] == "Cotton Tote Bag – Organic"
    assert tote["price"] == "13.50"                             # the file says 13.5
    napkins = products["abc-1005"]
    assert napkins["description"] == "Set of four\npre-washed napkins"
    assert products["abc-1006"]["active"] is False
    assert products["abc-1009"]["price"] is None


def test_error_report_lists_every_bad_row(local_cloud, sample_csv):
    import_id = upload_via_api(local_cloud, sample_csv)
    item = wait_for_import(local_cloud, import_id)
    assert item["error_report_url"] == f"/imports/{import_id}/errors"

    response = api_session(local_cloud, "reader").get(local_cloud.api_url + item["error_report_url"],
                                                      allow_redirects=False, timeout=30)
    assert response.status_code == 302
    report = requests.get(response.headers["Location"], timeout=30)     # S3's signed URL: no token
    assert report.status_code == 200
    rows = list(csv.reader(report.content.decode("utf-8-sig").splitlines()))
    assert rows[0] == ["line", "column", "message", "sku", "name", "description", "price", "active"]
    assert [(r[0], r[1]) for r in rows[1:]] == [
        ("14", "name"), ("15", "price"), ("16", "sku"), ("17", "price"), ("18", "active")]
    assert rows[2][2] == "'not-a-price' is not a number"
    assert rows[2][3:] == ["ABC-1012", "Desk Lamp", "LED", "not-a-price", "true"]
    assert rows[4][2] == "must not be negative"

    # The page fetches with its token and asks for JSON: the signed URL itself, no cross-origin redirect.
    as_json = api_session(local_cloud, "reader").get(local_cloud.api_url + item["error_report_url"],
                                                     headers={"Accept": "application/json"}, allow_redirects=False,
                                                     timeout=30)
    assert as_json.status_code == 200 and "location" not in as_json.headers
    assert requests.get(as_json.json()["url"], timeout=30).content == report.content


def test_generated_file_last_row_wins_and_reimport_writes_nothing(empty_catalog, generated_20k):
    cloud = empty_catalog
    expected = expected_catalog(generated_20k)
    item = wait_for_import(cloud, upload_via_api(cloud, generated_20k), timeout=300)
    assert item["status"] == "SUCCEEDED", item
    assert item["total_chunks"] == 20
    assert item["created"] == len(expected)
    assert item["duplicates"] == 20000 - len(expected)
    assert item["failed"] == 0

    products = all_products(cloud)
    assert set(products) == set(expected)
    truthy = {"true", "1", "yes"}
    for key, row in expected.items():
        stored = products[key]
        assert stored["sku"] == row["sku"]
        assert stored["name"] == row["name"]
        assert stored["description"] == row["description"]
        assert Decimal(stored["price"]) == Decimal(row["price"])
        assert stored["active"] is (row["active"] in truthy)
        assert stored["created_at"] == stored["updated_at"]

    again = wait_for_import(cloud, upload_via_api(cloud, generated_20k), timeout=300)
    assert again["status"] == "SUCCEEDED", again
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, len(expected))
    assert all_products(cloud) == products        # not one attribute changed, updated_at included


def test_changed_rows_are_updated_in_place(empty_catalog, tmp_path):
    cloud = empty_catalog
    first = tmp_path / "first.csv"
    first.write_text("sku,name,price\nUPD-1,Lamp,10.00\nUPD-2,Chair,20.00\n")
    wait_for_import(cloud, upload_via_api(cloud, first))
    before = all_products(cloud)

    second = tmp_path / "second.csv"
    second.write_text("SKU , Name ,Price,colour\nupd-1,Lamp,12.00,red\nUPD-2,Chair,20.00,blue\n")
    item = wait_for_import(cloud, upload_via_api(cloud, second))
    assert (item["created"], item["updated"], item["unchanged"]) == (0, 1, 1)
    assert item["unknown_columns"] == ["colour"]
    after = all_products(cloud)
    assert after["upd-1"]["id"] == before["upd-1"]["id"]
    assert after["upd-1"]["created_at"] == before["upd-1"]["created_at"]
    assert after["upd-1"]["updated_at"] > before["upd-1"]["updated_at"]
    assert after["upd-1"]["sku"] == "upd-1" and after["upd-1"]["price"] == "12.00"
    assert after["upd-2"] == before["upd-2"]


@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty"),
    (b"sku,name,price\n", "header row but no data rows"),
    (b"\xef\xbb\xbfsku,name\r\n\r\n", "header row but no data rows"),
    (b"ref,label,price\nA,B,1\n", "required columns 'sku', 'name' missing"),   # no alias knows ref or label
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "not a text CSV file"),
    (b"\xff\xfes\x00k\x00u\x00,\x00n\x00", "UTF-16 encoded"),
    (b"sk\xe9,name\nA,B\n", "header row is not valid UTF-8"),
])
def test_bad_files_fail_with_a_clear_message(local_cloud, tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    if content:
        import_id = upload_via_api(local_cloud, path)
    else:   # the API refuses an empty upload form; drop it straight into the bucket instead
        key = f"incoming/empty-{time.time_ns()}.csv"
        local_cloud.client("s3").put_object(Bucket=local_cloud.ref("UploadsBucket"), Key=key, Body=b"")
        import_id = wait_for_history(local_cloud, lambda i: i["key"] == key)["id"]
    item = wait_for_import(local_cloud, import_id)
    assert item["status"] == "FAILED"
    assert item["error"].startswith("The file cannot be imported: ")
    assert message in item["error"]


def test_file_over_the_size_limit_fails(local_cloud, tmp_path):
    limit = 8 * 1024 * 1024
    path = tmp_path / "huge.csv"
    row = b"SKU-X,name,description,1.00\n"
    path.write_bytes(b"sku,name,description,price\n" + row * (limit // len(row) + 10))
    response = api_session(local_cloud).post(f"{local_cloud.api_url}/imports",
                             json={"file_name": "huge.csv", "size": path.stat().st_size}, timeout=30)
    assert response.status_code == 413
    assert response.json()["fields"] == {"size": f"must be at most {limit}"}

    # A client that lies about the size (or an S3 drop) is still stopped by the pipeline itself.
    key = "incoming/huge.csv"
    local_cloud.client("s3").upload_file(str(path), local_cloud.ref("UploadsBucket"), key)
    item = wait_for_history(local_cloud, lambda i: i["key"] == key and i["status"] in ("FAILED", "SUCCEEDED"))
    assert item["status"] == "FAILED"
    assert f"the limit is {limit:,} bytes" in item["error"]


def test_plain_s3_put_is_imported_and_in_history(empty_catalog, sample_csv):
    cloud = empty_catalog
    key = f"incoming/drop-{time.time_ns()}.csv"
    cloud.client("s3").upload_file(str(sample_csv), cloud.ref("UploadsBucket"), key)
    item = wait_for_history(cloud, lambda i: i["key"] == key)
    done = wait_for_import(cloud, item["id"])
    assert done["status"] == "SUCCEEDED"
    assert done["source"] == "s3"
    assert (done["created"], done["failed"]) == (11, 5)
    history = api_session(cloud, "reader").get(f"{cloud.api_url}/imports?limit=5", timeout=30).json()["items"]
    assert history[0]["id"] == item["id"]                      # newest first


def test_same_s3_event_delivered_twice_starts_one_import(local_cloud, sample_csv):
    """SQS delivers at least once: the real notification handed to import_start twice."""
    cloud = local_cloud
    key = f"incoming/twice-{time.time_ns()}.csv"
    deliveries = []

    def deliver_twice(invoke, event):
        deliveries.append(event)
        invoke(event)
        return invoke(event)

    before = len(_executions(cloud))
    cloud.functions.wrap("ImportStartFunction", deliver_twice)
    try:
        cloud.client("s3").put_object(Bucket=cloud.ref("UploadsBucket"), Key=key, Body=sample_csv.read_bytes())
        item = wait_for_history(cloud, lambda i: i["key"] == key)
        wait_for_import(cloud, item["id"])
    finally:
        cloud.functions.wrap("ImportStartFunction", None)
    assert any(key.rsplit("/", 1)[-1] in json.dumps(e) for e in deliveries)   # moto percent-encodes the key
    time.sleep(1)
    matching = [i for i in api_session(cloud, "reader").get(f"{cloud.api_url}/imports?limit=100", timeout=30).json()["items"]
                if i["key"] == key]
    assert len(matching) == 1
    assert len(_executions(cloud)) == before + 1


def _executions(cloud) -> list[str]:
    sfn = cloud.client("stepfunctions")
    arns = []
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=cloud.ref("ImportStateMachine")):
        arns += [e["executionArn"] for e in page["executions"]]
    return arns


def test_duplicate_delivery_of_identical_event_is_idempotent(local_cloud, sample_csv):
    """The exact same S3 notification body twice: one import item, one execution."""
    cloud = local_cloud
    bucket = cloud.ref("UploadsBucket")
    key = f"incoming/exact-{time.time_ns()}.csv"
    cloud.client("s3").put_object(Bucket=bucket, Key=key, Body=sample_csv.read_bytes())
    wait_for_import(cloud, wait_for_history(cloud, lambda i: i["key"] == key)["id"])
    event = {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-01-02T03:04:05.000Z", "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "x", "bucket": {"name": bucket},
               "object": {"key": key, "size": 10, "sequencer": "0062E99A88DC407460"}}}]}
    before = len(_executions(cloud))
    sqs = cloud.client("sqs")
    sqs.send_message(QueueUrl=cloud.ref("ImportQueue"), MessageBody=json.dumps(event))
    sqs.send_message(QueueUrl=cloud.ref("ImportQueue"), MessageBody=json.dumps(event))
    redelivered = wait_for_history(cloud, lambda i: i["key"] == key and i["created_at"] and
                                   i["id"].startswith("imp_20260102T030405_"))
    wait_for_import(cloud, redelivered["id"])
    time.sleep(2)
    ids = [i["id"] for i in api_session(cloud, "reader").get(f"{cloud.api_url}/imports?limit=100", timeout=30).json()["items"]
           if i["id"].startswith("imp_20260102T030405_") and i["key"] == key]
    assert ids == [redelivered["id"]]
    assert len(_executions(cloud)) == before + 1


def test_chunk_failing_once_is_retried_and_counted_exactly(empty_catalog, generated_20k, monkeypatch):
    """A chunk dies after writing its products but before counting them; the retry must count
    what the first attempt wrote (as created), not as unchanged, and never twice."""
    from catalog.imports import progress as imports_module
    cloud = empty_catalog
    expected = expected_catalog(generated_20k)
    original = imports_module.ImportStore.record_chunk
    failures = []

    def record_chunk_failing_once(self, import_id, chunk_index, counts):
        if chunk_index == 3 and not failures:
            failures.append(counts)
            raise RuntimeError("simulated crash after the chunk's writes")
        return original(self, import_id, chunk_index, counts)

    monkeypatch.setattr(imports_module.ImportStore, "record_chunk", record_chunk_failing_once)
    item = wait_for_import(cloud, upload_via_api(cloud, generated_20k), timeout=300)
    assert failures, "the simulated failure did not happen"
    assert item["status"] == "SUCCEEDED", item
    assert item["created"] == len(expected)
    assert item["unchanged"] == 0
    assert item["rows_processed"] == 20000
    assert item["chunks_done"] == item["total_chunks"] == 20
    assert len(all_products(cloud)) == len(expected)


def test_cancel_stops_new_chunks_and_reports_what_was_written(empty_catalog, generated_20k):
    cloud = empty_catalog
    started, results = [], []
    gate = threading.Event()

    def slow_chunks(invoke, event):
        started.append((event["index"], time.monotonic()))
        gate.wait(timeout=60)
        result = invoke(event)
        results.append(result)
        return result

    cloud.functions.wrap("ProcessChunkFunction", slow_chunks)
    try:
        import_id = upload_via_api(cloud, generated_20k)
        deadline = time.monotonic() + 60
        while len(started) < 4 and time.monotonic() < deadline:   # the first wave (concurrency 4) is in
            time.sleep(0.05)
        response = api_session(cloud).post(f"{cloud.api_url}/imports/{import_id}/cancel", timeout=30)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "CANCELLED"
        gate.set()
        item = wait_for_import(cloud, import_id)
        time.sleep(2)
    finally:
        cloud.functions.wrap("ProcessChunkFunction", None)
        gate.set()

    item = get_import(cloud, import_id)
    assert item["status"] == "CANCELLED"
    worked = [r for r in results if "skipped" not in r]
    skipped = [r for r in results if "skipped" in r]
    assert len(worked) <= 4                       # only chunks started before the cancel wrote anything
    assert all(r["skipped"] == "CANCELLED" for r in skipped)
    assert item["chunks_done"] == len(worked) < 20
    assert item["created"] == sum(r["created"] for r in worked)
    assert len(all_products(cloud)) == item["created"]

    again = api_session(cloud).post(f"{cloud.api_url}/imports/{import_id}/cancel", timeout=30)
    assert again.status_code == 409
    assert "already ended" in again.json()["error"]


def test_api_rejects_bad_requests_with_named_fields(local_cloud):
    url = f"{local_cloud.api_url}/imports"
    http = api_session(local_cloud)
    missing = http.post(url, json={}, timeout=30)
    assert missing.status_code == 422
    assert missing.json()["fields"] == {"file_name": "is required"}
    bad_size = http.post(url, json={"file_name": "a.csv", "size": -1}, timeout=30)
    assert bad_size.status_code == 422 and "size" in bad_size.json()["fields"]
    not_json = http.post(url, data="{nope", headers={"content-type": "application/json"}, timeout=30)
    assert not_json.status_code == 400
    assert http.get(f"{url}/imp_nope", timeout=30).status_code == 404
    tampered = http.get(f"{url}?next=eyJpZCI6IngifQ.AAAA", timeout=30)
    assert tampered.status_code == 400 and "next" in tampered.json()["fields"]


def test_openapi_document_and_docs_page(local_cloud):
    document = api_session(local_cloud, "reader").get(f"{local_cloud.api_url}/openapi.json", timeout=30).json()
    assert {"/imports", "/imports/{import_id}", "/imports/{import_id}/cancel"} <= set(document["paths"])
    docs = api_session(local_cloud, "reader").get(f"{local_cloud.api_url}/docs", timeout=30)
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
