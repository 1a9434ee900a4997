"""Single-product reads and writes for the API: create, replace, patch, delete.

Every write is conditional, so it never races with another writer silently:
- create:  put with attribute_not_exists(sku_key) -> a SKU that exists in any letter case is a conflict;
- update:  read, then put with `updated_at = <what we read>` (optimistic; retried a few times);
- delete:  delete with attribute_exists(sku_key), returning the old item for the event.
`id` and `created_at` are kept; `updated_at` moves only when the content changed, and an unchanged
write writes nothing and publishes nothing. The catalog stats (count, shards) follow each change,
and product.created / product.updated / product.deleted go to the events queue.
"""
from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

from catalog.products.errors import DeleteAllRunning, ProductExists, ProductNotFound, WriteConflict
from catalog.products.rules import normalize_sku
from catalog.products.stats import CatalogStats
from catalog.products.store import Product, new_product_id, shard_of
from catalog.shared import events
from catalog.shared.aws import client
from catalog.shared.catalog_lock import CatalogLock
from catalog.shared.clock import now_iso
from catalog.shared.dynamo import is_conditional_failure

UPDATE_ATTEMPTS = 5


@dataclass
class ProductValues:
    """Validated content (see catalog.products.rules); `sku` is the display form, trimmed."""
    sku: str
    name: str
    description: str
    price: str | None
    active: bool


class ProductWriter:
    def __init__(self, products_table: str, imports_table: str):
        self.table = products_table
        self.stats = CatalogStats(imports_table)
        self.lock = CatalogLock(imports_table)
        self.ddb = client("dynamodb")

    # --- reads ----------------------------------------------------------------------------
    def get_item(self, sku: str) -> dict | None:
        key = normalize_sku(sku)
        if not key:
            return None
        return self.ddb.get_item(TableName=self.table, Key={"sku_key": {"S": key}}, ConsistentRead=True).get("Item")

    def get(self, sku: str) -> Product:
        item = self.get_item(sku)
        if item is None:
            raise ProductNotFound(sku)
        return Product.from_item(item)

    # --- writes ---------------------------------------------------------------------------
    def _refuse_during_delete_all(self) -> None:
        job = self.lock.holder()
        if job:
            raise DeleteAllRunning(job)

    def create(self, values: ProductValues) -> Product:
        self._refuse_during_delete_all()
        now = now_iso()
        product = Product(values.sku, values.name, values.description, values.price, values.active,
                          new_product_id(), now, now)
        try:
            self.ddb.put_item(TableName=self.table, Item=product.to_item(),
                              ConditionExpression="attribute_not_exists(sku_key)")
        except ClientError as error:
            if is_conditional_failure(error):
                old = self.get_item(product.key) or {}
                raise ProductExists(old.get("sku", {}).get("S", values.sku)) from None
            raise
        self.stats.add(1, {shard_of(product.key)})
        events.publish(events.PRODUCT_CREATED, product.to_json())
        return product

    def update(self, sku: str, change) -> tuple[Product, bool]:
        """Applies change(stored: Product) -> ProductValues. Returns (product, changed)."""
        self._refuse_during_delete_all()
        for _ in range(UPDATE_ATTEMPTS):
            stored = self.get(sku)
            values = change(stored)
            new = Product(values.sku, values.name, values.description, values.price, values.active,
                          stored.id, stored.created_at, stored.updated_at)
            if new.content() == stored.content():
                return stored, False
            new.updated_at = now_iso()
            try:
                self.ddb.put_item(TableName=self.table, Item=new.to_item(),
                                  ConditionExpression="attribute_exists(sku_key) AND updated_at = :u",
                                  ExpressionAttributeValues={":u": {"S": stored.updated_at}})
            except ClientError as error:
                if is_conditional_failure(error):
                    continue  # changed or deleted meanwhile: read again
                raise
            events.publish(events.PRODUCT_UPDATED, new.to_json())
            return new, True
        raise WriteConflict("the product kept changing while it was being updated; try again")

    def delete(self, sku: str) -> Product:
        self._refuse_during_delete_all()
        key = normalize_sku(sku)
        if not key:
            raise ProductNotFound(sku)
        try:
            response = self.ddb.delete_item(TableName=self.table, Key={"sku_key": {"S": key}},
                                            ConditionExpression="attribute_exists(sku_key)",
                                            ReturnValues="ALL_OLD")
        except ClientError as error:
            if is_conditional_failure(error):
                raise ProductNotFound(sku) from None
            raise
        product = Product.from_item(response["Attributes"])
        self.stats.add(-1)
        events.publish(events.PRODUCT_DELETED, product.to_json())
        return product
