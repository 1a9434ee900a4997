"""Helpers for tests that drive the local cloud through its real entry points (the API with a token:
tests/support/auth.py)."""
from __future__ import annotations

import os
import time
from decimal import Decimal
from pathlib import Path

import requests

from catalog.products.catalog_store import CatalogStore
from catalog.products.catalogs import catalog_store
from catalog.products.pages import MAX_LIMIT, ProductFilter
from catalog.products.sql import SqlClient
from catalog.shared.settings import settings_from
from tests.support.auth import api_session

TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


def upload_via_api(cloud, path: Path | str, file_name: str | None = None, mode: str = "import") -> str:
    """POST /imports (`mode`: import or preview), then the browser's multipart POST to the presigned
    S3 form. Returns the import id."""
    path = Path(path)
    response = api_session(cloud).post(f"{cloud.api_url}/imports",
                                       json={"file_name": file_name or path.name, "size": path.stat().st_size,
                                             "mode": mode},
                                       timeout=30)
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
    response = api_session(cloud, "reader").get(f"{cloud.api_url}/imports/{import_id}", timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def wait_for_import(cloud, import_id: str, timeout: float = 120.0, statuses=TERMINAL) -> dict:
    deadline = time.monotonic() + timeout
    http = api_session(cloud, "reader")
    while time.monotonic() < deadline:
        response = http.get(f"{cloud.api_url}/imports/{import_id}", timeout=30)
        if response.status_code == 200 and response.json()["status"] in statuses:
            return response.json()
        time.sleep(0.2)
    raise AssertionError(f"import {import_id} not in {statuses} after {timeout}s: {response.text}")


def wait_for_history(cloud, predicate, timeout: float = 60.0) -> dict:
    """Waits until an import in the history matches predicate(item); returns it."""
    deadline = time.monotonic() + timeout
    http = api_session(cloud, "reader")
    while time.monotonic() < deadline:
        items = http.get(f"{cloud.api_url}/imports?limit=100", timeout=30).json()["items"]
        for item in items:
            if predicate(item):
                return item
        time.sleep(0.2)
    raise AssertionError("no matching import appeared in the history")


def catalog_store_of(cloud) -> CatalogStore:
    """The catalog store the cloud's handlers use, through the seam (catalog_store(settings)).

    The local cloud runs in this process and set the environment the handlers' settings come from
    (CATALOG_STORE, CATALOG_DB_*, PRODUCTS_TABLE, AWS_ENDPOINT_URL_*), so the same settings reach
    the same catalog. They are read afresh rather than through get_settings(), whose cached
    instance (with its cursor key) belongs to the handlers."""
    settings = settings_from(os.environ)
    assert settings.catalog_store == cloud.environment["CATALOG_STORE"], \
        f"this process's settings name the {settings.catalog_store} store, the cloud runs {cloud.environment['CATALOG_STORE']}"
    return catalog_store(settings)


def store_name(cloud) -> str:
    """The catalog store the cloud runs (template parameter CatalogStore): "aurora" or "dynamodb"."""
    return cloud.environment["CATALOG_STORE"]


def all_products(cloud) -> dict[str, dict]:
    """Every product, by sku_key, as the API shows it (Product.to_json(): price a string with two
    decimals or None, active a bool, timestamps as ISO strings), read through the catalog store
    seam: its listing walked page by page, each product once.

    The listing is checked against what is stored, read without the listing's indexes or the
    catalog stats (stored_products), so a product the listing misses, or shows otherwise than it
    is stored, fails the test instead of going unseen."""
    store = catalog_store_of(cloud)
    listed: dict[str, dict] = {}
    cursor = None
    while True:
        page = store.list_products(ProductFilter(), MAX_LIMIT, cursor)
        for item in page.items:
            key = item["sku"].lower()
            assert key not in listed, f"the listing shows {key} twice"
            listed[key] = item
        cursor = page.next
        if not cursor:
            break
    stored = stored_products(cloud)
    missing, extra = sorted(set(stored) - set(listed)), sorted(set(listed) - set(stored))
    assert not missing and not extra, f"the listing misses {missing[:10]} (of {len(missing)}) and shows " \
                                      f"{extra[:10]} (of {len(extra)}) that are not stored"
    differ = [key for key in stored if stored[key] != listed[key]]
    assert not differ, f"listed otherwise than stored: {[(stored[k], listed[k]) for k in differ[:3]]}"
    return listed


def _price(value: str | None) -> str | None:
    """A stored price as the API shows it: two decimals (DynamoDB keeps 13.5, PostgreSQL 13.50)."""
    return None if value is None else f"{Decimal(value):.2f}"


def stored_products(cloud) -> dict[str, dict]:
    """Every product, by sku_key, as stored, in Product.to_json()'s shape: straight from the
    store's own table (the one place the tests read a store's internals, to check the seam's
    listing against it): a consistent Scan of the products table, or every row of the products
    table through the Data API (in pages: a result is limited to 1 MB)."""
    settings = settings_from(os.environ)
    out: dict[str, dict] = {}
    if store_name(cloud) == "dynamodb":
        ddb = cloud.client("dynamodb")
        for page in ddb.get_paginator("scan").paginate(TableName=settings.products_table, ConsistentRead=True):
            for item in page["Items"]:
                out[item["sku_key"]["S"]] = {
                    "sku": item["sku"]["S"], "name": item["name"]["S"], "description": item["description"]["S"],
                    "price": _price(item["price"]["N"] if "price" in item else None),
                    "active": item["active"]["BOOL"], "id": item["id"]["S"],
                    "created_at": item["created_at"]["S"], "updated_at": item["updated_at"]["S"]}
        return out
    assert store_name(cloud) == "aurora", f"no reader for the {store_name(cloud)} store"
    db, after = SqlClient(settings.catalog_db_cluster_arn, settings.catalog_db_secret_arn, settings.catalog_db_name), ""
    timestamp = "to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS {}"
    while True:
        rows = db.query("SELECT sku_key, sku, name, description, price::text AS price, active, id, "
                        f"{timestamp.format('created_at', 'created_at')}, {timestamp.format('updated_at', 'updated_at')} "
                        "FROM products WHERE sku_key > :after ORDER BY sku_key LIMIT 1000", {"after": after})
        for row in rows:
            after = row.pop("sku_key")
            out[after] = {**row, "price": _price(row["price"])}
        if len(rows) < 1000:
            return out


def clear_catalog(cloud) -> None:
    """Empties the catalog through the seam, as a delete-all does (every segment to its end, the
    stragglers, the counts reset), so a test starts from an empty catalog."""
    store = catalog_store_of(cloud)
    for position in store.delete_all_segments(1000):
        done = False
        while not done:
            position, done = store.delete_segment(position, lambda count: None, lambda: False)
    store.delete_stragglers(lambda count: None)
    store.reset_counts()
    assert store.count() == 0 and stored_products(cloud) == {}, "the catalog is not empty"
