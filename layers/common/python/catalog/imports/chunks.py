"""Processing one chunk of an import: validate its rows, compare with what is stored, write
only what changed, report bad rows, and count it all exactly once."""
from __future__ import annotations

import csv
import io
import json

from catalog.imports.csvfile import header_from_plan, iter_records, split_lines, text_lines
from catalog.imports.progress import CANCELLED, FAILED, PREVIEW_MODE, ImportStore
from catalog.imports.rows import ProductRow, RowError, read_record_rows, read_text_rows
from catalog.imports.shopify import read_shopify_rows
from catalog.products.catalogs import catalog_store
from catalog.shared.aws import client
from catalog.shared.clock import now_iso
from catalog.shared.gc_pause import gc_paused
from catalog.shared.settings import Settings


def error_part_key(import_id: str, index: int) -> str:
    return f"imports/{import_id}/errors/{index:06d}.csv"


def sample_part_key(import_id: str, index: int) -> str:
    """A preview chunk's sample of changes (JSON), merged in chunk order by Finish."""
    return f"imports/{import_id}/preview/{index:06d}.json"


def errors_csv(errors: list[RowError]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    for error in errors:
        writer.writerow([error.line, error.column, error.message, *error.values])
    return out.getvalue().encode("utf-8")


def read_chunk(data: bytes, chunk: dict) -> tuple[dict[str, ProductRow], list[RowError], int]:
    """The chunk's rows: winners by SKU key (rows the plan marked superseded skipped), bad rows,
    and how many were skipped as duplicates. Checks the row count against the plan's."""
    header = header_from_plan(chunk["header"], chunk.get("columns"), chunk.get("layout"))
    skip = frozenset(chunk.get("skip") or ())
    lines = None if header.layout else text_lines(data)
    if lines is not None:   # valid UTF-8, as nearly every chunk: the fast path
        winners, errors, duplicates, count = read_text_rows(lines, header, line=chunk["first_line"], skip=skip)
    else:                   # a Shopify export (rows read with their product's first row), or a row not UTF-8
        records = iter_records(split_lines((data,)), offset=chunk["start"], line=chunk["first_line"])
        read = read_shopify_rows if header.layout else read_record_rows
        winners, errors, duplicates, count = read(records, header, skip)
    if count != chunk["rows"]:
        raise RuntimeError(f"chunk {chunk['index']} has {count} rows, the plan counted {chunk['rows']}")
    return winners, errors, duplicates


def process_chunk(settings: Settings, chunk: dict) -> dict:
    import_id, index = chunk["import_id"], chunk["index"]
    imports = ImportStore(settings.imports_table)
    status = imports.status_of(import_id)
    if status in (CANCELLED, FAILED):
        return {"index": index, "skipped": status}
    if status is None:      # no such import (its item is gone): write nothing for it
        return {"index": index, "skipped": "UNKNOWN"}

    try:
        return _process(settings, imports, chunk)
    except Exception:
        imports.chunk_failed(import_id, index)      # the grid shows it; the state machine retries
        raise


def _process(settings: Settings, imports: ImportStore, chunk: dict) -> dict:
    import_id, index = chunk["import_id"], chunk["index"]
    imports.chunk_started(import_id, index)
    s3 = client("s3")
    data = s3.get_object(Bucket=chunk["bucket"], Key=chunk["key"],
                         Range=f"bytes={chunk['start']}-{chunk['end'] - 1}",
                         IfMatch=chunk["etag"])["Body"].read()
    with gc_paused():
        winners, errors, duplicates = read_chunk(data, chunk)

    store = catalog_store(settings)
    if chunk.get("mode") == PREVIEW_MODE:
        return _preview(imports, store, s3, chunk, winners, errors, duplicates)
    # A first bulk load writes with the plan's time, so a retry rewrites exactly the same products.
    fresh = bool(chunk.get("fresh"))
    write = store.write_chunk(import_id, index, winners, fresh=fresh, now=chunk["planned_at"] if fresh else now_iso())
    counts = _report(s3, chunk, write.counts(), errors, duplicates)
    if imports.record_chunk(import_id, index, counts):
        store.chunk_counted(write)
    return {"index": index, **counts}


def _preview(imports: ImportStore, store, s3, chunk: dict, winners: dict, errors: list[RowError],
             duplicates: int) -> dict:
    """The same validation and reads as a write, nothing written to the catalog: what it would do is
    counted (with the per-field changes) in the same single conditional update, so once per chunk."""
    import_id, index = chunk["import_id"], chunk["index"]
    preview = store.preview_chunk(winners, fresh=bool(chunk.get("fresh")))
    if preview.sample:
        s3.put_object(Bucket=chunk["bucket"], Key=sample_part_key(import_id, index),
                      Body=json.dumps(preview.sample, ensure_ascii=False).encode(), ContentType="application/json")
    counts = _report(s3, chunk, preview.counts(), errors, duplicates)
    imports.record_chunk(import_id, index, counts, field_changes=preview.field_changes)
    return {"index": index, **counts}


def _report(s3, chunk: dict, outcome: dict[str, int], errors: list[RowError], duplicates: int) -> dict[str, int]:
    """Writes the chunk's bad rows (its part of the error report) and returns every counter it adds."""
    if errors:
        s3.put_object(Bucket=chunk["bucket"], Key=error_part_key(chunk["import_id"], chunk["index"]),
                      Body=errors_csv(errors), ContentType="text/csv")
    return {**outcome, "failed": len(errors), "duplicates": duplicates, "rows_processed": chunk["rows"],
            "bytes_processed": chunk["end"] - chunk["start"], "chunks_done": 1}
