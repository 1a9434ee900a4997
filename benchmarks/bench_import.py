"""Import benchmark through the local cloud, with the store's floor measured in the same run.

    python benchmarks/bench_import.py [--store aurora|dynamodb] [--rows 500000] [--seed 42]
                                      [--cpu-runs 5] [--concurrency 4]

Prints: the chunk processor's pure-CPU rate (parse, validate, dedupe, marshal; no I/O; median of
--cpu-runs), the floor, the end-to-end import and re-import times through the real entry points
(API -> presigned POST -> S3 -> SQS -> Step Functions -> Lambdas -> the catalog store), a check of
every stored product against its last row, then a preview (dry run) of the same file over the
imported catalog and an export of the whole catalog (GET /products/export until its job has
SUCCEEDED, the CSV downloaded and its rows counted), each as a ratio to the import of the same
run, and the peak memory of the local cloud's processes: RSS and PSS over the whole run, and the
peak PSS of each phase (import, re-import, preview, export with its download).

The floor, per store:
- dynamodb: BatchWriteItem of the same distinct items straight into an empty table of the same
  shape on a dynalite of its own, with as many writer threads as chunk processors;
- aurora: on an embedded PostgreSQL of its own with the catalog's schema (trigram index included),
  COPY of the same distinct rows into a staging table plus one INSERT ... ON CONFLICT upsert.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import boto3
import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common" / "python")]

from catalog.imports.chunks import read_chunk  # noqa: E402
from catalog.imports.csvfile import BOM, iter_records, parse_header, split_lines  # noqa: E402
from catalog.imports.rows import ProductRow, read_rows  # noqa: E402
from catalog.products.dynamodb_catalog import plan_writes  # noqa: E402
from catalog.products.migrations import MIGRATIONS, statements  # noqa: E402
from catalog.products.store import Product, product_id_stream  # noqa: E402
from catalog.shared.gc_pause import gc_paused  # noqa: E402
from local import template as tpl  # noqa: E402
from local.cloud import database_arns  # noqa: E402
from local.postgres import EmbeddedPostgres  # noqa: E402
from tests.support.auth import api_session  # noqa: E402
from tests.support.cloud import upload_via_api, wait_for_import  # noqa: E402
from tests.support.cloud_process import STACK, CloudProcess, PeakRss, free_port, wait_for_port  # noqa: E402

GENERATOR = ROOT.parent / "shared" / "tools" / "gen_products.py"


def chunk_ranges(data: bytes, chunk_rows: int) -> tuple[bytes, list[tuple[int, int, int, int]]]:
    """(header line, [(start, end, first_line, rows)]): chunks as the planner cuts them (not timed)."""
    lines = split_lines([data])
    first = next(lines)
    ranges, start, first_line, count = [], len(first), 1, 0
    for record in iter_records(lines, offset=len(first), line=1):
        count += 1
        if count % chunk_rows == 0:
            ranges.append((start, record.end, first_line, chunk_rows))
            start, first_line = record.end, record.last_line
    if start < len(data):
        ranges.append((start, len(data), first_line, count % chunk_rows))
    return first, ranges


def chunk_cpu_work(data: bytes, header_line: bytes, ranges) -> None:
    """What the chunk processors compute, chunk by chunk, without I/O (catalog.chunks.read_chunk
    and plan_writes, as for a first import): records -> validated rows -> last row wins -> items."""
    header = parse_header(header_line[len(BOM):] if header_line.startswith(BOM) else header_line)
    for index, (start, end, first_line, rows) in enumerate(ranges):
        chunk = {"index": index, "header": list(header.names), "start": start, "first_line": first_line,
                 "skip": [], "rows": rows}
        with gc_paused():
            winners, _, _ = read_chunk(data[start:end], chunk)
            plan_writes("imp_bench", winners, {}, "2026-01-01T00:00:00.000000Z",
                        product_id_stream(f"imp_bench:{index}"))


def winning_rows(data: bytes) -> dict[str, ProductRow]:
    """Every distinct product's row, last row winning across the whole file (for the floor)."""
    header_line, ranges = chunk_ranges(data, len(data))
    header = parse_header(header_line[len(BOM):] if header_line.startswith(BOM) else header_line)
    winners: dict[str, ProductRow] = {}
    for row in read_rows(iter_records(split_lines((data[len(header_line):],)), line=1), header):
        if type(row) is ProductRow:
            winners[row.key] = row
    return winners


def dynamodb_items(winners: dict[str, ProductRow]) -> list[dict]:
    now = "2026-01-01T00:00:00.000000Z"
    return [Product(r.sku, r.name, r.description, r.price, r.active, "id-" + key, now, now).to_item()
            for key, r in winners.items()]


def measure_postgres_floor(work: Path, winners: dict[str, ProductRow]) -> float:
    """COPY of the distinct rows into a staging table, then one upsert into the catalog's table
    (its migrations applied: key, trigram and partial indexes), on an embedded PostgreSQL of its own."""
    postgres = EmbeddedPostgres(work / "floor-postgres", settings={"synchronous_commit": "off"}).start()
    try:
        postgres.ensure_database("catalog", owner="catalog")
        with psycopg.connect(postgres.conninfo("catalog", user="catalog"), autocommit=True) as db:
            for path in sorted(MIGRATIONS.glob("*.sql")):
                for statement in statements(path.read_text()):
                    db.execute(statement)
            now = "2026-01-01T00:00:00.000000Z"
            started = time.perf_counter()
            with db.transaction():
                db.execute("CREATE TEMP TABLE staging (LIKE products) ON COMMIT DROP")
                with db.cursor().copy("COPY staging (sku_key, sku, name, description, price, active, id, "
                                      "created_at, updated_at, import_id) FROM STDIN") as copy:
                    for key, r in winners.items():
                        copy.write_row((key, r.sku, r.name, r.description, r.price, r.active, "id-" + key,
                                        now, now, "imp_floor"))
                db.execute("INSERT INTO products SELECT * FROM staging ON CONFLICT (sku_key) DO UPDATE "
                           "SET sku = EXCLUDED.sku, name = EXCLUDED.name, description = EXCLUDED.description, "
                           "price = EXCLUDED.price, active = EXCLUDED.active, updated_at = EXCLUDED.updated_at")
            return time.perf_counter() - started
    finally:
        postgres.stop()


def measure_floor(work: Path, items: list[dict], threads: int) -> float:
    """BatchWriteItem every item into an empty table shaped like the products table, on a
    dynalite of its own (fresh data folder), with as many writer threads as chunk processors."""
    port = free_port()
    dynalite = subprocess.Popen(["node", str(ROOT / "node_modules" / "dynalite" / "cli.js"), "--port", str(port),
                                 "--host", "127.0.0.1", "--path", str(work / "floor-db")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, process=dynalite)
        endpoint = f"http://127.0.0.1:{port}"
        make = lambda: boto3.session.Session().client(  # noqa: E731
            "dynamodb", endpoint_url=endpoint, region_name="us-east-1",
            aws_access_key_id="local", aws_secret_access_key="local")
        props = tpl.load(ROOT / "template.yaml")["Resources"]["ProductsTable"]["Properties"]
        make().create_table(TableName="floor", BillingMode="PAY_PER_REQUEST",
                            **{k: props[k] for k in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes")})
        make().get_waiter("table_exists").wait(TableName="floor")
        batches = [items[i:i + 25] for i in range(0, len(items), 25)]
        clients = [make() for _ in range(threads)]

        def write(worker: int) -> None:
            client = clients[worker]
            for batch in batches[worker::threads]:
                pending = {"floor": [{"PutRequest": {"Item": item}} for item in batch]}
                while pending:
                    pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(write, range(threads)))
        return time.perf_counter() - started
    finally:
        dynalite.terminate()
        dynalite.wait(timeout=30)


def row_values(r: ProductRow) -> tuple:
    """What a stored product must hold: its last row's values (the price as a number)."""
    return r.sku, r.name, r.description, Decimal(r.price) if r.price is not None else None, r.active


def item_values(item: dict) -> tuple:
    price = item.get("price")
    return (item["sku"]["S"], item["name"]["S"], item.get("description", {}).get("S", ""),
            Decimal(price["N"]) if price else None, item.get("active", {}).get("BOOL", True))


def check_postgres_products(cloud: CloudProcess, expected: dict[str, tuple]) -> tuple[int, int, int]:
    """Reads the catalog through the Data API, 1,000 rows a call: (stored, missing, wrong)."""
    _, cluster_arn, secret_arn = database_arns(STACK, "CatalogDatabase")
    rds = cloud.client("rds-data")
    stored = wrong = 0
    seen, after = set(), ""
    while True:
        response = rds.execute_statement(
            resourceArn=cluster_arn, secretArn=secret_arn, database="catalog", formatRecordsAs="JSON",
            sql="SELECT sku_key, sku, name, description, price::text AS price, active FROM products "
                "WHERE sku_key > :after ORDER BY sku_key LIMIT 1000",
            parameters=[{"name": "after", "value": {"stringValue": after}}])
        rows = json.loads(response["formattedRecords"])
        for row in rows:
            stored += 1
            seen.add(row["sku_key"])
            values = (row["sku"], row["name"], row["description"],
                      Decimal(row["price"]) if row["price"] is not None else None, row["active"])
            wrong += expected.get(row["sku_key"]) != values
        if len(rows) < 1000:
            return stored, len(expected.keys() - seen), wrong
        after = rows[-1]["sku_key"]


def check_products(cloud: CloudProcess, expected: dict[str, tuple]) -> tuple[int, int, int]:
    """Scans the products table: (stored, missing, wrong), against every winning row's values."""
    client = boto3.session.Session().client("dynamodb", endpoint_url=f"http://127.0.0.1:{cloud.dynamodb_port}",
                                            region_name="us-east-1", aws_access_key_id="local",
                                            aws_secret_access_key="local")
    stored = wrong = 0
    seen = set()
    names = {f"#{n}": n for n in ("sku_key", "sku", "name", "description", "price", "active")}
    for page in client.get_paginator("scan").paginate(TableName="catalog-ProductsTable",
                                                      ProjectionExpression=", ".join(names),
                                                      ExpressionAttributeNames=names):
        for item in page["Items"]:
            stored += 1
            key = item["sku_key"]["S"]
            seen.add(key)
            wrong += expected.get(key) != item_values(item)
    return stored, len(expected.keys() - seen), wrong


def run_export(cloud: CloudProcess) -> tuple[float, int, int]:
    """GET /products/export, then its job polled until it ends: (seconds, rows in the CSV, bytes).
    The download and the row count are not timed."""
    http = api_session(cloud, "reader")
    started = time.perf_counter()
    response = http.get(f"{cloud.api_url}/products/export", timeout=30)
    assert response.status_code == 202, response.text
    job = response.json()
    while job["status"] not in ("SUCCEEDED", "FAILED"):
        time.sleep(0.2)
        job = http.get(f"{cloud.api_url}/products/exports/{job['id']}", timeout=30).json()
    seconds = time.perf_counter() - started
    if job["status"] != "SUCCEEDED":
        raise SystemExit(f"export failed: {job.get('error')}")
    body = requests.get(job["download_url"], timeout=300).content
    rows = sum(1 for _ in csv.reader(io.StringIO(body.decode("utf-8"), newline=""))) - 1
    return seconds, rows, len(body)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", choices=("aurora", "dynamodb"), default="aurora",
                        help="the catalog store (template parameter CatalogStore)")
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--cpu-runs", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--chunk-rows", type=int, default=10_000)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-import-"))
    csv_path = work / f"products-{args.rows}.csv"
    subprocess.run([sys.executable, str(GENERATOR), str(args.rows), str(csv_path), "--seed", str(args.seed)], check=True)
    data = csv_path.read_bytes()
    print(f"file: {args.rows:,} rows, {len(data) / 1e6:.1f} MB (gen_products.py seed {args.seed})")

    header_line, ranges = chunk_ranges(data, args.chunk_rows)
    cpu_seconds = []
    for _ in range(args.cpu_runs):
        started = time.perf_counter()
        chunk_cpu_work(data, header_line, ranges)
        cpu_seconds.append(time.perf_counter() - started)
    cpu = statistics.median(cpu_seconds)
    baseline_seconds = []
    for _ in range(args.cpu_runs):   # the machine's speed right now: csv.reader alone over the same bytes
        started = time.perf_counter()
        for _row in csv.reader(io.StringIO(data.decode("utf-8"), newline="")):
            pass
        baseline_seconds.append(time.perf_counter() - started)
    baseline = statistics.median(baseline_seconds)
    winners = winning_rows(data)
    print(f"chunk processor pure CPU (one core, {len(ranges)} chunks of {args.chunk_rows:,} rows): median "
          f"{cpu:.2f} s of {args.cpu_runs} runs -> {args.rows / cpu:,.0f} rows/s; {len(winners):,} distinct products\n"
          f"  baseline, csv.reader alone over the same bytes: {args.rows / baseline:,.0f} rows/s "
          f"(the chunk processor takes {cpu / baseline:.1f}x the bare parse)")

    if args.store == "dynamodb":
        floor = measure_floor(work, dynamodb_items(winners), args.concurrency)
        print(f"floor (dynamodb): BatchWriteItem {len(winners):,} items into an empty table, {args.concurrency} "
              f"threads: {floor:.1f} s ({len(winners) / floor:,.0f} items/s)")
    else:
        floor = measure_postgres_floor(work, winners)
        print(f"floor (aurora): COPY {len(winners):,} rows into a staging table + one upsert into the catalog table "
              f"(with its indexes), embedded PostgreSQL: {floor:.1f} s ({len(winners) / floor:,.0f} rows/s)")
    expected = {key: row_values(row) for key, row in winners.items()}
    del winners

    cloud = CloudProcess(work / "data", {"CatalogStore": args.store, "ChunkRows": args.chunk_rows,
                                         "ChunkConcurrency": args.concurrency, "MaxUploadBytes": 2 * 1024 ** 3})
    try:
        with PeakRss(cloud.process.pid) as rss:
            started = time.perf_counter()
            first = wait_for_import(cloud, upload_via_api(cloud, csv_path), timeout=3600)
            first_seconds = time.perf_counter() - started
            phase_pss = {"import": rss.phase_done()}
            stored, missing, wrong = (check_products if args.store == "dynamodb" else check_postgres_products)(
                cloud, expected)
            rss.phase_done()        # the check's reads are not an import's
            print(f"import: {first['status']} in {first_seconds:.1f} s ({args.rows / first_seconds:,.0f} rows/s); "
                  f"created {first['created']:,}, duplicates {first['duplicates']:,}, failed {first['failed']:,}; "
                  f"{stored:,} products stored, {missing:,} of the {len(expected):,} distinct SKUs missing, "
                  f"{wrong:,} not holding their last row's values")

            started = time.perf_counter()
            again = wait_for_import(cloud, upload_via_api(cloud, csv_path), timeout=3600)
            again_seconds = time.perf_counter() - started
            phase_pss["re-import"] = rss.phase_done()
            print(f"re-import: {again['status']} in {again_seconds:.1f} s; unchanged {again['unchanged']:,}, "
                  f"created {again['created']:,}, updated {again['updated']:,}")

            started = time.perf_counter()
            preview = wait_for_import(cloud, upload_via_api(cloud, csv_path, mode="preview"), timeout=3600)
            preview_seconds = time.perf_counter() - started
            phase_pss["preview"] = rss.phase_done()
            print(f"preview (dry run over the imported catalog): {preview['status']} in {preview_seconds:.1f} s; "
                  f"would create {preview['created']:,}, update {preview['updated']:,}, leave {preview['unchanged']:,} "
                  f"unchanged; preview / re-import = {preview_seconds / again_seconds:.2f}, "
                  f"preview / import = {preview_seconds / first_seconds:.2f}")

            export_seconds, export_rows, export_bytes = run_export(cloud)
            phase_pss["export and its download"] = rss.phase_done()
            print(f"export of the whole catalog: {export_rows:,} rows, {export_bytes / 1e6:.1f} MB in {export_seconds:.1f} s "
                  f"(job start to SUCCEEDED); export / import = {export_seconds / first_seconds:.2f}")
    finally:
        cloud.stop()
    print(f"peak memory of the local cloud (python -m local + dynalite + PostgreSQL): RSS summed "
          f"{rss.peak / 2 ** 20:,.0f} MiB, PSS summed {rss.peak_pss / 2 ** 20:,.0f} MiB; peak PSS by phase: "
          + ", ".join(f"{phase} {pss / 2 ** 20:,.0f} MiB" for phase, pss in phase_pss.items()))
    if args.store == "dynamodb":
        print(f"ratios: import / floor = {first_seconds / floor:.2f} (goal <= 1.3); "
              f"re-import / import = {again_seconds / first_seconds:.2f} (goal <= 0.5)")
    else:
        print(f"goals (issue 10): import {first_seconds:.1f} s (<= 15), import / floor = {first_seconds / floor:.2f} "
              f"(<= 3); re-import {again_seconds:.1f} s (<= 10); peak PSS of the import and re-import "
              f"{max(phase_pss['import'], phase_pss['re-import']) / 2 ** 20:,.0f} MiB (<= 1024)")


if __name__ == "__main__":
    main()
