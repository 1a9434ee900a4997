"""The product catalog on PostgreSQL (Aurora Serverless v2 on AWS, embedded PostgreSQL locally),
reached through the RDS Data API.

A chunk of an import is one set-based statement per request (rows sent as one JSON parameter):
`INSERT … ON CONFLICT (sku_key) DO UPDATE … WHERE` the content differs, so an unchanged row is
never written and `id`/`created_at` are kept. Rows this import already wrote (a retried chunk)
are recognized by `import_id` in the same statement's snapshot and counted as the first attempt
decided, so a chunk counts exactly once however often it runs.
"""
from __future__ import annotations

import json
from typing import Iterable

from catalog.products.catalog_store import ChunkWrite
from catalog.products.migrations import migrate
from catalog.products.sql import REQUEST_LIMIT, SqlClient
from catalog.products.store import product_id_stream
from catalog.shared.settings import Settings

# A request carries the rows as JSON; stay well under the Data API's 4 MiB per request.
REQUEST_BUDGET = REQUEST_LIMIT * 3 // 4

UPSERT_CHUNK = """
WITH incoming AS (
    SELECT r.sku_key, r.sku, r.name, r.description, CAST(r.price AS numeric(10, 2)) AS price, r.active, r.id
    FROM jsonb_to_recordset(CAST(:rows AS jsonb))
         AS r(sku_key text, sku text, name text, description text, price text, active boolean, id text)
), earlier AS (
    SELECT count(*) FILTER (WHERE p.created_at = p.updated_at) AS created,
           count(*) FILTER (WHERE p.created_at <> p.updated_at) AS updated
    FROM products p JOIN incoming i ON i.sku_key = p.sku_key
    WHERE p.import_id = :import_id
), written AS (
    INSERT INTO products AS p (sku_key, sku, name, description, price, active, id, created_at, updated_at, import_id)
    SELECT sku_key, sku, name, description, price, active, id,
           CAST(:now AS timestamptz), CAST(:now AS timestamptz), :import_id
    FROM incoming
    ON CONFLICT (sku_key) DO UPDATE
        SET sku = EXCLUDED.sku, name = EXCLUDED.name, description = EXCLUDED.description,
            price = EXCLUDED.price, active = EXCLUDED.active,
            updated_at = EXCLUDED.updated_at, import_id = EXCLUDED.import_id
        WHERE p.import_id IS DISTINCT FROM EXCLUDED.import_id
          AND (p.sku, p.name, p.description, p.price, p.active)
              IS DISTINCT FROM (EXCLUDED.sku, EXCLUDED.name, EXCLUDED.description, EXCLUDED.price, EXCLUDED.active)
    RETURNING (xmax = 0) AS inserted
)
SELECT (SELECT count(*) FROM incoming) AS total,
       (SELECT count(*) FROM written WHERE inserted) AS created,
       (SELECT count(*) FROM written WHERE NOT inserted) AS updated,
       (SELECT created FROM earlier) AS earlier_created,
       (SELECT updated FROM earlier) AS earlier_updated
"""


def _json_rows(rows: Iterable[tuple], ids) -> Iterable[tuple[str, int]]:
    """Each row as a JSON object and its size; rows are (line, key, sku, name, description, price, active)."""
    for (_, key, sku, name, description, price, active), product_id in zip(rows, ids):
        text = json.dumps({"sku_key": key, "sku": sku, "name": name, "description": description,
                           "price": price, "active": active, "id": product_id}, separators=(",", ":"))
        yield text, len(text.encode())


def request_batches(rows: Iterable[tuple], ids, budget: int = REQUEST_BUDGET) -> Iterable[str]:
    """The rows as JSON arrays of at most `budget` bytes each (a row larger than that alone)."""
    batch, size = [], 2
    for text, length in _json_rows(rows, ids):
        if batch and size + length + 1 > budget:
            yield "[" + ",".join(batch) + "]"
            batch, size = [], 2
        batch.append(text)
        size += length + 1
    if batch:
        yield "[" + ",".join(batch) + "]"


class PostgresCatalog:
    _migrated: set[tuple[str, str]] = set()     # (cluster, database) migrated by this container

    def __init__(self, settings: Settings):
        self.db = SqlClient(settings.catalog_db_cluster_arn, settings.catalog_db_secret_arn, settings.catalog_db_name)
        target = (settings.catalog_db_cluster_arn, settings.catalog_db_name)
        if target not in PostgresCatalog._migrated:
            migrate(self.db)
            PostgresCatalog._migrated.add(target)

    def is_empty(self) -> bool:
        return self.db.one("SELECT NOT EXISTS (SELECT 1 FROM products) AS empty")["empty"]

    def write_chunk(self, import_id: str, index: int, winners: dict[str, tuple], *, fresh: bool,
                    now: str) -> ChunkWrite:
        # `fresh` changes nothing here: the statement compares with what is stored either way.
        ids = product_id_stream(f"{import_id}:{index}")
        created = updated = unchanged = 0
        for rows in request_batches(winners.values(), iter(ids, None)):
            result = self.db.one(UPSERT_CHUNK, {"rows": rows, "import_id": import_id, "now": now})
            created += result["created"] + result["earlier_created"]
            updated += result["updated"] + result["earlier_updated"]
            unchanged += (result["total"] - result["created"] - result["updated"]
                          - result["earlier_created"] - result["earlier_updated"])
        return ChunkWrite(created=created, updated=updated, unchanged=unchanged)

    def chunk_counted(self, write: ChunkWrite) -> None:
        """Nothing to keep: the count is the table's."""
