#!/usr/bin/env python3
"""Products API benchmark in the local cloud.

    python benchmarks/bench_products.py [--store aurora|dynamodb] [--rows 500000] [--runs 5]
                                        [--skip-delete-all] [--keep]

Imports `gen_products.py ROWS` (seed 42) through the API, then prints the median of RUNS for:
first page, page 200 (following `next` cursors), sku prefix `abc`, active=false, name contains
`steel`, name contains `zzqx` (no match: the whole catalog is searched); then delete-all of the whole
catalog: on DynamoDB against the emulator's floor measured in the same run (BatchWriteItem deletes
of the same keys, 8 threads, straight into a copy of the table with the same indexes); on
PostgreSQL against its goal (one transaction, <= 5 s).
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common" / "python")]

from tests.support.auth import api_session  # noqa: E402
from tests.support.cloud_process import CloudProcess, PeakRss  # noqa: E402

HTTP = requests.Session()     # the admin's token, once the cloud runs (every route needs one)

GEN = Path("/work/shared/tools/gen_products.py")
if not GEN.exists():
    GEN = ROOT.parent / "shared" / "tools" / "gen_products.py"

DJANGO = {"first page": 4.9, "sku prefix abc": 184, "name contains steel": 79, "active=false": 16}
GOALS = {  # ms, per store
    "dynamodb": {"first page": 50, "page 200": 50, "sku prefix abc": 50, "active=false": 100,
                 "name contains steel": 2000, "name contains zzqx": 5000},
    "aurora": {"first page": 10, "page 200": 10, "sku prefix abc": 10, "active=false": 10,
               "name contains steel": 50, "name contains zzqx": 50},
}


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return (time.perf_counter() - start) * 1000, result


def get(api, params):
    response = HTTP.get(f"{api}/products", params=params, timeout=120)
    response.raise_for_status()
    return response.json()


def page_200(api):
    cursor = None
    for _ in range(199):
        cursor = get(api, {"cursor": cursor} if cursor else {})["next"]
    ms, page = timed(lambda: get(api, {"cursor": cursor}))
    return ms, page


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", choices=("aurora", "dynamodb"), default="aurora")
    ap.add_argument("--rows", type=int, default=500_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--skip-delete-all", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the generated file and the local cloud's data")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-products-"))
    csv_path = work / "products.csv"
    subprocess.run([sys.executable, str(GEN), str(args.rows), str(csv_path), "--seed", "42"], check=True)
    cloud = CloudProcess(work / "cloud", {"CatalogStore": args.store, "MaxUploadBytes": 2 * 1024 ** 3})
    goals = GOALS[args.store]
    try:
        with PeakRss(cloud.process.pid) as rss:
            from tests.support.cloud import upload_via_api, wait_for_import
            api = cloud.api_url
            HTTP.headers.update(api_session(cloud).headers)
            t0 = time.perf_counter()
            summary = wait_for_import(cloud, upload_via_api(cloud, csv_path), timeout=3600)
            print(f"import: {summary['status']} created={summary['created']} in {time.perf_counter() - t0:.1f} s")
            total = get(api, {"limit": 1})["total"]
            print(f"catalog: {total} products\n")

            cases = {
                "first page": lambda: timed(lambda: get(api, {})),
                "page 200": lambda: page_200(api),
                "sku prefix abc": lambda: timed(lambda: get(api, {"sku": "abc"})),
                "active=false": lambda: timed(lambda: get(api, {"active": "false"})),
                "name contains steel": lambda: timed(lambda: get(api, {"q": "steel"})),
                "name contains zzqx": lambda: timed(lambda: get(api, {"q": "zzqx"})),
            }
            print(f"{'case':<22}{'median ms':>10}{'min':>8}{'max':>8}{'items':>7}{'goal':>8}{'django':>8}")
            for name, case in cases.items():
                runs = [case() for _ in range(args.runs)]
                times = [ms for ms, _ in runs]
                items = len(runs[-1][1]["items"])
                median = statistics.median(times)
                ok = "ok" if median <= goals[name] else "SLOW"
                print(f"{name:<22}{median:>10.1f}{min(times):>8.1f}{max(times):>8.1f}{items:>7}"
                      f"{goals[name]:>8}{DJANGO.get(name, ''):>8}  {ok}")

            if not args.skip_delete_all:
                print()
                floor = measure_floor(cloud) if args.store == "dynamodb" else None
                t0 = time.perf_counter()
                job = HTTP.delete(f"{api}/products", timeout=60).json()
                while True:
                    view = HTTP.get(f"{api}/products/delete-all/{job['id']}", timeout=60).json()
                    if view["status"] in ("SUCCEEDED", "FAILED"):
                        break
                    time.sleep(0.2)
                seconds = time.perf_counter() - t0
                left = get(api, {"limit": 1})
                print(f"delete-all: {view['status']} deleted={view['deleted']} in {seconds:.1f} s "
                      f"({view['deleted'] / seconds:,.0f} items/s); left: total={left['total']} items={len(left['items'])}")
                if floor is None:
                    print(f"goal (PostgreSQL, one transaction): <= 5 s: {'ok' if seconds <= 5 else 'SLOW'}")
                else:
                    print(f"emulator floor (BatchWriteItem deletes, 8 threads): {floor:.1f} s; "
                          f"ratio {seconds / floor:.2f} (goal <= 1.5)")
    finally:
        cloud.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\npeak memory of the local cloud (python -m local + dynalite + PostgreSQL): RSS summed "
          f"{rss.peak / 2 ** 20:,.0f} MiB, PSS summed {rss.peak_pss / 2 ** 20:,.0f} MiB")


def measure_floor(cloud) -> float:
    """Copies the catalog into a scratch table with the same indexes, then times deleting every key."""
    ddb = cloud.client("dynamodb")
    source = cloud.name("ProductsTable")
    scratch = source + "-floor"
    desc = ddb.describe_table(TableName=source)["Table"]
    ddb.create_table(TableName=scratch, BillingMode="PAY_PER_REQUEST", AttributeDefinitions=desc["AttributeDefinitions"],
                     KeySchema=desc["KeySchema"], GlobalSecondaryIndexes=[
                         {k: g[k] for k in ("IndexName", "KeySchema", "Projection")}
                         for g in desc["GlobalSecondaryIndexes"]])
    ddb.get_waiter("table_exists").wait(TableName=scratch)
    items = [i for page in ddb.get_paginator("scan").paginate(TableName=source) for i in page["Items"]]
    keys = [i["sku_key"]["S"] for i in items]

    def write(requests_):
        pending = {scratch: requests_}
        while pending:
            pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    batches = [[{"PutRequest": {"Item": i}} for i in items[s:s + 25]] for s in range(0, len(items), 25)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, batches))
    del items, batches
    deletes = [[{"DeleteRequest": {"Key": {"sku_key": {"S": k}}}} for k in keys[s:s + 25]]
               for s in range(0, len(keys), 25)]
    start = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, deletes))
    seconds = time.perf_counter() - start
    ddb.delete_table(TableName=scratch)
    return seconds


if __name__ == "__main__":
    main()
