"""Product items in DynamoDB: their shape, and batched reads and writes with backoff.

Items are built as DynamoDB JSON directly (no TypeSerializer) because imports marshal
millions of them; the low-level client then sends them as they are.

Key design (see README, "Data model"):
- `sku_key` (normalized SKU) is the table key, so the same SKU in any letter case is one item.
- `shard` (first two characters of the key) partitions the `by_sku` and `search` indexes,
  whose sort key is `sku_key`: pages come out in SKU order one shard after the next, a SKU
  prefix is one Query, and writes spread across shards.
- `inactive_shard` exists only on inactive products: a sparse index for `active=false`.
"""
from __future__ import annotations

import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Callable, Iterable

from catalog.shared.aws import client
from catalog.shared.dynamo import BATCH_WRITE_MAX, batch_get, batch_write


def shard_of(sku_key: str) -> str:
    return (sku_key + "__")[:2]


def new_product_id() -> str:
    return uuid.uuid4().hex


class ProductIds:
    """Ids for the products one chunk creates: random-looking, but the same sequence for the same
    seed (import id + chunk index), so a retried chunk rewrites exactly the same items.
    A seeded PRNG costs a fraction of hashing each SKU on the import's hot path."""

    __slots__ = ("_bits",)

    def __init__(self, seed: str):
        self._bits = random.Random(seed).getrandbits

    def __call__(self) -> str:
        return f"{self._bits(128):032x}"

    def take(self, count: int) -> list[str]:
        """The next `count` ids, exactly as `count` calls give them, from one draw:
        getrandbits(128 * n) consumes the generator's 32-bit words as n calls of getrandbits(128)
        do, the first call's 128 bits lowest, so the ids are the draw's hex digits read backwards
        in slices of 32."""
        if count <= 0:
            return []
        digits = self._bits(128 * count).to_bytes(16 * count, "big").hex()   # = f"{...:0{32 * count}x}"
        return [digits[end - 32:end] for end in range(32 * count, 0, -32)]


def product_id_stream(seed: str) -> ProductIds:
    """The ids, in order, for the products created by the chunk this seed names (see ProductIds)."""
    return ProductIds(seed)


def take_ids(next_id: Callable[[], str], count: int) -> list[str]:
    """The next `count` ids of an id source: in one draw when it is a ProductIds."""
    take = getattr(next_id, "take", None)
    return take(count) if take is not None else [next_id() for _ in range(count)]


def product_item(sku: str, name: str, description: str, price: str | None, active: bool, product_id: str,
                 created_at: str, updated_at: str, import_id: str | None = None) -> dict:
    """A product as a DynamoDB item (low-level JSON), with its index attributes."""
    key = sku.lower()
    shard = shard_of(key)
    item = {
        "sku_key": {"S": key},
        "shard": {"S": shard},
        "sku": {"S": sku},
        "name": {"S": name},
        "name_lc": {"S": name.lower()},
        "description": {"S": description},
        "active": {"BOOL": active},
        "id": {"S": product_id},
        "created_at": {"S": created_at},
        "updated_at": {"S": updated_at},
    }
    if price is not None:
        item["price"] = {"N": price}
    if not active:
        item["inactive_shard"] = {"S": shard}
    if import_id:
        item["import_id"] = {"S": import_id}
    return item


def created_items(rows: Iterable[tuple], ids: Iterable[str], now: str, import_id: str | None = None) -> list[dict]:
    """product_item(sku, name, description, price, active, id, now, now, import_id) for each row and
    id, built in one loop, with no call per item: an import builds millions. `rows` are shaped as
    rows.ProductRow: (line, key, sku, name, description, price, active), key being sku.lower().

    The items' attribute values that are the same for every item (created_at, updated_at,
    import_id, active) are one shared {"S": ...} / {"BOOL": ...} object each: a third fewer dicts
    to build and free. Treat the items as read-only (they are only ever serialized)."""
    items = []
    append = items.append
    now_value = {"S": now}
    import_value = {"S": import_id}
    active_value = {"BOOL": True}
    for (_, key, sku, name, description, price, active), product_id in zip(rows, ids):
        shard = shard_of(key)
        if price is not None and active is True and import_id:
            # The common item, as product_item builds it (same keys, same order) but in one
            # literal: a dict grown key by key past 10 keys is copied into a bigger table.
            append({
                "sku_key": {"S": key},
                "shard": {"S": shard},
                "sku": {"S": sku},
                "name": {"S": name},
                "name_lc": {"S": name.lower()},
                "description": {"S": description},
                "active": active_value,
                "id": {"S": product_id},
                "created_at": now_value,
                "updated_at": now_value,
                "price": {"N": price},
                "import_id": import_value,
            })
        else:
            append(product_item(sku, name, description, price, active, product_id, now, now, import_id))
    return items


@dataclass(slots=True)
class Product:
    sku: str
    name: str
    description: str
    price: str | None
    active: bool
    id: str
    created_at: str
    updated_at: str
    import_id: str | None = None

    @property
    def key(self) -> str:
        return self.sku.lower()

    def content(self) -> tuple:
        return (self.sku, self.name, self.description, self.price, self.active)

    def to_item(self) -> dict:
        return product_item(self.sku, self.name, self.description, self.price, self.active, self.id,
                            self.created_at, self.updated_at, self.import_id)

    @classmethod
    def from_item(cls, item: dict) -> "Product":
        price = item.get("price")
        return cls(
            sku=item["sku"]["S"],
            name=item["name"]["S"],
            description=item.get("description", {}).get("S", ""),
            price=str(Decimal(price["N"]).quantize(Decimal("0.01"))) if price else None,
            active=item.get("active", {}).get("BOOL", True),
            id=item["id"]["S"],
            created_at=item["created_at"]["S"],
            updated_at=item["updated_at"]["S"],
            import_id=item.get("import_id", {}).get("S"),
        )

    def to_json(self) -> dict:
        return {
            "sku": self.sku, "name": self.name, "description": self.description,
            "price": self.price, "active": self.active, "id": self.id,
            "created_at": self.created_at, "updated_at": self.updated_at,
        }


class ProductStore:
    """Batched access to the products table; retries unprocessed items with jittered backoff."""

    def __init__(self, table: str, max_attempts: int = 12, parallelism: int = 4):
        self.table = table
        self.max_attempts = max_attempts
        self.parallelism = parallelism
        self.ddb = client("dynamodb")

    def is_empty(self) -> bool:
        return not self.ddb.scan(TableName=self.table, Limit=1, ProjectionExpression="sku_key").get("Items")

    def get_many(self, keys: Iterable[str]) -> dict[str, dict]:
        """Existing items by sku_key (missing keys are absent)."""
        items = batch_get(self.ddb, self.table, [{"sku_key": {"S": k}} for k in keys], max_attempts=self.max_attempts)
        return {item["sku_key"]["S"]: item for item in items}

    def write_many(self, items: list[dict]) -> None:
        self._batch([{"PutRequest": {"Item": item}} for item in items])

    def delete_many(self, keys: Iterable[str]) -> None:
        self._batch([{"DeleteRequest": {"Key": {"sku_key": {"S": k}}}} for k in keys])

    def _batch(self, requests: list[dict]) -> None:
        """BatchWriteItem in calls of 25, `parallelism` calls in flight: a chunk's thousands of
        writes would otherwise wait on one round trip at a time."""
        batches = [requests[i:i + BATCH_WRITE_MAX] for i in range(0, len(requests), BATCH_WRITE_MAX)]
        if len(batches) <= 1 or self.parallelism <= 1:
            for batch in batches:
                self._write_batch(batch)
            return
        with ThreadPoolExecutor(min(self.parallelism, len(batches))) as pool:
            for _ in pool.map(self._write_batch, batches):
                pass

    def _write_batch(self, batch: list[dict]) -> None:
        batch_write(self.ddb, self.table, batch, max_attempts=self.max_attempts)
