"""Products API, in-process: the API handler (functions/api/app.py) called with API Gateway HTTP v2
events, against moto's DynamoDB and SQS with the tables the template defines."""
from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.support.products_api import catalog, drain_events, load_products, order_key


# --- create / read -------------------------------------------------------------------------
def test_create_get_and_event(api, aws):
    status, body = api("POST", "/products", {"sku": " ABC-1 ", "name": "Steel Mug", "price": "12.5",
                                              "description": "Big", "active": True})
    assert status == 201, body
    assert body["sku"] == "ABC-1" and body["name"] == "Steel Mug" and body["price"] == "12.50"
    assert body["created_at"] == body["updated_at"] and body["id"]
    status, got = api("GET", "/products/abc-1")
    assert status == 200 and got == body
    events = drain_events(aws)
    assert [e["type"] for e in events] == ["product.created"]
    assert events[0]["data"]["sku"] == "ABC-1" and set(events[0]) == {"id", "type", "timestamp", "data"}
    status, page = api("GET", "/products")
    assert page["total"] == 1 and [p["sku"] for p in page["items"]] == ["ABC-1"]


def test_duplicate_sku_in_other_case_is_409(api, aws):
    assert api("POST", "/products", {"sku": "abc-1", "name": "A"})[0] == 201
    status, body = api("POST", "/products", {"sku": "ABC-1 ", "name": "B"})
    assert status == 409 and "sku" in body["fields"] and "abc-1" in body["error"]
    assert api("GET", "/products")[1]["total"] == 1


@pytest.mark.parametrize("body, field", [
    ({"name": "x"}, "sku"),
    ({"sku": "a"}, "name"),
    ({"sku": "  ", "name": "x"}, "sku"),
    ({"sku": "a", "name": "   "}, "name"),
    ({"sku": "a", "name": 123}, "name"),
    ({"sku": 5, "name": "x"}, "sku"),
    ({"sku": "a", "name": "x", "price": -1}, "price"),
    ({"sku": "a", "name": "x", "price": "-0.01"}, "price"),
    ({"sku": "a", "name": "x", "price": "abc"}, "price"),
    ({"sku": "a", "name": "x", "price": "1.234"}, "price"),
    ({"sku": "a", "name": "x", "price": True}, "price"),
    ({"sku": "a", "name": "x", "price": "1e12"}, "price"),
    ({"sku": "a", "name": "x", "active": "maybe"}, "active"),
    ({"sku": "a", "name": "x", "active": 7}, "active"),
    ({"sku": "a" * 65, "name": "x"}, "sku"),
    ({"sku": "a", "name": "x" * 256}, "name"),
    ({"sku": "a", "name": "x", "description": "d" * 4001}, "description"),
    ({"sku": "a\tb", "name": "x"}, "sku"),
    ({"sku": "a", "name": "x", "colour": "red"}, "colour"),
])
def test_create_rejects_bad_input_naming_the_field(api, body, field):
    status, reply = api("POST", "/products", body)
    assert status == 422, reply
    assert field in reply["fields"], reply
    assert api("GET", "/products")[1]["total"] == 0


def test_create_rejects_invalid_json(api):
    status, reply = api("POST", "/products", raw_body="{not json")
    assert status in (400, 422) and reply["error"]


def test_unknown_sku_is_404(api):
    for method in ("GET", "DELETE"):
        status, body = api(method, "/products/nope")
        assert status == 404 and "nope" in body["error"]
    assert api("PUT", "/products/nope", {"name": "x"})[0] == 404
    assert api("PATCH", "/products/nope", {"name": "x"})[0] == 404


# --- updates ---------------------------------------------------------------------------------
def test_put_replaces_content_and_keeps_identity(api, aws):
    _, created = api("POST", "/products", {"sku": "Mug-1", "name": "Mug", "price": "3", "description": "d"})
    drain_events(aws)
    status, body = api("PUT", "/products/mug-1", {"name": "Big mug", "price": 4.25})
    assert status == 200, body
    assert body["id"] == created["id"] and body["created_at"] == created["created_at"]
    assert body["updated_at"] > created["updated_at"]
    assert (body["sku"], body["name"], body["price"], body["description"], body["active"]) == \
        ("Mug-1", "Big mug", "4.25", "", True)
    assert [e["type"] for e in drain_events(aws)] == ["product.updated"]
    # the same content again: nothing written, nothing published
    status, again = api("PUT", "/products/MUG-1", {"name": "Big mug", "price": "4.25", "id": "ignored"})
    assert status == 200 and again["updated_at"] == body["updated_at"]
    assert drain_events(aws) == []


def test_sku_cannot_change(api):
    api("POST", "/products", {"sku": "Mug-1", "name": "Mug"})
    status, body = api("PUT", "/products/Mug-1", {"sku": "Mug-2", "name": "Mug"})
    assert status == 422 and "sku" in body["fields"] and "cannot be changed" in body["error"]
    status, body = api("PATCH", "/products/Mug-1", {"sku": "Mug-2"})
    assert status == 422 and "sku" in body["fields"]
    # same SKU in another letter case: allowed, the display form follows the body
    status, body = api("PATCH", "/products/mug-1", {"sku": "MUG-1"})
    assert status == 200 and body["sku"] == "MUG-1"
    assert api("GET", "/products")[1]["total"] == 1


def test_patch_changes_only_given_fields(api, aws):
    api("POST", "/products", {"sku": "s1", "name": "Lamp", "price": "10", "description": "x"})
    drain_events(aws)
    status, body = api("PATCH", "/products/S1", {"active": False})
    assert status == 200 and body["active"] is False and body["price"] == "10.00" and body["description"] == "x"
    assert [e["type"] for e in drain_events(aws)] == ["product.updated"]
    status, body = api("PATCH", "/products/s1", {"price": None})
    assert status == 200 and body["price"] is None and body["active"] is False
    assert api("PATCH", "/products/s1", {})[0] == 422
    status, body = api("PATCH", "/products/s1", {"name": None})
    assert status == 422 and "name" in body["fields"]
    status, body = api("PATCH", "/products/s1", {"price": "-3"})
    assert status == 422 and "price" in body["fields"]
    status, page = api("GET", "/products", query={"active": "false"})
    assert [p["sku"] for p in page["items"]] == ["s1"]


def test_delete_product(api, aws):
    api("POST", "/products", {"sku": "Gone-1", "name": "G"})
    api("POST", "/products", {"sku": "Kept-1", "name": "K"})
    drain_events(aws)
    status, body = api("DELETE", "/products/GONE-1")
    assert status == 200 and body["deleted"]["sku"] == "Gone-1"
    events = drain_events(aws)
    assert [e["type"] for e in events] == ["product.deleted"] and events[0]["data"]["sku"] == "Gone-1"
    assert api("GET", "/products/gone-1")[0] == 404
    assert api("DELETE", "/products/gone-1")[0] == 404
    assert api("GET", "/products")[1]["total"] == 1


def test_url_encoded_sku_in_path(api):
    api("POST", "/products", {"sku": "A B#1", "name": "Spaced"})
    status, body = api("GET", "/products/" + quote("a b#1", safe=""))
    assert status == 200 and body["sku"] == "A B#1"


# --- listing -----------------------------------------------------------------------------------
def walk(api, query: dict, limit: int) -> tuple[list[list[str]], list[str | None]]:
    pages, prevs, cursor = [], [], None
    while True:
        status, page = api("GET", "/products", query={**query, "limit": str(limit), "cursor": cursor})
        assert status == 200, page
        pages.append([p["sku"] for p in page["items"]])
        prevs.append(page["prev"])
        cursor = page["next"]
        if not cursor:
            return pages, prevs
        assert len(pages) < 1000


def expected(products, sku=None, q=None, active=None) -> list[str]:
    out = [p for p in products
           if (sku is None or p["sku"].lower().startswith(sku.lower()))
           and (q is None or q.lower() in p["name"].lower())
           and (active is None or p.get("active", True) == active)]
    return [p["sku"] for p in sorted(out, key=lambda p: order_key(p["sku"]))]


@pytest.mark.parametrize("query, kwargs", [
    ({}, {}),
    ({"sku": "a"}, {"sku": "a"}),
    ({"sku": "AB"}, {"sku": "ab"}),
    ({"sku": "ab-1"}, {"sku": "ab-1"}),
    ({"active": "false"}, {"active": False}),
    ({"active": "true"}, {"active": True}),
    ({"q": "STEEL"}, {"q": "steel"}),
    ({"name": "café"}, {"q": "café"}),
    ({"q": "oak", "active": "false"}, {"q": "oak", "active": False}),
    ({"q": "linen", "active": "true", "sku": "a"}, {"q": "linen", "active": True, "sku": "a"}),
    ({"q": "zzqx"}, {"q": "zzqx"}),
    ({"q": "17"}, {"q": "17"}),                                   # rare: the walk hands over to a scan
    ({"q": "17", "active": "true"}, {"q": "17", "active": True}),
    ({"q": "1", "sku": "a"}, {"q": "1", "sku": "a"}),
    ({"sku": "qq"}, {"sku": "qq"}),
])
def test_pagination_walks_everything_once_forward_and_back(api, query, kwargs):
    products = catalog()
    load_products(products)
    want = expected(products, **kwargs)
    pages, prevs = walk(api, query, limit=9)
    got = [s for page in pages for s in page]
    assert got == want
    assert prevs[0] is None and all(prevs[1:])
    assert all(len(p) == 9 for p in pages[:-1])
    # back from the last page, following prev, gives the same pages
    if len(pages) > 1:
        cursor, back = prevs[-1], []
        while cursor:
            status, page = api("GET", "/products", query={**query, "limit": "9", "cursor": cursor})
            assert status == 200, page
            back.append([p["sku"] for p in page["items"]])
            cursor = page["prev"]
            if cursor:  # a backward page also offers the way forward again
                assert page["next"]
        assert back == pages[-2::-1]


def test_listing_totals_and_matches(api):
    products = catalog()
    load_products(products)
    status, page = api("GET", "/products", query={"limit": "5"})
    assert status == 200 and page["total"] == len(products) and page["matches"] == len(products)
    assert len(page["items"]) == 5
    status, page = api("GET", "/products", query={"sku": "ab", "limit": "5"})
    assert status == 200 and page["matches"] == len(expected(products, sku="ab"))
    status, page = api("GET", "/products", query={"q": "zzqx"})
    assert status == 200 and page["matches"] == 0 and page["items"] == [] and page["next"] is None
    status, page = api("GET", "/products")
    assert status == 200 and page["limit"] == 50 and len(page["items"]) == 50


@pytest.mark.parametrize("aws", ["dynamodb"], indirect=True)     # the DynamoDB listing's walk
def test_rare_name_search_scans_the_rest_and_counts_matches(api, monkeypatch):
    from catalog.products import listing as products_query
    # 12 shards of 10 products; "walnut" only in the last 8 shards, so the first batch finds none
    products = [{"sku": f"{chr(97 + s)}{chr(97 + s)}-{i}", "name": ("walnut " if s >= 4 and i % 3 == 0 else "oak ") + str(i)}
                for s in range(12) for i in range(10)]
    load_products(products)
    scans = []
    real = products_query.ProductQuery._scan_rest
    monkeypatch.setattr(products_query.ProductQuery, "_scan_rest",
                        lambda self, *args: scans.append(args[1]) or real(self, *args))
    want = expected(products, q="walnut")
    assert len(want) == 32
    pages, prevs = walk(api, {"q": "WALNUT"}, limit=5)
    assert [s for page in pages for s in page] == want and all(len(p) == 5 for p in pages[:-1])
    assert scans and scans[0] == "dd"                 # the first page scanned after the first 4 shards
    status, page = api("GET", "/products", query={"q": "walnut", "limit": "5"})
    assert page["matches"] == 32
    # backwards from the last page as well
    cursor, back = prevs[-1], []
    while cursor:
        status, page = api("GET", "/products", query={"q": "walnut", "limit": "5", "cursor": cursor})
        back.append([p["sku"] for p in page["items"]])
        cursor = page["prev"]
    assert back == pages[-2::-1]
    # a common word fills its page from the first shards, without a scan
    scans.clear()
    status, page = api("GET", "/products", query={"q": "oak", "limit": "5"})
    assert status == 200 and len(page["items"]) == 5 and scans == []


def test_bad_cursor_and_limit(api):
    load_products(catalog(40))
    _, page = api("GET", "/products", query={"limit": "5"})
    cursor = page["next"]
    payload, tag = cursor.split(".")
    tampered = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1] + "." + tag
    for bad in (tampered, "garbage", cursor + "x"):
        status, body = api("GET", "/products", query={"cursor": bad})
        assert status == 400 and "cursor" in body["fields"], body
    status, body = api("GET", "/products", query={"cursor": cursor, "sku": "a"})
    assert status == 400 and "other filters" in body["fields"]["cursor"]
    for limit in ("0", "201", "x"):
        status, body = api("GET", "/products", query={"limit": limit})
        assert status == 422 and "limit" in body["fields"]
    status, body = api("GET", "/products", query={"active": "maybe"})
    assert status == 422 and "active" in body["fields"]


def test_stats_follow_api_writes(api):
    load_products(catalog(30))
    assert api("GET", "/products")[1]["total"] == 30
    assert api("POST", "/products", {"sku": "new-1", "name": "n"})[0] == 201
    assert api("GET", "/products")[1]["total"] == 31
    assert api("DELETE", "/products/new-1")[0] == 200
    assert api("DELETE", "/products/z")[0] == 200
    assert api("GET", "/products")[1]["total"] == 29


def test_openapi_documents_products(api):
    status, doc = api("GET", "/openapi.json")
    assert status == 200
    assert {"/products", "/products/{sku}", "/products/delete-all/{job_id}"} <= set(doc["paths"])
