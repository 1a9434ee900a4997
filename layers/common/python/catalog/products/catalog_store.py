"""The catalog store seam: what the import pipeline, the products API and delete-all need of
wherever products live.

Two implementations, chosen per deployment by `Settings.catalog_store` (template parameter
`CatalogStore`, see catalogs.py): DynamoDB (`dynamodb_catalog.py`) and PostgreSQL through the RDS
Data API (`postgres.py`). Everything above the seam (pipeline, API, events, webhooks, the import
and delete-all job items, the catalog lock) is the same for both. Rows are (line, key, sku, name, description, price, active), key being the
trimmed, lower-cased SKU; the planner has already chosen one winning row per key.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator, Protocol

from catalog.products.pages import Page, ProductFilter
from catalog.products.store import Product


@dataclass
class ChunkWrite:
    created: int
    updated: int
    unchanged: int
    new_shards: set[str] = field(default_factory=set)   # DynamoDB: shards that gained products

    def counts(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


# What a preview compares, in this order: the product's content fields ("sku": the SKU's spelling,
# e.g. its letter case, since rows with the same key are one product).
PREVIEW_FIELDS = ("sku", "name", "description", "price", "active")
SAMPLE_SIZE = 20    # changes a preview keeps as examples (per chunk, then per import)


@dataclass
class ChunkPreview:
    """What writing a chunk would do, with nothing written: counts, per-field change counts of the
    products it would update, and up to SAMPLE_SIZE changes ({sku, line, field, old, new}) in row
    order, then field order."""
    created: int
    updated: int
    unchanged: int
    field_changes: dict[str, int]
    sample: list[dict]

    def counts(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


def preview_rows(winners: dict[str, tuple], stored: dict[str, tuple]) -> ChunkPreview:
    """Compares winning rows (line, key, sku, name, description, price, active) with stored content
    by key ((sku, name, description, price, active)). Pure: the stores that compare in Python use it."""
    created = updated = unchanged = 0
    changes = dict.fromkeys(PREVIEW_FIELDS, 0)
    sample: list[dict] = []
    for key, row in winners.items():
        old = stored.get(key)
        if old is None:
            created += 1
            continue
        new = tuple(row[2:7])
        if tuple(old) == new:
            unchanged += 1
            continue
        updated += 1
        for name, before, after in zip(PREVIEW_FIELDS, old, new):
            if before != after:
                changes[name] += 1
                if len(sample) < SAMPLE_SIZE:
                    sample.append({"sku": row[2], "line": row[0], "field": name, "old": before, "new": after})
    return ChunkPreview(created, updated, unchanged, changes, sample)


@dataclass
class ExportPage:
    """A page of an export, in the listing's order: `text` is its rows as CSV lines (the import's
    columns sku,name,description,price,active; price "12.50" or empty, active true/false; quoted as
    the csv module quotes, CRLF ends: export_parts.csv_lines), `rows` how many; `position` is where
    the next page starts (JSON, carried by the export's state machine), None after the last page."""
    text: str
    rows: int
    position: dict | None


class CatalogStore(Protocol):
    # Whether API writes may run while an import writes chunks: each chunk write must then be
    # atomic per product against them (ids, created_at and counts stay exact).
    writes_during_imports: bool

    def is_empty(self) -> bool:
        """True when the catalog holds no product (a first bulk load)."""

    def write_chunk(self, import_id: str, index: int, winners: dict[str, tuple], *, fresh: bool,
                    now: str) -> ChunkWrite:
        """Upserts a chunk's winning rows: creates new products, updates changed ones (keeping `id`
        and `created_at`), writes nothing for unchanged ones. Safe to run again for the same chunk:
        rows this import already wrote count as the first attempt decided. `fresh`: the catalog was
        empty when the import was planned (nothing stored to compare with)."""

    def preview_chunk(self, winners: dict[str, tuple], *, fresh: bool) -> ChunkPreview:
        """What write_chunk would do with these rows, writing nothing: the same reads (PostgreSQL:
        one set-based statement per request; DynamoDB: the write path's BatchGetItem). `fresh`:
        the catalog was empty when planned, so every row is a create and nothing is read."""

    def chunk_counted(self, write: ChunkWrite) -> None:
        """Called once, after the chunk's counts were recorded exactly once."""

    def import_finished(self, changed: int) -> None:
        """Every chunk of an import is in; `changed` products were created or updated."""

    # --- one product: conditional primitives (products/writes.py adds the lock and the events)
    def get_product(self, key: str) -> Product | None: ...

    def insert_product(self, product: Product) -> bool:
        """False when a product with that key exists (in any letter case)."""

    def replace_product(self, product: Product, expected_updated_at: str) -> bool:
        """False when the product changed since it was read, or is gone."""

    def delete_product(self, key: str) -> Product | None:
        """The deleted product, or None when there was none."""

    # --- listing and counting
    def list_products(self, f: ProductFilter, limit: int, cursor: str | None) -> Page: ...

    def count(self) -> int: ...

    # --- export (products/export.py runs the job, the CSV and the multipart upload)
    def export_pages(self, f: ProductFilter, position: dict) -> Iterator[ExportPage]:
        """Every product matching `f` after `position` ({}: from the start), in the listing's order, in
        big pages (thousands of rows); stopping the iteration early is fine."""

    # --- delete-all (products/delete_all.py runs the job, the lock and the event)
    def delete_all_segments(self, at_most: int) -> list[dict]:
        """The segments' starting positions, at most `at_most` (JSON, carried by the state machine)."""

    def delete_segment(self, position: dict, deleted: Callable[[int], None],
                       time_is_short: Callable[[], bool]) -> tuple[dict, bool]:
        """Deletes one segment's products, reporting each batch to `deleted`; returns (where to go on,
        done): not done when `time_is_short()` stopped it."""

    def delete_stragglers(self, deleted: Callable[[int], None]) -> None:
        """Deletes whatever is left (written by a client that raced the lock)."""

    def reset_counts(self) -> None: ...

    def forget_deleted(self, count: int) -> None:
        """A delete-all failed part way after deleting `count` products."""
