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
