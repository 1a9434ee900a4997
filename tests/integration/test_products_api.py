"""Products API end to end through the local cloud (HTTP API -> api function -> the catalog store the
session's cloud runs, --catalog-store: PostgreSQL through the RDS Data API, or DynamoDB on dynalite;
delete-all through the real delete-all state machine in moto's Step Functions; events off the events
queue). Products are loaded and read back through the catalog store seam."""
from __future__ import annotations

import random

import pytest

from tests.support.auth import api_session
from tests.support.cloud import (
    all_products,
    catalog_store_of,
    clear_catalog,
    store_name,
    upload_via_api,
    wait_for_import,
    wait_until,
)
from tests.support.products_api import load_products, order_key


@pytest.fixture
def cloud(local_cloud):
    clear_catalog(local_cloud)
    return local_cloud




def load(cloud, products: list[dict]) -> None:
    """Writes products into the cloud's catalog as an import's chunk would (write_chunk, then
    chunk_counted: whatever counts the store keeps follow)."""
    load_products(products, store=catalog_store_of(cloud))


def generated(n: int, seed: int = 3) -> list[dict]:
    rnd = random.Random(seed)
    words = ["steel", "oak", "linen", "matte", "garden", "Crème"]
    out, seen = [], set()
    while len(out) < n:
        sku = "".join(rnd.choice("ABCDEFGH") for _ in range(3)) + f"-{rnd.randint(0, 99999):05d}"
        if sku.lower() in seen:
            continue
        seen.add(sku.lower())
        name = " ".join(rnd.choice(words) for _ in range(3)) + (" walnut" if rnd.random() < 0.1 else "")
        out.append({"sku": sku, "name": name, "active": rnd.random() > 0.2})
    return out


def api(cloud, method, path, **kwargs):
    response = api_session(cloud).request(method, cloud.api_url + path, timeout=60, **kwargs)
    return response.status_code, (response.json() if response.content else None)


def test_crud_over_http_publishes_events(cloud, captured_events):
    status, created = api(cloud, "POST", "/products", json={"sku": "Int-1", "name": "Steel pan", "price": "9.99"})
    assert status == 201, created
    status, body = api(cloud, "POST", "/products", json={"sku": "INT-1", "name": "dup"})
    assert status == 409 and "sku" in body["fields"]
    status, body = api(cloud, "POST", "/products", json={"sku": "Int-2", "name": "x", "price": "-1"})
    assert status == 422 and "price" in body["fields"]
    assert api(cloud, "GET", "/products/int-1")[1]["id"] == created["id"]
    status, patched = api(cloud, "PATCH", "/products/INT-1", json={"active": False})
    assert status == 200 and patched["active"] is False and patched["created_at"] == created["created_at"]
    status, body = api(cloud, "PUT", "/products/int-1", json={"sku": "other", "name": "x"})
    assert status == 422 and "sku" in body["fields"]
    status, replaced = api(cloud, "PUT", "/products/int-1", json={"name": "Steel pan 2", "price": 10})
    assert status == 200 and replaced["price"] == "10.00" and replaced["active"] is True
    status, page = api(cloud, "GET", "/products", params={"active": "false"})
    assert page["items"] == []
    assert api(cloud, "DELETE", "/products/int-1")[0] == 200
    assert api(cloud, "GET", "/products/int-1")[0] == 404
    assert api(cloud, "GET", "/products")[1]["total"] == 0

    def ours():
        return [e for e in captured_events if e["type"].startswith("product.") and e["data"].get("sku") == "Int-1"]
    wait_until(lambda: len(ours()) >= 4, message="four product events")
    assert [e["type"] for e in ours()] == ["product.created", "product.updated", "product.updated", "product.deleted"]
    assert all(set(e) == {"id", "type", "timestamp", "data"} for e in ours())


@pytest.mark.parametrize("params, keep", [
    ({}, lambda p: True),
    ({"sku": "ab"}, lambda p: p["sku"].lower().startswith("ab")),
    ({"sku": "c"}, lambda p: p["sku"].lower().startswith("c")),
    ({"active": "false"}, lambda p: not p["active"]),
    ({"q": "LINEN"}, lambda p: "linen" in p["name"].lower()),
    ({"q": "crème", "active": "true"}, lambda p: "crème" in p["name"].lower() and p["active"]),
    ({"q": "Walnut"}, lambda p: "walnut" in p["name"]),            # rare: the walk hands over to a scan
    ({"q": "walnut", "active": "false"}, lambda p: "walnut" in p["name"] and not p["active"]),
])
def test_pagination_walks_the_catalog_once(cloud, params, keep):
    products = generated(1500)
    load(cloud, products)
    want = [p["sku"] for p in sorted(products, key=lambda p: p["sku"].lower()) if keep(p)]
    got, cursor, pages = [], None, 0
    while True:
        status, page = api(cloud, "GET", "/products", params={**params, "limit": 97, "cursor": cursor})
        assert status == 200, page
        assert page["total"] == 1500
        got += [p["sku"] for p in page["items"]]
        pages += 1
        cursor = page["next"]
        if not cursor:
            break
    assert got == want and len(set(got)) == len(got)
    # and back: prev from the last page walks to the first
    status, page = api(cloud, "GET", "/products", params={**params, "limit": 97, "cursor": None})
    first = [p["sku"] for p in page["items"]]
    status, body = api(cloud, "GET", "/products", params={**params, "cursor": "x" + (page["next"] or "y.z")})
    assert status == 400 and "cursor" in body["fields"]
    assert first == want[:97]
    if params.get("q", "").lower() == "walnut":
        assert page["matches"] == len(want)     # a rare name search scans the rest, so it knows its count


def test_delete_all_empties_a_few_thousand_products(cloud, captured_events):
    load(cloud, generated(4000, seed=9))
    status, job = api(cloud, "DELETE", "/products")
    assert status == 202, job
    status, body = api(cloud, "DELETE", "/products")
    assert status == 409 and "already running" in body["error"]

    def finished():
        _, view = api(cloud, "GET", f"/products/delete-all/{job['id']}")
        return view if view["status"] in ("SUCCEEDED", "FAILED") else None
    view = wait_until(finished, timeout=120, message="delete-all to finish")
    assert view["status"] == "SUCCEEDED", view
    assert view["deleted"] == 4000 and view["percent"] == 100.0
    assert all_products(cloud) == {}
    _, page = api(cloud, "GET", "/products")
    assert page["total"] == 0 and page["items"] == []
    wait_until(lambda: [e for e in captured_events if e["type"] == "products.deleted_all"
                      and e["data"]["id"] == job["id"]], message="products.deleted_all")
    assert api(cloud, "POST", "/products", json={"sku": "after", "name": "n"})[0] == 201


def test_import_then_list_uses_the_stats(cloud, sample_csv):
    import_id = upload_via_api(cloud, sample_csv)
    summary = wait_for_import(cloud, import_id)
    assert summary["status"] == "SUCCEEDED", summary
    _, page = api(cloud, "GET", "/products", params={"limit": 200})
    assert page["total"] == len(all_products(cloud)) == summary["created"]
    skus = [p["sku"].lower() for p in page["items"]]
    assert skus == sorted(skus, key=lambda k: order_key(k, store_name(cloud)))
