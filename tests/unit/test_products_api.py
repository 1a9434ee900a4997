"""Products API, in-process: the API handler (functions/api/app.py) called with API Gateway HTTP v2
events, against moto's DynamoDB and SQS with the tables the template defines."""
from __future__ import annotations

import importlib.util
import json
import random
import sys
from pathlib import Path
from urllib.parse import quote, urlencode

import boto3
import pytest
from moto import mock_aws

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
IMPORT_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:catalog-import"


def create_resources() -> str:
    sys.path.insert(0, str(ROOT))
    from local import template as tpl
    template = tpl.load(ROOT / "template.yaml")
    ddb = boto3.client("dynamodb", region_name=REGION)
    for logical, name in (("ProductsTable", "products"), ("ImportsTable", "imports")):
        props = template["Resources"][logical]["Properties"]
        ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                         **{k: props[k] for k in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes")})
    return boto3.client("sqs", region_name=REGION).create_queue(QueueName="events")["QueueUrl"]


@pytest.fixture
def aws(monkeypatch, moto_env):
    monkeypatch.setenv("PRODUCTS_TABLE", "products")
    monkeypatch.setenv("IMPORTS_TABLE", "imports")
    monkeypatch.setenv("STATE_MACHINE_ARN", IMPORT_ARN)
    with mock_aws():
        queue_url = create_resources()
        monkeypatch.setenv("EVENTS_QUEUE_URL", queue_url)
        from catalog.aws import client
        from catalog.settings import get_settings
        get_settings.cache_clear()
        client.cache_clear()
        yield queue_url
        get_settings.cache_clear()
        client.cache_clear()


@pytest.fixture(scope="module")
def api_app():
    code_dir = ROOT / "functions" / "api"
    sys.path.insert(0, str(code_dir))
    spec = importlib.util.spec_from_file_location("products_test_api_app", code_dir / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Context:
    function_name = "api"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:api"
    aws_request_id = "req"

    @staticmethod
    def get_remaining_time_in_millis():
        return 30_000


class Api:
    def __init__(self, module):
        self.module = module

    def __call__(self, method: str, path: str, body=None, query: dict | None = None, raw_body: str | None = None):
        query = {k: v for k, v in (query or {}).items() if v is not None}
        event = {
            "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": urlencode(query),
            "headers": {"content-type": "application/json"}, "queryStringParameters": query or None,
            "requestContext": {"http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                                        "sourceIp": "127.0.0.1", "userAgent": "test"},
                               "requestId": "r", "routeKey": "$default", "stage": "$default"},
            "body": raw_body if raw_body is not None else (json.dumps(body) if body is not None else None),
            "isBase64Encoded": False,
        }
        result = self.module.lambda_handler(event, Context())
        payload = json.loads(result["body"]) if result.get("body") else None
        return result["statusCode"], payload


@pytest.fixture
def api(aws, api_app):
    return Api(api_app)


def drain_events(queue_url: str) -> list[dict]:
    sqs = boto3.client("sqs", region_name=REGION)
    out = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return out
        for m in messages:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])


def load_products(products: list[dict]) -> None:
    """Batch-writes products as an import would (items + stats)."""
    from catalog.products import Product, ProductStore, shard_of
    from catalog.stats import CatalogStats
    now = "2024-01-01T00:00:00.000000Z"
    items = [Product(p["sku"], p["name"], p.get("description", ""), p.get("price"), p.get("active", True),
                     f"id-{i}", now, now).to_item() for i, p in enumerate(products)]
    ProductStore("products").write_many(items)
    CatalogStats("imports").add(len(items), {shard_of(p["sku"].lower()) for p in products})


def order_key(sku: str):
    from catalog.products import shard_of
    key = sku.lower()
    return (shard_of(key), key)


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
WORDS = ["steel", "oak", "linen", "Café", "matte", "garden"]


def catalog(n: int = 260, seed: int = 7) -> list[dict]:
    rnd = random.Random(seed)
    out, seen = [], set()
    while len(out) < n:
        sku = rnd.choice(["AB", "Ab", "ac", "b", "Zq", "x9", "AC"]) + rnd.choice(["", "-", "c"]) + str(rnd.randint(0, 9999))
        if sku.lower() in seen:
            continue
        seen.add(sku.lower())
        out.append({"sku": sku, "name": f"{rnd.choice(WORDS)} {rnd.choice(WORDS)} {len(out)}",
                    "active": rnd.random() > 0.3, "price": f"{rnd.randint(0, 999)}.{rnd.randint(0, 99):02d}"})
    out.append({"sku": "z", "name": "one-char sku", "active": False})
    return out


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
    assert page["total"] == len(products) and page["matches"] == len(products) and len(page["items"]) == 5
    status, page = api("GET", "/products", query={"sku": "ab", "limit": "5"})
    assert page["matches"] == len(expected(products, sku="ab"))
    status, page = api("GET", "/products", query={"q": "zzqx"})
    assert page["matches"] == 0 and page["items"] == [] and page["next"] is None
    status, page = api("GET", "/products")
    assert page["limit"] == 50 and len(page["items"]) == 50


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
    api("POST", "/products", {"sku": "new-1", "name": "n"})
    api("DELETE", "/products/new-1")
    api("DELETE", "/products/z")
    assert api("GET", "/products")[1]["total"] == 30


def test_openapi_documents_products(api):
    status, doc = api("GET", "/openapi.json")
    assert status == 200
    assert {"/products", "/products/{sku}", "/products/delete-all/{job_id}"} <= set(doc["paths"])
