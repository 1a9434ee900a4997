"""The product catalog on DynamoDB: a chunk of an import compared with what is stored
(BatchGetItem) and only what changed written (BatchWriteItem); single products written with
conditions; listing by the shard-partitioned indexes (listing.py). The catalog stats follow."""
from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Callable, Iterator

from botocore.exceptions import ClientError

from catalog.products.catalog_store import ChunkPreview, ChunkWrite, ExportPage, preview_rows
from catalog.products.export_parts import csv_lines
from catalog.products.listing import ProductQuery
from catalog.products.pages import Page, ProductFilter
from catalog.products.stats import CatalogStats
from catalog.products.store import Product, ProductStore, created_items, product_id_stream, product_item, shard_of, take_ids
from catalog.shared.aws import client
from catalog.shared.dynamo import conditional, is_conditional_failure
from catalog.shared.gc_pause import gc_paused
from catalog.shared.settings import Settings

KEYS_PAGE = 5000          # keys per read when deleting: progress is reported after each page
DELETE_THREADS = 4        # concurrent BatchWriteItem calls per delete-all segment
EXPORT_READ_AHEAD = 8     # shards an export reads at once, ahead of the one it writes
EXPORT_READ_PAGES = 4     # Query pages (1 MB each) one read takes before handing back: bounded memory
EXPORT_QUERY_LIMIT = None  # items per Query page (None: DynamoDB's 1 MB); tests make pages small
CENT = Decimal("0.01")


def export_row(item: dict) -> list[str]:
    """A product item as a CSV row (the import's columns): price with two decimals or empty."""
    price = item.get("price")
    return [item["sku"]["S"], item["name"]["S"], item.get("description", {}).get("S", ""),
            str(Decimal(price["N"]).quantize(CENT)) if price else "",
            "true" if item.get("active", {}).get("BOOL", True) else "false"]


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
    writes_during_imports = False    # a chunk reads, then batch-writes unconditionally: an API write in between would be lost
    def __init__(self, settings: Settings):
        self.table, self.imports_table = settings.products_table, settings.imports_table
        self.scan_segments = settings.name_search_scan_segments
        self.store = ProductStore(settings.products_table)
        self.stats = CatalogStats(settings.imports_table)
        self.ddb = client("dynamodb")

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

    def preview_chunk(self, winners: dict[str, tuple], *, fresh: bool) -> ChunkPreview:
        # The write path's reads (BatchGetItem), compared in Python; nothing written.
        existing = {} if fresh else self.store.get_many(winners)
        with gc_paused():
            return preview_rows(winners, {key: Product.from_item(item).content() for key, item in existing.items()})

    def chunk_counted(self, write: ChunkWrite) -> None:
        self.stats.add(write.created, write.new_shards)

    def import_finished(self, changed: int) -> None:
        """Nothing to do: DynamoDB keeps no statistics."""

    # --- one product (the API) ---------------------------------------------------------------
    def get_product(self, key: str) -> Product | None:
        item = self.ddb.get_item(TableName=self.table, Key={"sku_key": {"S": key}}, ConsistentRead=True).get("Item")
        return Product.from_item(item) if item else None

    def insert_product(self, product: Product) -> bool:
        if not conditional(lambda: self.ddb.put_item(TableName=self.table, Item=product.to_item(),
                                                     ConditionExpression="attribute_not_exists(sku_key)")):
            return False
        self.stats.add(1, {shard_of(product.key)})
        return True

    def replace_product(self, product: Product, expected_updated_at: str) -> bool:
        return conditional(lambda: self.ddb.put_item(
            TableName=self.table, Item=product.to_item(),
            ConditionExpression="attribute_exists(sku_key) AND updated_at = :u",
            ExpressionAttributeValues={":u": {"S": expected_updated_at}}))

    def delete_product(self, key: str) -> Product | None:
        try:
            response = self.ddb.delete_item(TableName=self.table, Key={"sku_key": {"S": key}},
                                            ConditionExpression="attribute_exists(sku_key)", ReturnValues="ALL_OLD")
        except ClientError as error:
            if is_conditional_failure(error):
                return None
            raise
        self.stats.add(-1)
        return Product.from_item(response["Attributes"])

    # --- listing ---------------------------------------------------------------------------
    def list_products(self, f: ProductFilter, limit: int, cursor: str | None) -> Page:
        return ProductQuery(self.table, self.imports_table, self.scan_segments).list(f, limit, cursor)

    # --- export ------------------------------------------------------------------------------
    def export_pages(self, f: ProductFilter, position: dict) -> Iterator[ExportPage]:
        """The listing's walk (shard after shard, SKU order in each) with its filters, reading up to
        EXPORT_READ_AHEAD shards at once and handing them back in order. `position`: {"s": shard,
        "k": sku_key to go on after in that shard, or None when the shard is done}."""
        query = ProductQuery(self.table, self.imports_table, self.scan_segments)
        _, shards = self.stats.get()
        plan = query.export_plan(f, shards)
        shards = sorted(plan.shards)
        resume_key = None
        if position and position.get("s") is not None:
            shard, resume_key = position["s"], position.get("k")
            shards = [s for s in shards if s > shard or (s == shard and resume_key is not None)]
            if not shards or shards[0] != shard:
                resume_key = None

        def read(shard: str, start_key: str | None) -> tuple[str, list[tuple[str, int, str | None]]]:
            """Up to EXPORT_READ_PAGES Query pages of a shard: [(CSV lines, rows, the key to go on after)]."""
            pages = []
            for _ in range(EXPORT_READ_PAGES):
                items, start_key = query.query_page(plan, shard, start_key, EXPORT_QUERY_LIMIT)
                pages.append((csv_lines([export_row(item) for item in items]), len(items), start_key))
                if start_key is None:
                    break
            return shard, pages

        pool = ThreadPoolExecutor(max_workers=EXPORT_READ_AHEAD)
        pending: deque = deque()
        queued = iter(enumerate(shards))
        try:
            def top_up() -> None:
                while len(pending) < EXPORT_READ_AHEAD:
                    i, shard = next(queued, (None, None))
                    if shard is None:
                        return
                    pending.append(pool.submit(read, shard, resume_key if i == 0 else None))
            top_up()
            while pending:
                shard, pages = pending.popleft().result()
                start_key = pages[-1][2]
                if start_key is not None:
                    pending.appendleft(pool.submit(read, shard, start_key))   # the rest of this shard comes first
                top_up()
                for i, (text, rows, key) in enumerate(pages):
                    last = not pending and i == len(pages) - 1
                    yield ExportPage(text, rows, None if last else {"s": shard, "k": key})
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    # --- counting and delete-all -----------------------------------------------------------
    def count(self) -> int:
        return self.stats.get()[0]

    def delete_all_segments(self, at_most: int) -> list[dict]:
        """Groups of shards (from the catalog stats), dealt out round-robin. Work is split by
        shard rather than by Scan segments: a shard is a key range in every index, so each worker
        reads only its own keys (on dynalite a segmented Scan reads the whole index per segment)."""
        _, shards = self.stats.get()
        n = max(1, min(at_most, len(shards)))
        return [{"shards": shards[i::n], "shard_index": 0, "start_key": None} for i in range(n)]

    def delete_segment(self, position: dict, deleted: Callable[[int], None],
                       time_is_short: Callable[[], bool]) -> tuple[dict, bool]:
        """Queries the slim `search` index shard by shard (keys only) and deletes what it finds;
        hands back where to go on when time runs short."""
        shards, index = list(position.get("shards") or []), int(position.get("shard_index") or 0)
        start_key = position.get("start_key")
        with ThreadPoolExecutor(max_workers=DELETE_THREADS) as pool:
            while index < len(shards):
                keys, start_key = self._query_keys(shards[index], start_key)
                self._delete_keys(keys, pool)
                deleted(len(keys))
                if start_key is None:
                    index += 1
                if index < len(shards) and time_is_short():
                    return {**position, "shard_index": index, "start_key": start_key}, False
        return {**position, "shard_index": len(shards), "start_key": None}, True

    def delete_stragglers(self, deleted: Callable[[int], None]) -> None:
        """Scans the (by then nearly empty) search index and deletes what is left."""
        start_key = None
        with ThreadPoolExecutor(max_workers=DELETE_THREADS) as pool:
            while True:
                kwargs = dict(TableName=self.table, IndexName="search", ProjectionExpression="sku_key", Limit=KEYS_PAGE)
                if start_key:
                    kwargs["ExclusiveStartKey"] = start_key
                response = self.ddb.scan(**kwargs)
                keys = [i["sku_key"]["S"] for i in response.get("Items", [])]
                self._delete_keys(keys, pool)
                deleted(len(keys))
                start_key = response.get("LastEvaluatedKey")
                if start_key is None:
                    return

    def reset_counts(self) -> None:
        self.stats.reset()

    def forget_deleted(self, count: int) -> None:
        """A delete-all that failed part way: the count follows what was deleted (shards stay;
        empty ones cost one query)."""
        self.stats.add(-count)

    def _query_keys(self, shard: str, start_key: str | None) -> tuple[list[str], str | None]:
        kwargs = dict(TableName=self.table, IndexName="search", KeyConditionExpression="#sh = :s",
                      ExpressionAttributeNames={"#sh": "shard"}, ExpressionAttributeValues={":s": {"S": shard}},
                      ProjectionExpression="sku_key", Limit=KEYS_PAGE)
        if start_key is not None:
            kwargs["ExclusiveStartKey"] = {"shard": {"S": shard}, "sku_key": {"S": start_key}}
        response = self.ddb.query(**kwargs)
        last = response.get("LastEvaluatedKey")
        return [i["sku_key"]["S"] for i in response.get("Items", [])], (last["sku_key"]["S"] if last else None)

    def _delete_keys(self, keys: list[str], pool: ThreadPoolExecutor) -> None:
        step = 25 * 8
        list(pool.map(self.store.delete_many, [keys[i:i + step] for i in range(0, len(keys), step)]))
