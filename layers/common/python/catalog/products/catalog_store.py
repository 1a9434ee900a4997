"""The catalog store seam: what the import pipeline needs of wherever products live.

Two implementations, chosen per deployment by `Settings.catalog_store` (template parameter
`CatalogStore`): DynamoDB (`dynamodb_catalog.py`) and PostgreSQL through the RDS Data API
(`postgres.py`). Rows are (line, key, sku, name, description, price, active), key being the
trimmed, lower-cased SKU; the planner has already chosen one winning row per key.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class ChunkWrite:
    created: int
    updated: int
    unchanged: int
    new_shards: set[str] = field(default_factory=set)   # DynamoDB: shards that gained products

    def counts(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


class CatalogStore(Protocol):
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
