"""Import benchmark through the local cloud, with the emulator's floor measured in the same run.

    python benchmarks/bench_import.py [--rows 500000] [--seed 42] [--cpu-runs 5] [--concurrency 4]

Prints: the chunk processor's pure-CPU rate (parse, validate, dedupe, marshal; no I/O; median of
--cpu-runs), the floor (BatchWriteItem of the same distinct items straight into an empty table
of the same shape, with as many writer threads as chunk processors), the end-to-end import and
re-import times through the real entry points (API -> presigned POST -> S3 -> SQS -> Step
Functions -> Lambdas -> DynamoDB), and the peak RSS of the local cloud's processes.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common" / "python")]

from catalog.chunks import gc_paused, plan_writes, read_chunk  # noqa: E402
from catalog.csvfile import BOM, iter_records, parse_header, split_lines  # noqa: E402
from catalog.products import Product  # noqa: E402
from catalog.rows import ProductRow, read_rows  # noqa: E402
from local.cloud import LocalCloud, free_port  # noqa: E402
from tests.support.cloud import upload_via_api, wait_for_import  # noqa: E402

GENERATOR = ROOT.parent / "shared" / "tools" / "gen_products.py"


class PeakRss:
    """Samples the summed RSS of this process and its children (dynalite) every 100 ms."""

    def __init__(self):
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        me = psutil.Process()
        while not self._stop.is_set():
            try:
                total = me.memory_info().rss + sum(c.memory_info().rss for c in me.children(recursive=True))
                self.peak = max(self.peak, total)
            except psutil.Error:
                pass
            self._stop.wait(0.1)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


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
            plan_writes("imp_bench", winners, {}, "2026-01-01T00:00:00.000000Z")


def winning_items(data: bytes) -> list[dict]:
    """Every distinct product's item, last row winning across the whole file (for the floor)."""
    header_line, ranges = chunk_ranges(data, len(data))
    header = parse_header(header_line[len(BOM):] if header_line.startswith(BOM) else header_line)
    winners: dict[str, ProductRow] = {}
    for row in read_rows(iter_records(split_lines((data[len(header_line):],)), line=1), header):
        if type(row) is ProductRow:
            winners[row.key] = row
    now = "2026-01-01T00:00:00.000000Z"
    return [Product(r.sku, r.name, r.description, r.price, r.active, "id-" + key, now, now).to_item()
            for key, r in winners.items()]


def measure_floor(cloud: LocalCloud, items: list[dict], threads: int) -> float:
    """BatchWriteItem every item into a fresh table shaped like the products table."""
    ddb = cloud.client("dynamodb")
    props = cloud.template["Resources"]["ProductsTable"]["Properties"]
    table = f"floor-{time.time_ns()}"
    ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                     **{k: props[k] for k in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes")})
    ddb.get_waiter("table_exists").wait(TableName=table)
    batches = [items[i:i + 25] for i in range(0, len(items), 25)]
    clients = [cloud.client("dynamodb") for _ in range(threads)]

    def write(worker: int) -> None:
        client = clients[worker]
        for batch in batches[worker::threads]:
            pending = {table: [{"PutRequest": {"Item": item}} for item in batch]}
            while pending:
                pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(write, range(threads)))
    seconds = time.perf_counter() - started
    ddb.delete_table(TableName=table)
    return seconds


def count_products(cloud: LocalCloud) -> int:
    ddb = cloud.client("dynamodb")
    total = 0
    for page in ddb.get_paginator("scan").paginate(TableName=cloud.ref("ProductsTable"), Select="COUNT"):
        total += page["Count"]
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
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
    items = winning_items(data)
    print(f"chunk processor pure CPU (one core, {len(ranges)} chunks of {args.chunk_rows:,} rows): median "
          f"{cpu:.2f} s of {args.cpu_runs} runs -> {args.rows / cpu:,.0f} rows/s; {len(items):,} distinct products")

    cloud = LocalCloud(data_dir=work / "data", api_port=free_port(), aws_port=free_port(), dynamodb_port=free_port(),
                       parameters={"ChunkRows": args.chunk_rows, "ChunkConcurrency": args.concurrency,
                                   "MaxUploadBytes": 2 * 1024 ** 3},
                       environment={"POWERTOOLS_LOG_LEVEL": "ERROR"})
    import logging
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    with PeakRss() as rss:
        cloud.start()
        try:
            floor = measure_floor(cloud, items, args.concurrency)
            print(f"emulator floor: BatchWriteItem {len(items):,} items, {args.concurrency} threads: "
                  f"{floor:.1f} s ({len(items) / floor:,.0f} items/s)")

            started = time.perf_counter()
            first = wait_for_import(cloud, upload_via_api(cloud, csv_path), timeout=3600)
            first_seconds = time.perf_counter() - started
            stored = count_products(cloud)
            print(f"import: {first['status']} in {first_seconds:.1f} s ({args.rows / first_seconds:,.0f} rows/s); "
                  f"created {first['created']:,}, duplicates {first['duplicates']:,}, failed {first['failed']:,}; "
                  f"{stored:,} products stored")

            started = time.perf_counter()
            again = wait_for_import(cloud, upload_via_api(cloud, csv_path), timeout=3600)
            again_seconds = time.perf_counter() - started
            print(f"re-import: {again['status']} in {again_seconds:.1f} s; unchanged {again['unchanged']:,}, "
                  f"created {again['created']:,}, updated {again['updated']:,}")
        finally:
            cloud.stop()
    print(f"peak RSS (local cloud process + dynalite): {rss.peak / 2 ** 20:,.0f} MiB")
    print(f"ratios: import / floor = {first_seconds / floor:.2f} (goal <= 1.3); "
          f"re-import / import = {again_seconds / first_seconds:.2f} (goal <= 0.5)")


if __name__ == "__main__":
    main()
