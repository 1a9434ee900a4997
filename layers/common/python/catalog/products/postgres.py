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
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator, Sequence

import orjson

from catalog.products.catalog_store import PREVIEW_FIELDS, SAMPLE_SIZE, ChunkPreview, ChunkWrite, ExportPage
from catalog.products.migrations import migrate
from catalog.products.pages import Page, ProductFilter, check_limit, make_cursor, read_cursor
from catalog.products.sql import REQUEST_LIMIT, SqlClient
from catalog.products.store import Product, product_id_stream
from catalog.shared.settings import Settings

# A request carries the rows as JSON; stay well under the Data API's 4 MiB per request.
REQUEST_BUDGET = REQUEST_LIMIT * 3 // 4
MATCHES_COUNTED_UP_TO = 1_000    # beyond this a filtered listing reports `matches` as unknown (a cheap count)
ANALYZE_AFTER = 10_000           # products changed by an import that make it refresh the statistics
# An export page: at most this many rows, cut where their CSV text passes the budget, so a page of long
# descriptions stays under the Data API's 1 MiB of result data too.
EXPORT_PAGE_ROWS = 5_000
EXPORT_PAGE_BYTES = 900_000
EXPORT_READERS = 3               # export pages read at once (statements in flight)


def _csv_field(column: str) -> str:
    """A text column as the csv module writes it (QUOTE_MINIMAL): quoted, quotes doubled, when it
    holds a comma, a quote, CR or LF."""
    return (f"CASE WHEN {column} ~ '[\",\\r\\n]' THEN '\"' || replace({column}, '\"', '\"\"') || '\"' "
            f"ELSE {column} END")


# A product as an export's CSV line: sku,name,description,price,active with CRLF (export_parts.py).
EXPORT_LINE = (f"{_csv_field('sku')} || ',' || {_csv_field('name')} || ',' || {_csv_field('description')} || ',' "
               "|| coalesce(price::text, '') || CASE WHEN active THEN ',true' ELSE ',false' END || E'\\r\\n'")

# A product as the API shows it; timestamps in the items' ISO form (UTC, microseconds, Z).
COLUMNS = """sku, name, description, price::text AS price, active, id,
    to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at,
    to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS updated_at, import_id"""

# :rows are the chunk's rows as request_batches encodes them, [line, key, sku, name, description,
# price, active]; :ids the new products' ids, one per row, zipped with them by ROWS FROM.
UPSERT_CHUNK = """
WITH incoming AS (
    SELECT r->>1 AS sku_key, r->>2 AS sku, r->>3 AS name, r->>4 AS description,
           CAST(r->>5 AS numeric(10, 2)) AS price, CAST(r->>6 AS boolean) AS active, id
    FROM ROWS FROM (jsonb_array_elements(CAST(:rows AS jsonb)), jsonb_array_elements_text(CAST(:ids AS jsonb)))
        AS z(r, id)
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


# A preview of a chunk: the same join with what is stored as UPSERT_CHUNK's conflict check, as one
# read-only statement per request: counts, per-field differences and the first SAMPLE_SIZE of them.
PREVIEW_CHUNK = """
WITH incoming AS (
    SELECT r->>1 AS sku_key, r->>2 AS sku, r->>3 AS name, r->>4 AS description,
           CAST(r->>5 AS numeric(10, 2)) AS price, CAST(r->>6 AS boolean) AS active, CAST(r->>0 AS integer) AS line
    FROM jsonb_array_elements(CAST(:rows AS jsonb)) AS r
), compared AS (
    SELECT i.*, p.sku_key IS NOT NULL AS stored, p.sku AS old_sku, p.name AS old_name,
           p.description AS old_description, p.price AS old_price, p.active AS old_active
    FROM incoming i LEFT JOIN products p ON p.sku_key = i.sku_key
), changes AS (
    SELECT c.sku, c.line, f.ord, f.field, f.old, f.new
    FROM compared c CROSS JOIN LATERAL (VALUES
        (1, 'sku', to_jsonb(c.old_sku), to_jsonb(c.sku)),
        (2, 'name', to_jsonb(c.old_name), to_jsonb(c.name)),
        (3, 'description', to_jsonb(c.old_description), to_jsonb(c.description)),
        (4, 'price', to_jsonb(CAST(c.old_price AS text)), to_jsonb(CAST(c.price AS text))),
        (5, 'active', to_jsonb(c.old_active), to_jsonb(c.active))) AS f(ord, field, old, new)
    WHERE c.stored AND f.old IS DISTINCT FROM f.new
    ORDER BY c.line, f.ord
    LIMIT :sample_size
)
SELECT count(*) AS total,
       count(*) FILTER (WHERE NOT stored) AS created,
       count(*) FILTER (WHERE stored AND (old_sku, old_name, old_description, old_price, old_active)
                              IS DISTINCT FROM (sku, name, description, price, active)) AS updated,
       count(*) FILTER (WHERE stored AND old_sku IS DISTINCT FROM sku) AS sku,
       count(*) FILTER (WHERE stored AND old_name IS DISTINCT FROM name) AS name,
       count(*) FILTER (WHERE stored AND old_description IS DISTINCT FROM description) AS description,
       count(*) FILTER (WHERE stored AND old_price IS DISTINCT FROM price) AS price,
       count(*) FILTER (WHERE stored AND old_active IS DISTINCT FROM active) AS active,
       (SELECT coalesce(json_agg(json_build_object('sku', sku, 'line', line, 'field', field, 'old', old, 'new', new)
                                 ORDER BY line, ord), '[]') FROM changes) AS sample
FROM compared
"""


def request_batches(rows: Sequence[tuple], ids: Sequence[str] | None = None, budget: int = REQUEST_BUDGET
                    ) -> Iterator[tuple[str, str | None]]:
    """The rows (ProductRow tuples: line, key, sku, name, description, price, active) as JSON arrays,
    with the new products' `ids` (when given) as a JSON array of their own, in requests of at most
    `budget` bytes, halved while a request is too large. Yields (rows, ids) texts in the rows' order.
    orjson writes the same text as json.dumps(ensure_ascii=False) about ten times faster (20 -> 2 ms
    for 10,000 rows): this is the chunk's largest cost in Python after parsing."""
    pending = [(0, len(rows))]
    while pending:
        start, end = pending.pop()
        data = orjson.dumps(rows[start:end], default=tuple)     # ProductRow: a named tuple, as an array
        id_data = None if ids is None else orjson.dumps(ids[start:end])
        if end - start > 1 and len(data) + len(id_data or b"") > budget:
            half = (start + end) // 2
            pending += [(half, end), (start, half)]         # first half first: rows keep their order
        else:
            yield data.decode(), None if id_data is None else id_data.decode()


class PostgresCatalog:
    writes_during_imports = True    # each chunk is one upsert statement: atomic per row against API writes
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
        ids = product_id_stream(f"{import_id}:{index}").take(len(winners))
        created = updated = unchanged = 0
        for rows, row_ids in request_batches(list(winners.values()), ids, budget=REQUEST_BUDGET):
            result = self.db.one(UPSERT_CHUNK, {"rows": rows, "ids": row_ids, "import_id": import_id, "now": now})
            created += result["created"] + result["earlier_created"]
            updated += result["updated"] + result["earlier_updated"]
            unchanged += (result["total"] - result["created"] - result["updated"]
                          - result["earlier_created"] - result["earlier_updated"])
        return ChunkWrite(created=created, updated=updated, unchanged=unchanged)

    def preview_chunk(self, winners: dict[str, tuple], *, fresh: bool) -> ChunkPreview:
        if fresh:
            return ChunkPreview(len(winners), 0, 0, dict.fromkeys(PREVIEW_FIELDS, 0), [])
        created = updated = unchanged = 0
        changes = dict.fromkeys(PREVIEW_FIELDS, 0)
        sample: list[dict] = []
        for rows, _ in request_batches(list(winners.values()), budget=REQUEST_BUDGET):
            result = self.db.one(PREVIEW_CHUNK, {"rows": rows, "sample_size": SAMPLE_SIZE})
            created += result["created"]
            updated += result["updated"]
            unchanged += result["total"] - result["created"] - result["updated"]
            for name in PREVIEW_FIELDS:
                changes[name] += result[name]
            found = result["sample"]
            sample += json.loads(found) if isinstance(found, str) else found
        return ChunkPreview(created, updated, unchanged, changes, sample[:SAMPLE_SIZE])

    def chunk_counted(self, write: ChunkWrite) -> None:
        """Nothing to keep: the count is the table's."""

    def import_finished(self, changed: int) -> None:
        """After a bulk change, refresh the planner's statistics at once: autovacuum gets to it only
        after its next nap, and until then a rare name search may walk the whole key index
        (measured at 500,000 products: 650 ms before ANALYZE, 2 ms after)."""
        if changed >= ANALYZE_AFTER:
            self.db.execute("ANALYZE products")

    # --- one product (the API) ---------------------------------------------------------------
    def get_product(self, key: str) -> Product | None:
        row = self.db.one(f"SELECT {COLUMNS} FROM products WHERE sku_key = :key", {"key": key})
        return Product(**row) if row else None

    def insert_product(self, product: Product) -> bool:
        return self.db.execute(
            "INSERT INTO products (sku_key, sku, name, description, price, active, id, created_at, updated_at) "
            "VALUES (:key, :sku, :name, :description, CAST(:price AS numeric(10, 2)), :active, :id, "
            "CAST(:created AS timestamptz), CAST(:updated AS timestamptz)) ON CONFLICT (sku_key) DO NOTHING",
            self._values(product)) == 1

    def replace_product(self, product: Product, expected_updated_at: str) -> bool:
        return self.db.execute(
            "UPDATE products SET sku = :sku, name = :name, description = :description, "
            "price = CAST(:price AS numeric(10, 2)), active = :active, updated_at = CAST(:updated AS timestamptz), "
            "import_id = NULL WHERE sku_key = :key AND updated_at = CAST(:expected AS timestamptz)",
            {**self._values(product), "expected": expected_updated_at}) == 1

    def delete_product(self, key: str) -> Product | None:
        row = self.db.one(f"DELETE FROM products WHERE sku_key = :key RETURNING {COLUMNS}", {"key": key})
        return Product(**row) if row else None

    @staticmethod
    def _values(product: Product) -> dict:
        return {"key": product.key, "sku": product.sku, "name": product.name, "description": product.description,
                "price": product.price, "active": product.active, "id": product.id,
                "created": product.created_at, "updated": product.updated_at}

    # --- listing ---------------------------------------------------------------------------
    def list_products(self, f: ProductFilter, limit: int, cursor: str | None) -> Page:
        """A page in SKU-key order (the primary key's), keyset-paged both ways, with the total and
        the matches, in one statement (one Data API call): limit+1 rows tell whether another page
        follows; matches are counted up to MATCHES_COUNTED_UP_TO."""
        check_limit(limit)
        position = read_cursor(cursor, f) if cursor else None
        filters, params = _filters(f)
        forward = position is None or position["d"] == "f"
        where = list(filters)
        if position:
            where.append("sku_key > :after" if forward else "sku_key < :after")
            params["after"] = position["k"]
        order = "ASC" if forward else "DESC"
        matches = (f"(SELECT count(*) FROM (SELECT 1 FROM products WHERE {' AND '.join(filters)} "
                   f"LIMIT {MATCHES_COUNTED_UP_TO + 1}) AS m)") if filters else "(SELECT n FROM product_count)"
        result = self.db.one(
            f"WITH page AS (SELECT sku_key, {COLUMNS} FROM products"
            + (" WHERE " + " AND ".join(where) if where else "") + f" ORDER BY sku_key {order} LIMIT {limit + 1}) "
            f"SELECT (SELECT n FROM product_count) AS total, {matches} AS matches, "
            f"(SELECT coalesce(json_agg(page ORDER BY sku_key {order}), '[]') FROM page) AS rows", params)
        rows = result["rows"]
        rows = json.loads(rows) if isinstance(rows, str) else rows
        more = len(rows) > limit
        rows = rows[:limit]
        if not forward:
            rows.reverse()
        next_cursor = prev_cursor = None
        if rows:
            if (forward and more) or not forward:
                next_cursor = make_cursor(f, "f", {"k": rows[-1]["sku_key"]})
            if (forward and position is not None) or (not forward and more):
                prev_cursor = make_cursor(f, "b", {"k": rows[0]["sku_key"]})
        elif position is not None:
            # An empty page after a cursor (e.g. everything after it was deleted): offer a way back.
            back = {"k": position["k"]}
            prev_cursor, next_cursor = (make_cursor(f, "b", back), None) if forward else (None, make_cursor(f, "f", back))
        matched = result["matches"]
        items = [Product(**{k: v for k, v in row.items() if k != "sku_key"}).to_json() for row in rows]
        return Page(items, result["total"], matched if matched <= MATCHES_COUNTED_UP_TO else None, limit,
                    next_cursor, prev_cursor)

    def count(self) -> int:
        return self.db.one("SELECT n FROM product_count")["n"]

    # --- export ------------------------------------------------------------------------------
    def export_pages(self, f: ProductFilter, position: dict) -> Iterator[ExportPage]:
        """Keyset pages on the primary key, read by EXPORT_READERS statements at once: one statement
        finds where the next EXPORT_READERS ranges of EXPORT_PAGE_ROWS keys end, then each range is
        read on its own (a page of rows as one JSON array of CSV-ready arrays; more pages when the
        rows are too large for one; each page's rows as CSV lines made by the statement: EXPORT_LINE),
        and the pages come back in key order."""
        filters, params = _filters(f)
        after = (position or {}).get("k")
        pool = ThreadPoolExecutor(max_workers=EXPORT_READERS)
        try:
            while True:
                bounds, rest = self._export_bounds(filters, params, after)
                ranges = list(zip([after, *bounds], bounds)) + ([(bounds[-1] if bounds else after, None)] if rest else [])
                reads = [pool.submit(self._export_range, filters, params, low, high) for low, high in ranges]
                for i, read in enumerate(reads):
                    pages = read.result()
                    for j, (text, rows, last) in enumerate(pages):
                        final = rest and i == len(reads) - 1 and j == len(pages) - 1
                        yield ExportPage(text, rows, None if final or last is None else {"k": last})
                if rest or not bounds:
                    return
                after = bounds[-1]
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _export_bounds(self, filters: list[str], params: dict, after: str | None) -> tuple[list[str], bool]:
        """The keys that end the next ranges of EXPORT_PAGE_ROWS rows after `after` (at most
        EXPORT_READERS), and whether a shorter last range follows them (the rest of the matches)."""
        where = list(filters) + (["sku_key > :after"] if after is not None else [])
        span = EXPORT_PAGE_ROWS * EXPORT_READERS
        result = self.db.one(
            "WITH keys AS (SELECT sku_key, row_number() OVER (ORDER BY sku_key) AS n FROM (SELECT sku_key FROM products"
            + (" WHERE " + " AND ".join(where) if where else "") + f" ORDER BY sku_key LIMIT {span}) AS s) "
            f"SELECT coalesce(json_agg(sku_key ORDER BY sku_key) FILTER (WHERE n % {EXPORT_PAGE_ROWS} = 0), '[]') "
            "AS bounds, count(*) AS n FROM keys",
            {**params, **({"after": after} if after is not None else {})})
        bounds = result["bounds"]
        bounds = json.loads(bounds) if isinstance(bounds, str) else bounds
        return bounds, result["n"] % EXPORT_PAGE_ROWS != 0

    def _export_range(self, filters: list[str], params: dict, low: str | None,
                      high: str | None) -> list[tuple[str, int, str | None]]:
        """Every row with a key in (low, high] (high None: no end), in pages under the byte budget:
        [(CSV lines, rows, the page's last key)]. A page cut by the budget sizes the next one's
        candidates from its own row count, so long rows are not turned into text over and over."""
        pages, limit = [], EXPORT_PAGE_ROWS + 1
        while True:
            text, rows, last, cut, full = self._export_page(filters, params, low, high, limit)
            pages.append((text, rows, last))
            if not (cut or full) or last is None:
                return pages
            low, limit = last, (min(EXPORT_PAGE_ROWS + 1, rows * 3 // 2 + 10) if cut else limit)

    def _export_page(self, filters: list[str], params: dict, after: str | None, upto: str | None,
                     limit: int) -> tuple[str, int, str | None, bool, bool]:
        """(CSV lines, rows, the last row's key, whether the byte budget cut the page, whether `limit` did)."""
        where = list(filters) + (["sku_key > :after"] if after is not None else []) \
            + (["sku_key <= :upto"] if upto is not None else [])
        result = self.db.one(
            f"WITH candidates AS (SELECT sku_key, {EXPORT_LINE} AS line FROM products"
            + (" WHERE " + " AND ".join(where) if where else "") + f" ORDER BY sku_key LIMIT {int(limit)}), "
            "sized AS (SELECT sku_key, line, sum(octet_length(line)) OVER (ORDER BY sku_key) AS running "
            "FROM candidates), "
            "page AS (SELECT sku_key, line FROM sized WHERE running <= :budget "
            "OR running = (SELECT min(running) FROM sized)) "
            "SELECT coalesce(string_agg(line, '' ORDER BY sku_key), '') AS text, max(sku_key) AS last, "
            "count(*) AS n, (SELECT count(*) FROM candidates) AS candidates FROM page",
            {**params, "budget": EXPORT_PAGE_BYTES, **({"after": after} if after is not None else {}),
             **({"upto": upto} if upto is not None else {})})
        return (result["text"], result["n"], result["last"], result["n"] < result["candidates"],
                result["candidates"] == limit)

    # --- delete-all --------------------------------------------------------------------------
    def delete_all_segments(self, at_most: int) -> list[dict]:
        return [{}]         # one statement empties the table: one segment

    def delete_segment(self, position: dict, deleted: Callable[[int], None],
                       time_is_short: Callable[[], bool]) -> tuple[dict, bool]:
        """Every product in one transaction: the table locked, counted and truncated."""
        with self.db.transaction() as tx:
            tx.execute("LOCK TABLE products IN ACCESS EXCLUSIVE MODE")
            count = tx.one("SELECT count(*) AS n FROM products")["n"]
            tx.execute("TRUNCATE products")
        deleted(count)
        return position, True

    def delete_stragglers(self, deleted: Callable[[int], None]) -> None:
        deleted(self.db.execute("DELETE FROM products"))

    def reset_counts(self) -> None:
        """Nothing to keep: the count follows the table (triggers)."""

    def forget_deleted(self, count: int) -> None:
        """Nothing to keep: the count follows the table (triggers)."""


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filters(f: ProductFilter) -> tuple[list[str], dict]:
    """WHERE clauses and parameters: SKU prefix as a key range (the primary key serves it), name
    contains through the trigram index, active through the partial index for inactive products."""
    where, params = [], {}
    if f.sku:
        where.append("sku_key >= :prefix AND sku_key < :prefix_end")
        params.update(prefix=f.sku, prefix_end=f.sku[:-1] + chr(ord(f.sku[-1]) + 1))
    if f.q:
        where.append("lower(name) LIKE :pattern")
        params["pattern"] = "%" + _like_escape(f.q) + "%"
    if f.active is not None:
        where.append("active = :active" if f.active else "NOT active")
        if f.active:
            params["active"] = True
    return where, params
