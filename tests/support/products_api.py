"""Helpers for the products API tests: the tables and queue in moto, the API handler called with
API Gateway HTTP v2 events, events drained from the queue, a generated small catalog."""
from __future__ import annotations

import importlib.util
import json
import random
import sys
from pathlib import Path
from urllib.parse import urlencode

import boto3

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
IMPORT_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:catalog-import"
DELETE_ALL_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:catalog-delete-all"


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
    from catalog.products.store import Product, ProductStore, shard_of
    from catalog.products.stats import CatalogStats
    now = "2024-01-01T00:00:00.000000Z"
    items = [Product(p["sku"], p["name"], p.get("description", ""), p.get("price"), p.get("active", True),
                     f"id-{i}", now, now).to_item() for i, p in enumerate(products)]
    ProductStore("products").write_many(items)
    CatalogStats("imports").add(len(items), {shard_of(p["sku"].lower()) for p in products})


def order_key(sku: str):
    from catalog.products.store import shard_of
    key = sku.lower()
    return (shard_of(key), key)


def load_api_module():
    """functions/api/app.py, imported as Lambda would (its folder on the path)."""
    code_dir = ROOT / "functions" / "api"
    sys.path.insert(0, str(code_dir))
    spec = importlib.util.spec_from_file_location("products_test_api_app", code_dir / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
