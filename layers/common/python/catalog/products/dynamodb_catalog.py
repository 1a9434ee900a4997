"""The product catalog on DynamoDB: a chunk of an import compared with what is stored
(BatchGetItem) and only what changed written (BatchWriteItem); the catalog stats follow."""
from __future__ import annotations

from typing import Callable

from catalog.products.catalog_store import ChunkWrite
from catalog.products.stats import CatalogStats
from catalog.products.store import Product, ProductStore, created_items, product_id_stream, product_item, shard_of, take_ids
from catalog.shared.gc_pause import gc_paused
from catalog.shared.settings import Settings


def plan_writes(import_id: str, winners: dict[str, tuple], existing: dict[str, dict],
                now: str, next_id: Callable[[], str]) -> tuple[list[dict], dict[str, int], set[str]]:
    """Decides per row: create, update or leave alone. Pure: no I/O, so it is easy to test.
    `next_id` gives ids for created products, in row order."""
    if not existing:
        # Nothing stored (a first import, or a fresh catalog): every row creates, in one batch.
        items = created_items(winners.values(), take_ids(next_id, len(winners)), now, import_id)
        return (items, {"created": len(items), "updated": 0, "unchanged": 0},
                {shard_of(key) for key in winners})
    items, created, updated, unchanged, new_shards = [], 0, 0, 0, set()
    for key, row in winners.items():
        old = existing.get(key)
        if old is None:
            items.append(product_item(row.sku, row.name, row.description, row.price, row.active,
                                      next_id(), now, now, import_id))
            created += 1
            new_shards.add(shard_of(key))
            continue
        stored = Product.from_item(old)
        if stored.import_id == import_id:
            # An earlier attempt of this chunk already wrote this row (each SKU has one
            # winning row per import): count it as that attempt decided, write nothing.
            if stored.created_at == stored.updated_at:
                created += 1
            else:
                updated += 1
            continue
        if stored.content() == (row.sku, row.name, row.description, row.price, row.active):
            unchanged += 1
            continue
        items.append(product_item(row.sku, row.name, row.description, row.price, row.active,
                                  stored.id, stored.created_at, now, import_id))
        updated += 1
    return items, {"created": created, "updated": updated, "unchanged": unchanged}, new_shards


class DynamoDBCatalog:
    def __init__(self, settings: Settings):
        self.store = ProductStore(settings.products_table)
        self.stats = CatalogStats(settings.imports_table)

    def is_empty(self) -> bool:
        return self.store.is_empty()

    def write_chunk(self, import_id: str, index: int, winners: dict[str, tuple], *, fresh: bool,
                    now: str) -> ChunkWrite:
        # Fresh (the catalog was empty when planned): nothing stored to compare with; ids come
        # from a stream seeded by import and chunk, so a retry rewrites exactly the same items.
        existing = {} if fresh else self.store.get_many(winners)
        with gc_paused():
            items, counts, new_shards = plan_writes(import_id, winners, existing, now,
                                                    product_id_stream(f"{import_id}:{index}"))
        self.store.write_many(items)
        return ChunkWrite(**counts, new_shards=new_shards)

    def chunk_counted(self, write: ChunkWrite) -> None:
        self.stats.add(write.created, write.new_shards)
