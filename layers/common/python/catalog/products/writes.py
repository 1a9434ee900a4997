"""Single-product reads and writes for the API: create, replace, patch, delete — the same for
every catalog store, which supplies conditional primitives (catalog_store.CatalogStore):
- create:  insert only if no product has the key -> a SKU that exists in any letter case is a conflict;
- update:  read, then replace only if `updated_at` is still what we read (optimistic; retried a few times);
- delete:  delete if present, returning the old product for the event.
`id` and `created_at` are kept; `updated_at` moves only when the content changed, and an unchanged
write writes nothing and publishes nothing. Writes are refused while a delete-all holds the
catalog lock; product.created / product.updated / product.deleted go to the events queue.
"""
from __future__ import annotations

from dataclasses import dataclass

from catalog.products.catalogs import catalog_store
from catalog.products.errors import DeleteAllRunning, ImportRunning, ProductExists, ProductNotFound, WriteConflict
from catalog.products.rules import normalize_sku
from catalog.products.store import Product, new_product_id
from catalog.shared import events
from catalog.shared.catalog_lock import DELETE_ALL, CatalogLock
from catalog.shared.clock import now_iso
from catalog.shared.settings import Settings

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
    def __init__(self, settings: Settings):
        self.store = catalog_store(settings)
        self.lock = CatalogLock(settings.imports_table)

    # --- reads ----------------------------------------------------------------------------
    def get(self, sku: str) -> Product:
        key = normalize_sku(sku)
        product = self.store.get_product(key) if key else None
        if product is None:
            raise ProductNotFound(sku)
        return product

    # --- writes ---------------------------------------------------------------------------
    def _refuse_during_bulk_change(self) -> None:
        """Refused while a delete-all runs; while an import runs too, on a store whose chunk writes
        are not safe against a product written meanwhile (see CatalogStore.writes_during_imports)."""
        holder = self.lock.holder()
        if holder is None:
            return
        if holder.kind == DELETE_ALL:
            raise DeleteAllRunning(holder.job_id)
        if not self.store.writes_during_imports:
            raise ImportRunning(holder.job_id, then="write products")

    def create(self, values: ProductValues) -> Product:
        self._refuse_during_bulk_change()
        now = now_iso()
        product = Product(values.sku, values.name, values.description, values.price, values.active,
                          new_product_id(), now, now)
        if not self.store.insert_product(product):
            existing = self.store.get_product(product.key)
            raise ProductExists(existing.sku if existing else values.sku)
        events.publish(events.PRODUCT_CREATED, product.to_json())
        return product

    def update(self, sku: str, change) -> tuple[Product, bool]:
        """Applies change(stored: Product) -> ProductValues. Returns (product, changed)."""
        self._refuse_during_bulk_change()
        for _ in range(UPDATE_ATTEMPTS):
            stored = self.get(sku)
            values = change(stored)
            new = Product(values.sku, values.name, values.description, values.price, values.active,
                          stored.id, stored.created_at, stored.updated_at)
            if new.content() == stored.content():
                return stored, False
            new.updated_at = now_iso()
            if not self.store.replace_product(new, stored.updated_at):
                continue  # changed or deleted meanwhile: read again
            events.publish(events.PRODUCT_UPDATED, new.to_json())
            return new, True
        raise WriteConflict("the product kept changing while it was being updated; try again")

    def delete(self, sku: str) -> Product:
        self._refuse_during_bulk_change()
        key = normalize_sku(sku)
        product = self.store.delete_product(key) if key else None
        if product is None:
            raise ProductNotFound(sku)
        events.publish(events.PRODUCT_DELETED, product.to_json())
        return product
