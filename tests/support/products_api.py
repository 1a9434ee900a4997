"""Helpers for the products API tests: the tables and queue in moto, the API handler called with
API Gateway HTTP v2 events, events drained from the queue, a generated small catalog."""
from __future__ import annotations

import json
import random
from urllib.parse import unquote, urlencode

import boto3

from catalog.imports.rows import ProductRow
from catalog.products.catalog_store import CatalogStore
from catalog.products.catalogs import catalog_store
from catalog.products.store import shard_of
from catalog.shared.settings import get_settings
from tests.support.auth import AUTHORIZER
from tests.support.handlers import load_function_module
from tests.support.template_resources import create_table

REGION = "us-east-1"
IMPORT_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:catalog-import"
DELETE_ALL_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:catalog-delete-all"


def create_resources() -> str:
    """The products and imports tables (as the template defines them) and an events queue; returns its URL."""
    create_table("ProductsTable", "products", REGION)
    create_table("ImportsTable", "imports", REGION)
    return boto3.client("sqs", region_name=REGION).create_queue(QueueName="events")["QueueUrl"]


class Context:
    function_name = "api"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:api"
    aws_request_id = "req"

    @staticmethod
    def get_remaining_time_in_millis():
        return 30_000


class Api:
    def __init__(self, module, role: str = "admin"):
        self.module = module
        self.role = role        # whose claims the authorizer passes in (tests.support.auth.AUTHORIZER)

    def __call__(self, method: str, path: str, body=None, query: dict | None = None, raw_body: str | None = None):
        query = {k: v for k, v in (query or {}).items() if v is not None}
        path = unquote(path)    # `path` as a client sends it; API Gateway's HTTP API hands it on decoded
        event = {
            "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": urlencode(query),
            "headers": {"content-type": "application/json"}, "queryStringParameters": query or None,
            "requestContext": {"http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                                        "sourceIp": "127.0.0.1", "userAgent": "test"},
                               "requestId": "r", "routeKey": "$default", "stage": "$default",
                               "authorizer": AUTHORIZER[self.role]},
            "body": raw_body if raw_body is not None else (json.dumps(body) if body is not None else None),
            "isBase64Encoded": False,
        }
        result = self.module.lambda_handler(event, Context())
        payload = json.loads(result["body"]) if result.get("body") else None
        return result["statusCode"], payload


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


STORES = ("dynamodb", "aurora")     # the catalog stores (template parameter CatalogStore)


def load_products(products: list[dict], store: CatalogStore | None = None) -> None:
    """Writes products as an import's chunk would, into the configured catalog store (or `store`)."""
    rows = {p["sku"].lower(): ProductRow(i + 2, p["sku"].lower(), p["sku"], p["name"], p.get("description", ""),
                                         p.get("price"), p.get("active", True)) for i, p in enumerate(products)}
    store = store if store is not None else catalog_store(get_settings())
    write = store.write_chunk("imp_20240101T000000_000000000000", 0, rows, fresh=True,
                              now="2024-01-01T00:00:00.000000Z")
    store.chunk_counted(write)


def order_key(sku: str, store: str | None = None):
    """Where a SKU comes in a listing of the configured catalog store (or `store`): DynamoDB pages
    walk shard by shard (a one-character key's shard is "<c>_"); PostgreSQL pages follow the key."""
    key = sku.lower()
    return (shard_of(key), key) if (store or get_settings().catalog_store) == "dynamodb" else ("", key)


def load_api_module():
    """functions/api/app.py, imported as Lambda would (see tests/support/handlers.py)."""
    return load_function_module("api")


WORDS = ["steel", "oak", "linen", "Café", "matte", "garden"]


def catalog(n: int = 260, seed: int = 7) -> list[dict]:
    """Exactly `n` products with random, case-insensitively unique SKUs; the last one (when n > 0)
    has the one-character SKU "z", an edge case of the shard and sort keys."""
    rnd = random.Random(seed)
    out, seen = [], {"z"}
    while len(out) < n - 1:
        sku = rnd.choice(["AB", "Ab", "ac", "b", "Zq", "x9", "AC"]) + rnd.choice(["", "-", "c"]) + str(rnd.randint(0, 9999))
        if sku.lower() in seen:
            continue
        seen.add(sku.lower())
        out.append({"sku": sku, "name": f"{rnd.choice(WORDS)} {rnd.choice(WORDS)} {len(out)}",
                    "active": rnd.random() > 0.3, "price": f"{rnd.randint(0, 999)}.{rnd.randint(0, 99):02d}"})
    if n > 0:
        out.append({"sku": "z", "name": "one-char sku", "active": False})
    return out
