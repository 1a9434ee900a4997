"""Processing one chunk of an import: validate its rows, compare with what is stored, write
only what changed, report bad rows, and count it all exactly once."""
from __future__ import annotations

import csv
import io
from typing import Callable

from catalog.imports.csvfile import (
    header_from_names,
    iter_records,
    split_lines,
    text_lines,
)
from catalog.imports.progress import CANCELLED, FAILED, ImportStore
from catalog.imports.rows import ProductRow, RowError, read_record_rows, read_text_rows
from catalog.products.stats import CatalogStats
from catalog.products.store import (
    Product,
    ProductStore,
    created_items,
    product_id_stream,
    product_item,
    shard_of,
    take_ids,
)
from catalog.shared.aws import client
from catalog.shared.clock import now_iso
from catalog.shared.gc_pause import gc_paused


def error_part_key(import_id: str, index: int) -> str:
    return f"imports/{import_id}/errors/{index:06d}.csv"


def plan_writes(import_id: str, winners: dict[str, ProductRow], existing: dict[str, dict],
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


def errors_csv(errors: list[RowError]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    for error in errors:
        writer.writerow([error.line, error.column, error.message, *error.values])
    return out.getvalue().encode("utf-8")


def read_chunk(data: bytes, chunk: dict) -> tuple[dict[str, ProductRow], list[RowError], int]:
    """The chunk's rows: winners by SKU key (rows the plan marked superseded skipped), bad rows,
    and how many were skipped as duplicates. Checks the row count against the plan's."""
    header = header_from_names(chunk["header"])
    skip = frozenset(chunk.get("skip") or ())
    lines = text_lines(data)
    if lines is not None:   # valid UTF-8, as nearly every chunk: the fast path
        winners, errors, duplicates, count = read_text_rows(lines, header, line=chunk["first_line"], skip=skip)
    else:                   # some row is not UTF-8: line by line, reporting those rows
        records = iter_records(split_lines((data,)), offset=chunk["start"], line=chunk["first_line"])
        winners, errors, duplicates, count = read_record_rows(records, header, skip)
    if count != chunk["rows"]:
        raise RuntimeError(f"chunk {chunk['index']} has {count} rows, the plan counted {chunk['rows']}")
    return winners, errors, duplicates


def process_chunk(chunk: dict, *, products_table: str, imports_table: str) -> dict:
    import_id, index = chunk["import_id"], chunk["index"]
    imports = ImportStore(imports_table)
    status = imports.status_of(import_id)
    if status in (CANCELLED, FAILED):
        return {"index": index, "skipped": status}

    s3 = client("s3")
    data = s3.get_object(Bucket=chunk["bucket"], Key=chunk["key"],
                         Range=f"bytes={chunk['start']}-{chunk['end'] - 1}",
                         IfMatch=chunk["etag"])["Body"].read()
    with gc_paused():
        winners, errors, duplicates = read_chunk(data, chunk)

    store = ProductStore(products_table)
    if chunk.get("fresh"):
        # The catalog was empty when the import was planned: nothing stored to compare with.
        # Ids come from a stream seeded by import and chunk, the time from the plan, so a
        # retry rewrites exactly the same items.
        existing, now = {}, chunk["planned_at"]
    else:
        existing, now = store.get_many(winners), now_iso()
    with gc_paused():
        items, counts, new_shards = plan_writes(import_id, winners, existing, now,
                                                product_id_stream(f"{import_id}:{index}"))
    store.write_many(items)
    if errors:
        s3.put_object(Bucket=chunk["bucket"], Key=error_part_key(import_id, index), Body=errors_csv(errors),
                      ContentType="text/csv")

    counts.update(failed=len(errors), duplicates=duplicates, rows_processed=chunk["rows"],
                  bytes_processed=chunk["end"] - chunk["start"], chunks_done=1)
    if imports.record_chunk(import_id, index, counts):
        CatalogStats(imports_table).add(counts["created"], new_shards)
    return {"index": index, **counts}
