"""Which catalog store this deployment uses (template parameter CatalogStore)."""
from __future__ import annotations

from catalog.products.catalog_store import CatalogStore
from catalog.products.dynamodb_catalog import DynamoDBCatalog
from catalog.products.postgres import PostgresCatalog
from catalog.shared.settings import Settings

STORES = {"dynamodb": DynamoDBCatalog, "aurora": PostgresCatalog}


def catalog_store(settings: Settings) -> CatalogStore:
    try:
        return STORES[settings.catalog_store](settings)
    except KeyError:
        raise ValueError(f"unknown catalog store {settings.catalog_store!r} (CATALOG_STORE): "
                         f"expected one of {', '.join(STORES)}") from None
