"""Planning an import: one streaming pass over the file that checks it, counts its rows, cuts it
into chunks at record boundaries and decides which row wins for every duplicated SKU.

Duplicates are settled here, before any chunk runs, so "the last valid row in file order
wins" holds however the parallel chunks are scheduled: each chunk gets the ordinals of its
rows that a later row supersedes and skips them.
"""
from __future__ import annotations

import json
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Iterator

from botocore.exceptions import ConnectionClosedError, IncompleteReadError, ReadTimeoutError, ResponseStreamingError

from catalog.imports.csvfile import BOM, iter_records, parse_header, split_lines
from catalog.imports.errors import BadFileError
from catalog.imports.rows import ProductRow, RowReader, is_blank
from catalog.imports.shopify import ShopifyRows
from catalog.shared.aws import client
from catalog.shared.clock import now_iso
from catalog.shared.gc_pause import gc_paused

READ_BLOCK = 8 * 1024 * 1024
RANGE_BYTES = 64 * 1024 * 1024      # one GET per range: a dropped connection re-reads one range, not the file
SNIFF_BYTES = 4096
RANGE_ATTEMPTS = 4                  # GETs per range when the connection drops mid-body
# What a connection dropped while the body streams raises (after the SDK call has returned, so the
# SDK's own retries never see it).
DROPPED = (IncompleteReadError, ResponseStreamingError, ReadTimeoutError, ConnectionClosedError)


@dataclass
class ImportPlan:
    total_rows: int
    chunk_count: int
    duplicates: int
    unknown_columns: list[str]
    columns: list[str]
    manifest_key: str
    header_bytes: int
    column_mapping: dict[str, str] = field(default_factory=dict)    # field -> header, as matched
    layout: str | None = None                                       # "shopify" for a Shopify export


def manifest_key_for(import_id: str) -> str:
    return f"imports/{import_id}/manifest.json"


def read_range(s3, bucket: str, key: str, etag: str, start: int, end: int) -> Iterator[bytes]:
    """Bytes start..end-1 of the object (checked against `etag`) in blocks. A connection dropped
    mid-body is resumed where it stopped, with a new GET of the rest (RANGE_ATTEMPTS in all)."""
    position, attempts = start, 0
    while position < end:
        attempts += 1
        body = s3.get_object(Bucket=bucket, Key=key, IfMatch=etag, Range=f"bytes={position}-{end - 1}")["Body"]
        try:
            for block in body.iter_chunks(READ_BLOCK):
                position += len(block)
                yield block
        except DROPPED:
            if attempts >= RANGE_ATTEMPTS:
                raise


def read_blocks(s3, bucket: str, key: str, etag: str, size: int) -> Iterator[bytes]:
    """The object's bytes in blocks, read range by range, each range checked against `etag`."""
    for start in range(0, size, RANGE_BYTES):
        yield from read_range(s3, bucket, key, etag, start, min(start + RANGE_BYTES, size))


def plan_import(import_id: str, bucket: str, key: str, *, chunk_rows: int, max_bytes: int,
                into_empty_catalog: bool = False, mode: str = "import",
                mapping: dict[str, str] | None = None) -> ImportPlan:
    """`into_empty_catalog`: the catalog held no product when planning began, so chunks may skip
    reading what is stored (there is nothing to compare with) — a bulk load's main saving.
    `mapping` ({field: header}) decides those fields' columns before the aliases (columns.py)."""
    s3 = client("s3")
    head = s3.head_object(Bucket=bucket, Key=key)
    size, etag = head["ContentLength"], head["ETag"]
    if size == 0:
        raise BadFileError("the file is empty")
    if size > max_bytes:
        raise BadFileError(f"the file is {size:,} bytes; the limit is {max_bytes:,} bytes")

    sniff = b"".join(read_range(s3, bucket, key, etag, 0, min(SNIFF_BYTES, size)))
    if sniff.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise BadFileError("the file is UTF-16 encoded; save it as UTF-8 CSV")
    if b"\x00" in sniff:
        raise BadFileError("the file is not a text CSV file (it contains NUL bytes); export it as CSV")
    lines = split_lines(read_blocks(s3, bucket, key, etag, size))
    first = next(lines, b"")
    if first.startswith(BOM):
        first = first[len(BOM):]
        header_bytes = len(first) + len(BOM)
    else:
        header_bytes = len(first)
    if not first.strip():
        raise BadFileError("the first line is empty; a header row (sku,name,...) is required")
    header = parse_header(first, mapping)
    reader = RowReader(header)
    # A Shopify export's rows inherit from their product's first row: chunks start only where a
    # product starts, and rows are read with their group (shopify.py).
    shopify = ShopifyRows(header) if header.layout else None

    chunks: list[dict] = []
    superseded: list[int] = []
    last_row_of: dict[str, int] = {}
    ordinal = chunk_first_row = 0
    chunk_start = cut_at = header_bytes
    chunk_first_line = cut_line = 1
    records = iter_records(lines, offset=header_bytes, line=1)
    with gc_paused():  # the loop builds a dict entry per row; see gc_pause.py
        for record in records:
            if shopify is not None and ordinal - chunk_first_row >= chunk_rows and shopify.starts_group(record.fields):
                chunks.append({"start": chunk_start, "end": cut_at, "first_line": chunk_first_line,
                               "first_row": chunk_first_row, "rows": ordinal - chunk_first_row})
                chunk_start, chunk_first_line, chunk_first_row = cut_at, cut_line, ordinal
            cut_at, cut_line = record.end, record.last_line
            if is_blank(record):
                continue
            row = reader.read(record) if shopify is None else shopify.read(record)
            if row is None:
                continue            # an image-only row of a Shopify export: no product
            if type(row) is ProductRow:
                previous = last_row_of.get(row.key)
                if previous is not None:
                    superseded.append(previous)
                last_row_of[row.key] = ordinal
            ordinal += 1
            if shopify is None and ordinal - chunk_first_row == chunk_rows:
                chunks.append({"start": chunk_start, "end": record.end, "first_line": chunk_first_line,
                               "first_row": chunk_first_row, "rows": chunk_rows})
                chunk_start, chunk_first_line, chunk_first_row = record.end, record.last_line, ordinal
    if ordinal == 0:
        raise BadFileError("the file has a header row but no data rows")
    if ordinal > chunk_first_row:
        chunks.append({"start": chunk_start, "end": size, "first_line": chunk_first_line,
                       "first_row": chunk_first_row, "rows": ordinal - chunk_first_row})
    else:
        chunks[-1]["end"] = size  # trailing blank lines belong to the last chunk

    skips: list[list[int]] = [[] for _ in chunks]
    first_rows = [chunk["first_row"] for chunk in chunks]
    for row in superseded:
        index = bisect_right(first_rows, row) - 1
        skips[index].append(row - first_rows[index])
    planned_at = now_iso()
    manifest = [{
        "import_id": import_id, "bucket": bucket, "key": key, "etag": etag, "index": index,
        "header": list(header.names), "columns": header.positions, **({"layout": header.layout} if header.layout else {}),
        "skip": sorted(skips[index]), "fresh": into_empty_catalog, "planned_at": planned_at, "mode": mode, **chunk,
    } for index, chunk in enumerate(chunks)]
    manifest_key = manifest_key_for(import_id)
    s3.put_object(Bucket=bucket, Key=manifest_key, Body=json.dumps(manifest).encode(),
                  ContentType="application/json")
    return ImportPlan(total_rows=ordinal, chunk_count=len(chunks), duplicates=len(superseded),
                unknown_columns=list(header.unknown), columns=list(header.names), manifest_key=manifest_key, header_bytes=header_bytes,
                column_mapping=dict(header.mapping), layout="shopify" if header.layout else None)
