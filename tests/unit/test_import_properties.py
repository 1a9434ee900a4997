"""Property tests of the CSV path: any catalog a spreadsheet can write imports exactly as a simple
reference model says (a dict; the last valid row wins; key = trimmed lower-case SKU), and the
error report lists exactly the bad rows.

Each example writes a catalog with Python's csv module (as a spreadsheet export does): random
SKUs (letter case, padding, Unicode, commas and quotes), duplicates at random distances, quoted
commas, quotes and line breaks, BOM or none, CRLF or LF, random column order and header case,
unknown columns and random bad rows. It is planned and its chunks processed, in random order, by
the real planner and chunk processor against moto; the planner reads the upload in random small
blocks, so block boundaries fall inside quoted fields and multi-byte characters, and the chunk
size is random too.
"""
from __future__ import annotations

import csv
import io
import itertools
import json
import os
from decimal import Decimal

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from catalog.imports import lifecycle, planner
from catalog.imports.chunks import process_chunk
from catalog.imports.progress import QUEUED, ImportStore
from catalog.shared.aws import client
from catalog.shared.settings import get_settings
from tests.support import products_api
from tests.support.catalogs import catalogs, expected_active, expected_price, reference_model, write_csv

IMPORT_EXAMPLES = 100   # each a whole import against moto (~0.15 s)
READ_EXAMPLES = 300     # each a parse of one file, twice


@pytest.fixture(scope="module")
def moto_pipeline():
    """One moto for the module (a fresh one per example would dominate the run); `clean_catalog`
    empties it between examples."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")] + ["AWS_PROFILE"]:
            patch.delenv(name, raising=False)
        for key, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                           "AWS_SECRET_ACCESS_KEY": "testing", "PRODUCTS_TABLE": "products",
                           "IMPORTS_TABLE": "imports", "UPLOADS_BUCKET": "uploads",
                           "MAX_UPLOAD_BYTES": "1000000", "CATALOG_STORE": "dynamodb"}.items():
            patch.setenv(key, value)
        with mock_aws():
            client.cache_clear()
            patch.setenv("EVENTS_QUEUE_URL", products_api.create_resources())
            boto3.client("s3").create_bucket(Bucket="uploads")
            yield patch
        client.cache_clear()
        get_settings.cache_clear()


def clean_catalog() -> None:
    ddb = boto3.client("dynamodb")
    for table, keys in (("products", ("sku_key",)), ("imports", ("id",))):
        for page in ddb.get_paginator("scan").paginate(TableName=table):
            for item in page["Items"]:
                ddb.delete_item(TableName=table, Key={k: item[k] for k in keys})


def run_import(import_id: str, body: bytes, order: list[int]) -> None:
    s3 = boto3.client("s3")
    s3.put_object(Bucket="uploads", Key=f"incoming/{import_id}.csv", Body=body)
    ImportStore("imports").create(import_id, status=QUEUED, source="s3", bucket="uploads",
                                  key=f"incoming/{import_id}.csv", file_name="p.csv")
    lifecycle.run_plan(get_settings(), import_id)
    manifest = json.loads(s3.get_object(Bucket="uploads", Key=planner.manifest_key_for(import_id))["Body"].read())
    for index in sorted(range(len(manifest)), key=lambda i: order[i % len(order)]):
        process_chunk(get_settings(), manifest[index])


def stored_products() -> dict[str, dict]:
    pages = boto3.client("dynamodb").get_paginator("scan").paginate(TableName="products")
    return {item["sku_key"]["S"]: item for page in pages for item in page["Items"]}


def reported_lines(import_id: str) -> list[int]:
    s3 = boto3.client("s3")
    listing = s3.list_objects_v2(Bucket="uploads", Prefix=f"imports/{import_id}/errors/").get("Contents", [])
    lines = []
    for key in (o["Key"] for o in listing):
        text = s3.get_object(Bucket="uploads", Key=key)["Body"].read().decode("utf-8")
        lines += [int(record[0]) for record in csv.reader(io.StringIO(text, newline=""))]
    return lines


import_ids = itertools.count()


@settings(max_examples=IMPORT_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                      HealthCheck.too_slow])
@given(catalog=catalogs(), chunk_rows=st.integers(1, 7), read_block=st.integers(1, 64),
       order=st.permutations(range(8)))
def test_any_spreadsheet_catalog_imports_as_the_reference_model_says(moto_pipeline, catalog, chunk_rows,
                                                                      read_block, order):
    body, starts = write_csv(catalog)
    expected, bad_lines, duplicates = reference_model(catalog, starts)
    clean_catalog()
    moto_pipeline.setenv("CHUNK_ROWS", str(chunk_rows))
    moto_pipeline.setattr(planner, "READ_BLOCK", read_block)
    get_settings.cache_clear()
    import_id = f"imp_{next(import_ids)}"
    run_import(import_id, body, order)

    stored = stored_products()
    assert set(stored) == set(expected)
    for key, row in expected.items():
        item = stored[key]
        assert item["sku"]["S"] == row["sku"].strip()
        assert item["name"]["S"] == row["name"].strip()
        assert item.get("description", {}).get("S", "") == row["description"].strip()
        price = expected_price(row["price"])
        assert (Decimal(item["price"]["N"]) if "price" in item else None) == (price and Decimal(price))
        assert item["active"]["BOOL"] is expected_active(row["active"])
    assert sorted(reported_lines(import_id)) == sorted(bad_lines)
    done = ImportStore("imports").get(import_id)
    assert (done["created"], done["failed"], done["duplicates"], done["rows_processed"]) == (
        len(expected), len(bad_lines), duplicates, len(catalog["rows"]))


@settings(max_examples=READ_EXAMPLES, deadline=None)
@given(catalog=catalogs(), read_block=st.integers(1, 64))
def test_the_planner_reads_the_same_records_whatever_the_read_block(catalog, read_block):
    """Splitting the stream anywhere (inside quoted fields, line breaks, multi-byte characters)
    gives the records one unsplit read gives."""
    body, starts = write_csv(catalog)
    whole = [(r.line, r.fields) for r in planner.iter_records(planner.split_lines([body[3:] if catalog["bom"] else body]),
                                                              offset=0, line=0)]
    data = body[3:] if catalog["bom"] else body
    pieces = [data[i:i + read_block] for i in range(0, len(data), read_block)]
    split = [(r.line, r.fields) for r in planner.iter_records(planner.split_lines(pieces), offset=0, line=0)]
    assert split == whole
    assert [line for line, _ in whole[1:]] == starts
