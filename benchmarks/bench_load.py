#!/usr/bin/env python3
"""Load on the products API, without an import and during a 500k import (`make bench-load`).

    .venv/bin/python benchmarks/bench_load.py [--rows 500000] [--users 10] [--seconds 60]
                                              [--max-import-seconds 240] [--warmup 5] [--keep]

Starts the local cloud as its own process (`python -m local`, the default store: aurora = embedded
PostgreSQL), seeds the catalog with `gen_products.py ROWS` (seed 42) through the API and the presigned
POST, then runs benchmarks/locustfile.py (readers and writers 4:1, loopback only) twice:

  1. without an import, for --seconds (after --warmup seconds whose requests are not counted);
  2. during a second import of the same file with every price changed (so every row is written): the
     load starts, the file is uploaded, and the load stops when the import ends (at most
     --max-import-seconds).

Prints, per phase and route, requests, requests/s, p50/p95/p99/max latency, errors and error rate,
the machine's load average, and whether browsing stayed within the products goals (issue 10, for
the PostgreSQL store: first page, cursor page, SKU prefix and active=false <= 10 ms median, name
contains <= 50 ms). Those goals are for one client at a time; here several users browse and write
at once on the same machine, so they are a stricter test. The figures go to benchmarks/out/ as JSON.

Locust runs in .venv-bench (requirements-bench.txt; `make bench-load` builds it), this script in .venv.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common" / "python")]

from tests.support.auth import api_session  # noqa: E402
from tests.support.cloud import TERMINAL, get_import, upload_via_api, wait_for_import  # noqa: E402
from tests.support.cloud_process import CloudProcess  # noqa: E402

GEN = Path("/work/shared/tools/gen_products.py")
if not GEN.exists():
    GEN = ROOT.parent / "shared" / "tools" / "gen_products.py"
LOCUSTFILE = ROOT / "benchmarks" / "locustfile.py"
BENCH_PYTHON = Path(os.environ.get("BENCH_VENV", ROOT / ".venv-bench")) / "bin" / "python"
OUT = ROOT / "benchmarks" / "out"
RARE = ("zzqx", "Smörgås", "Łódź", "東京", "12\" edition", "ñandú", "steel oak", "nothing-like-this")  # locustfile.RARE

GOALS = {  # ms, median; issue 10's goals for the PostgreSQL store (benchmarks/bench_products.py)
    "GET /products (first page)": 10,
    "GET /products?cursor (next page)": 10,
    "GET /products?sku (SKU prefix)": 10,
    "GET /products?active=false": 10,
    "GET /products?q (name contains)": 50,
    "GET /products?q (search, rare term)": 50,
}


def single_client(cloud, runs: int = 20) -> dict:
    """Medians of `runs` sequential requests per goal route from one client, no other load: what the
    machine gives right now, to read the loaded figures against."""
    http = api_session(cloud, "reader")

    def get(params):
        response = http.get(f"{cloud.api_url}/products", params=params, timeout=60)
        response.raise_for_status()
        return response.json()

    cursor = get({})["next"]
    cases = {"GET /products (first page)": {}, "GET /products?cursor (next page)": {"cursor": cursor},
             "GET /products?sku (SKU prefix)": {"sku": "abc"}, "GET /products?active=false": {"active": "false"},
             "GET /products?q (name contains)": {"q": "steel"}, "GET /products?q (search, rare term)": {"q": "zzqx"}}
    medians = {}
    for name, params in cases.items():
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            get(params)
            times.append((time.perf_counter() - start) * 1000)
        medians[name] = statistics.median(times)
    return medians


def search_terms(cloud, runs: int = 3) -> dict:
    """Medians of `runs` requests per search term of the Locust file's readers, one client alone."""
    http = api_session(cloud, "reader")
    medians = {}
    for term in RARE:
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            http.get(f"{cloud.api_url}/products", params={"q": term}, timeout=60).raise_for_status()
            times.append((time.perf_counter() - start) * 1000)
        medians[term] = statistics.median(times)
    return medians


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} ({os.cpu_count()} CPUs)"


def changed_copy(source: Path, target: Path) -> int:
    """The same rows with every price moved by 1.00 (a missing price becomes 1.00): each row writes."""
    rows = 0
    with source.open(newline="", encoding="utf-8") as f, target.open("w", newline="", encoding="utf-8") as out:
        reader, writer = csv.reader(f), csv.writer(out)
        header = next(reader)
        writer.writerow(header)
        price = header.index("price")
        for row in reader:
            try:
                row[price] = str(Decimal(row[price]) + 1 if row[price] else Decimal("1.00"))
            except InvalidOperation:
                pass
            writer.writerow(row)
            rows += 1
    return rows


def run_load(api_url: str, users: int, seconds: float, work: Path, label: str, warmup: float = 0,
             during=None) -> dict:
    """Runs the locustfile in .venv-bench; `during(ready)` (optional) runs once the users are spawned,
    and the load stops when it returns (or after `seconds`)."""
    out, stop, ready = work / f"{label}.json", work / f"{label}.stop", work / f"{label}.ready"
    args = [str(BENCH_PYTHON), str(LOCUSTFILE), "--host", api_url, "--users", str(users), "--spawn-rate", str(users),
            "--run-time", str(seconds), "--warmup", str(warmup), "--stop-file", str(stop), "--ready-file", str(ready),
            "--json", str(out)]
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    extra = None
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the load runner did not start:\n{process.stdout.read()}")
            time.sleep(0.1)
        if during is not None:
            extra = during()
            stop.touch()
        output, _ = process.communicate(timeout=seconds + warmup + 120)
    except BaseException:
        process.kill()
        raise
    if process.returncode != 0:
        raise RuntimeError(f"the load runner failed ({process.returncode}):\n{output}")
    result = json.loads(out.read_text())
    result["load_average_end"] = load_average()
    result["extra"] = extra
    return result


def print_phase(title: str, result: dict) -> None:
    print(f"\n== {title}: {result['users']} users (readers:writers 4:1), {result['seconds']:.1f} s; "
          f"{result['load_average_end']} at the end")
    print(f"{'route':<38}{'requests':>9}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}"
          f"{'errors':>8}{'err %':>7}")
    total = errors = 0
    for name, r in result["routes"].items():
        total += r["requests"]
        errors += r["errors"]
        print(f"{name:<38}{r['requests']:>9}{r['rps']:>8.1f}{r['p50']:>9.1f}{r['p95']:>9.1f}{r['p99']:>9.1f}"
              f"{r['max']:>9.1f}{r['errors']:>8}{100 * r['error_rate']:>7.2f}")
    print(f"{'all':<38}{total:>9}{total / result['seconds']:>8.1f}{'':>45}{errors:>8}"
          f"{100 * errors / max(total, 1):>7.2f}")
    for name, r in result["routes"].items():
        for kind, count in r["error_kinds"].items():
            print(f"  error {name}: {count} x {kind}")


def print_goals(baseline: dict[str, float], phases: dict[str, dict]) -> None:
    print("\n== browsing against the products goals (median, ms; the first column: one client alone, 20 requests)")
    print(f"{'route':<38}{'goal':>6}{'1 client, no import':>22}" + "".join(f"{title:>22}" for title in phases))
    for name, goal in GOALS.items():
        alone = baseline[name]
        cells = [f"{alone:.1f} {'ok' if alone <= goal else 'SLOW'}"]
        for result in phases.values():
            r = result["routes"].get(name)
            cells.append("no requests" if r is None else f"{r['p50']:.1f} {'ok' if r['p50'] <= goal else 'SLOW'}")
        print(f"{name:<38}{goal:>6}" + "".join(f"{cell:>22}" for cell in cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=500_000)
    ap.add_argument("--users", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=60, help="length of the phase without an import")
    ap.add_argument("--max-import-seconds", type=float, default=240, help="the phase during the import ends at most then")
    ap.add_argument("--warmup", type=float, default=5, help="seconds of load before the first phase counts")
    ap.add_argument("--keep", action="store_true", help="keep the generated files and the local cloud's data")
    args = ap.parse_args()
    if not BENCH_PYTHON.exists():
        sys.exit(f"{BENCH_PYTHON} is missing: `make bench-load` builds it (requirements-bench.txt)")

    started = time.monotonic()
    print(f"start: {load_average()}")
    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    seed_csv, changed_csv = work / "products.csv", work / "products-changed.csv"
    subprocess.run([sys.executable, str(GEN), str(args.rows), str(seed_csv), "--seed", "42"], check=True)
    changed_copy(seed_csv, changed_csv)
    cloud = CloudProcess(work / "cloud", {"CatalogStore": "aurora", "MaxUploadBytes": 2 * 1024 ** 3})
    phases: dict[str, dict] = {}
    try:
        t0 = time.perf_counter()
        seed = wait_for_import(cloud, upload_via_api(cloud, seed_csv), timeout=1800)
        print(f"seed import: {seed['status']} created={seed['created']} in {time.perf_counter() - t0:.1f} s")

        baseline = single_client(cloud)
        print("one client alone, medians of 20 (ms): " + ", ".join(f"{k} {v:.1f}" for k, v in baseline.items()))
        terms = search_terms(cloud)
        print("search terms, one client alone, medians of 3 (ms): " + ", ".join(f"{k!r} {v:.1f}" for k, v in terms.items()))
        print(f"phase 1 (no import): {load_average()}")
        phases["no import"] = run_load(cloud.api_url, args.users, args.seconds, work, "no-import", warmup=args.warmup)
        print_phase("no import", phases["no import"])

        def second_import():
            t_upload = time.perf_counter()
            import_id = upload_via_api(cloud, changed_csv)
            uploaded = time.perf_counter() - t_upload
            summary = wait_for_import(cloud, import_id, timeout=args.max_import_seconds, statuses=TERMINAL) \
                if args.max_import_seconds else None
            return {"id": import_id, "upload_seconds": uploaded, "seconds": time.perf_counter() - t_upload,
                    "summary": summary}

        print(f"\nphase 2 (during an import of {args.rows} changed rows): {load_average()}")
        try:
            phases["during import"] = run_load(cloud.api_url, args.users, args.max_import_seconds + 30, work,
                                               "during-import", during=second_import)
        except AssertionError as error:       # the import outlived --max-import-seconds
            print(f"the import did not end in {args.max_import_seconds} s: {error}")
            raise
        extra = phases["during import"]["extra"]
        summary = extra["summary"] or get_import(cloud, extra["id"])
        print(f"second import: {summary['status']} created={summary.get('created')} updated={summary.get('updated')} "
              f"unchanged={summary.get('unchanged')} failed={summary.get('failed')} "
              f"duplicates={summary.get('duplicates')}; upload {extra['upload_seconds']:.1f} s, "
              f"upload to the end {extra['seconds']:.1f} s")
        print_phase("during import", phases["during import"])
        print_goals(baseline, phases)
    finally:
        cloud.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    OUT.mkdir(exist_ok=True)
    out = OUT / f"bench_load-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps({"one client alone": baseline, "search terms": terms, **phases}, indent=1, default=str))
    print(f"\nfigures: {out.relative_to(ROOT)}; whole run {time.monotonic() - started:.0f} s; end: {load_average()}")


if __name__ == "__main__":
    main()
