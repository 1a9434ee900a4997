"""Export end to end through the local cloud: GET /products/export starts the job (the export state
machine in moto's Step Functions, its worker as a Lambda), GET /products/exports/{id} reports it and
signs the download, and the file is fetched from S3 as a browser would. Runs on the session's store
(--catalog-store). The session's cloud cuts S3's smallest parts (5 MiB) and hands each part to a new
worker invocation (ExportPartBytes, ExportInvocationSeconds in tests/conftest.py), so a file of a few
parts continues across invocations exactly as a large one does on AWS when its time runs short."""
from __future__ import annotations

import csv
import io
import random
import threading
import time

import pytest
import requests

from tests.support.auth import api_session
from tests.support.cloud import all_products, catalog_store_of, clear_catalog, upload_via_api, wait_for_import
from tests.support.products_api import catalog, load_products

HEADER = ["sku", "name", "description", "price", "active"]

# Values a spreadsheet or another system may hold: separators, quotes, line breaks of every kind,
# formula-looking text, non-ASCII, a tab, the longest fields; each survives the CSV both ways.
HOSTILE = [
    {"sku": "Q-1", "name": 'Say "hi", then leave', "description": "line one\nline two", "price": "0.00", "active": True},
    {"sku": "Q-2", "name": "CRLF\r\ninside", "description": "a\r\nb\rc", "price": None, "active": False},
    {"sku": 'Q-3,"x"', "name": "=SUM(A1:A2)", "description": "+1, -1, @home", "price": "99999999.99", "active": True},
    {"sku": "Q-4 Café", "name": "東京 ★ naïve", "description": "tab\there; semi;colon", "price": "12.50", "active": False},
    {"sku": "Q-5", "name": "n" * 255, "description": "d" * 3999 + "é", "price": "1.05", "active": True},
    {"sku": "Q-6", "name": "'quoted'", "description": '""', "price": "100.00", "active": True},
]


@pytest.fixture
def cloud(local_cloud):
    clear_catalog(local_cloud)
    return local_cloud


def start_export(cloud, role: str = "reader", **filters) -> requests.Response:
    return api_session(cloud, role).get(f"{cloud.api_url}/products/export", params=filters, timeout=30)


def wait_for_export(cloud, job_id: str, timeout: float = 180.0) -> dict:
    http = api_session(cloud, "reader")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = http.get(f"{cloud.api_url}/products/exports/{job_id}", timeout=30)
        assert response.status_code == 200, response.text
        job = response.json()
        if job["status"] in ("SUCCEEDED", "FAILED"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"export {job_id} did not end in {timeout}s: {job}")


def export_file(cloud, **filters) -> tuple[dict, bytes]:
    """Starts an export, waits for it, downloads the file: (the finished job, the file's bytes)."""
    started = start_export(cloud, **filters)
    assert started.status_code == 202, started.text
    job = started.json()
    assert started.headers["Location"] == job["url"] == f"/products/exports/{job['id']}"
    done = wait_for_export(cloud, job["id"])
    assert done["status"] == "SUCCEEDED", done
    download = requests.get(done["download_url"], timeout=60)
    assert download.status_code == 200, download.text[:300]
    assert download.headers["Content-Type"].startswith("text/csv")
    assert download.headers["Content-Disposition"] == f'attachment; filename="{done["file_name"]}"'
    return done, download.content


def csv_rows(body: bytes) -> list[list[str]]:
    assert not body.startswith(b"\xef\xbb\xbf"), "the file starts with a BOM"
    rows = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
    assert rows[0] == HEADER
    return rows[1:]


def listing(cloud, **filters) -> list[list[str]]:
    """What GET /products shows for the filters, every page in order, as export rows."""
    http, rows, cursor = api_session(cloud, "reader"), [], None
    while True:
        params = {**filters, "limit": 200, **({"cursor": cursor} if cursor else {})}
        page = http.get(f"{cloud.api_url}/products", params=params, timeout=30).json()
        rows += [[p["sku"], p["name"], p["description"], p["price"] or "", "true" if p["active"] else "false"]
                 for p in page["items"]]
        cursor = page["next"]
        if not cursor:
            return rows


def test_an_export_of_the_whole_catalog_is_the_listing_as_a_csv(cloud):
    load_products(catalog(300) + HOSTILE, store=catalog_store_of(cloud))
    job, body = export_file(cloud)
    rows = csv_rows(body)
    assert rows == listing(cloud) and len(rows) == 306
    assert (job["rows"], job["total"], job["percent"], job["parts"], job["bytes"]) == (306, 306, 100.0, 1, len(body))
    assert job["filters"] == {"sku": None, "q": None, "active": None}
    assert body.count(b"\r\n") >= 307 and b'"CRLF\r\ninside"' in body     # CRLF rows, quoted line breaks kept
    by_sku = {row[0]: row for row in rows}
    for product in HOSTILE:
        assert by_sku[product["sku"]] == [product["sku"], product["name"], product["description"],
                                          product["price"] or "", "true" if product["active"] else "false"]


@pytest.mark.parametrize("filters", [{"sku": "ab"}, {"sku": "AC-"}, {"q": "OAK"}, {"name": "café"},
                                     {"active": "false"}, {"active": "true", "q": "linen"},
                                     {"sku": "x9", "active": "true"}, {"sku": "no-such-prefix"}])
def test_a_filtered_export_is_the_filtered_listing(cloud, filters):
    load_products(catalog(400, seed=11), store=catalog_store_of(cloud))
    job, body = export_file(cloud, **filters)
    expected = listing(cloud, **filters)
    assert csv_rows(body) == expected and job["rows"] == len(expected)
    assert job["total"] is None
    assert {k: v for k, v in job["filters"].items() if v is not None} == {
        **({"sku": filters["sku"].lower()} if "sku" in filters else {}),
        **({"q": (filters.get("q") or filters.get("name")).lower()} if "q" in filters or "name" in filters else {}),
        **({"active": filters["active"] == "true"} if "active" in filters else {})}


def test_an_empty_catalog_exports_the_header_alone(cloud):
    job, body = export_file(cloud)
    assert body == b"sku,name,description,price,active\r\n" and job["rows"] == 0 and job["parts"] == 1


def _generated_csv(path, n: int, seed: int) -> None:
    rnd = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        for product in HOSTILE:
            writer.writerow([product["sku"], product["name"], product["description"], product["price"] or "",
                             "yes" if product["active"] else "no"])
        for i in range(n):
            writer.writerow([f"RT-{rnd.choice('abcXYZ')}{i:05d}", f"Item {i}, \"{rnd.choice(['big', 'small'])}\"",
                             rnd.choice(["", "plain", "two\nlines", "comma, quote \" end"]),
                             rnd.choice(["", "3", "4.5", "0.99", "1000"]), rnd.choice(["true", "false", "1", "0", ""])])


def test_import_export_import_leaves_every_product_as_it_was(cloud, tmp_path):
    source = tmp_path / "source.csv"
    _generated_csv(source, 2000, seed=5)
    first = wait_for_import(cloud, upload_via_api(cloud, source))
    assert (first["status"], first["created"], first["failed"]) == ("SUCCEEDED", 2006, 0), first
    before = all_products(cloud)
    job, body = export_file(cloud)
    assert job["rows"] == 2006
    exported = tmp_path / job["file_name"]
    exported.write_bytes(body)
    again = wait_for_import(cloud, upload_via_api(cloud, exported))
    assert again["status"] == "SUCCEEDED", again
    assert (again["created"], again["updated"], again["unchanged"], again["failed"], again["duplicates"]) == \
        (0, 0, 2006, 0, 0), again
    assert all_products(cloud) == before          # ids, created_at and updated_at included


@pytest.mark.parametrize("params, field", [
    ({"active": "maybe"}, "active"),
    ({"q": "x" * 256}, "q"),
    ({"sku": "s" * 65}, "sku"),
    ({"q": "oak", "name": "linen"}, "name"),
])
def test_bad_filters_are_refused_with_the_field_named(cloud, params, field):
    response = start_export(cloud, **params)
    assert response.status_code == 422, response.text
    body = response.json()
    assert field in body["fields"] and body["error"]


def test_an_unknown_export_is_404(cloud):
    http = api_session(cloud, "reader")
    for job_id in ("exp_20260101T000000_000000000000", "del_20260101T000000_000000000000", "nope"):
        response = http.get(f"{cloud.api_url}/products/exports/{job_id}", timeout=30)
        assert response.status_code == 404, response.text
        assert response.json() == {"error": f"export job '{job_id}' not found"}


def test_an_export_of_several_parts_continues_across_worker_invocations(cloud):
    """About 17 MB of CSV: parts of at least 5 MiB (the last one smaller), each written by its own
    invocation (ExportInvocationSeconds=0), carried by the state machine's loop from one to the next."""
    rnd = random.Random(9)
    products = [{"sku": f"BIG-{i:05d}", "name": f"Long {i}", "description": "".join(
        rnd.choice("abcdef ,\"\n") for _ in range(3900)), "price": f"{i}.25", "active": i % 3 > 0} for i in range(4000)]
    load_products(products, store=catalog_store_of(cloud))
    actions, lock = [], threading.Lock()

    def record(invoke, event):
        with lock:
            actions.append((event.get("action"), len(event.get("etags") or [])))
        return invoke(event)
    cloud.functions.wrap("ExportFunction", record)
    try:
        job, body = export_file(cloud, sku="big-")
    finally:
        cloud.functions.wrap("ExportFunction", None)
    writes = [parts for action, parts in actions if action == "write"]
    assert len(body) > 15 * 1024 * 1024 and job["bytes"] == len(body)
    assert job["parts"] >= 3 and writes == list(range(job["parts"])), actions     # one part per invocation
    assert [a for a, _ in actions] == ["begin", *["write"] * job["parts"], "finish"]
    assert csv_rows(body) == listing(cloud, sku="big-") and job["rows"] == 4000


def test_a_reader_may_export_and_every_job_is_its_own(cloud):
    load_products(catalog(50, seed=2), store=catalog_store_of(cloud))
    first, second = start_export(cloud, "reader").json(), start_export(cloud, "admin", active="false").json()
    assert first["id"] != second["id"] and first["status"] in ("QUEUED", "RUNNING")
    done = [wait_for_export(cloud, job["id"]) for job in (first, second)]
    assert [d["status"] for d in done] == ["SUCCEEDED", "SUCCEEDED"]
    assert done[0]["rows"] == 50 and done[1]["rows"] == len(listing(cloud, active="false"))
