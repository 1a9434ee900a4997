"""Helpers for tests that drive the local cloud through its real entry points."""
from __future__ import annotations

import time
from pathlib import Path

import requests

TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


def upload_via_api(cloud, path: Path | str, file_name: str | None = None) -> str:
    """POST /imports, then the browser's multipart POST to the presigned S3 form. Returns the import id."""
    path = Path(path)
    response = requests.post(f"{cloud.api_url}/imports",
                             json={"file_name": file_name or path.name, "size": path.stat().st_size}, timeout=30)
    assert response.status_code == 201, response.text
    body = response.json()
    upload = body["upload"]
    with path.open("rb") as f:
        s3_response = requests.post(upload["url"], data=upload["fields"], files={"file": (path.name, f)}, timeout=120)
    assert s3_response.status_code in (200, 201, 204), s3_response.text
    return body["import"]["id"]


def wait_until(predicate, timeout: float = 30.0, message: str = "condition"):
    """Polls predicate() until it returns something truthy, and returns that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{message} not met after {timeout}s")


def get_import(cloud, import_id: str) -> dict:
    response = requests.get(f"{cloud.api_url}/imports/{import_id}", timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def wait_for_import(cloud, import_id: str, timeout: float = 120.0, statuses=TERMINAL) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = requests.get(f"{cloud.api_url}/imports/{import_id}", timeout=30)
        if response.status_code == 200 and response.json()["status"] in statuses:
            return response.json()
        time.sleep(0.2)
    raise AssertionError(f"import {import_id} not in {statuses} after {timeout}s: {response.text}")


def wait_for_history(cloud, predicate, timeout: float = 60.0) -> dict:
    """Waits until an import in the history matches predicate(item); returns it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items = requests.get(f"{cloud.api_url}/imports?limit=100", timeout=30).json()["items"]
        for item in items:
            if predicate(item):
                return item
        time.sleep(0.2)
    raise AssertionError("no matching import appeared in the history")


def all_products(cloud) -> dict[str, dict]:
    """Every product item, by sku_key, straight from DynamoDB."""
    ddb = cloud.client("dynamodb")
    items: dict[str, dict] = {}
    for page in ddb.get_paginator("scan").paginate(TableName=cloud.ref("ProductsTable"), ConsistentRead=True):
        for item in page["Items"]:
            items[item["sku_key"]["S"]] = item
    return items


def clear_catalog(cloud) -> None:
    """Deletes every product and resets the catalog totals, so a test starts from an empty catalog."""
    ddb = cloud.client("dynamodb")
    table = cloud.ref("ProductsTable")
    keys = list(all_products(cloud))
    for start in range(0, len(keys), 25):
        pending = {table: [{"DeleteRequest": {"Key": {"sku_key": {"S": k}}}} for k in keys[start:start + 25]]}
        while pending:
            pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    ddb.put_item(TableName=cloud.ref("ImportsTable"),
                 Item={"id": {"S": "catalog#stats"}, "product_count": {"N": "0"}})
