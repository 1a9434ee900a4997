"""Export, in-process with moto, on both catalog stores (the `aws` fixture): the seam's export pages
against the listing (filters, order, CSV bytes, resuming from every position, small pages), the CSV's
round trip of hostile values, the worker's parts (S3's sizes, one part per invocation when time is
short, retries), and the API's answers. The state machine's steps are called as the ASL calls them."""
from __future__ import annotations

import csv
import io
import json
import random

import boto3
import pytest

from catalog.imports.csvfile import parse_header, text_lines
from catalog.imports.rows import read_text_rows
from catalog.products import dynamodb_catalog, export, postgres
from catalog.products.catalogs import catalog_store
from catalog.products.export_jobs import ExportJobs
from catalog.products.export_parts import HEADER, MIN_PART_BYTES, PartWriter, csv_lines
from catalog.products.pages import MAX_LIMIT, ProductFilter
from catalog.shared.settings import get_settings
from tests.support.handlers import load_handler
from tests.support.products_api import REGION, Context, catalog, load_products
from tests.support.template_resources import template

EXPORT_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:catalog-export"

HOSTILE = [
    {"sku": "H-1", "name": 'Say "hi", then leave', "description": "line one\nline two", "price": "0.00"},
    {"sku": "H-2", "name": "CRLF\r\ninside", "description": "a\r\nb\rc", "price": None, "active": False},
    {"sku": 'H-3,"x"', "name": "=SUM(A1:A2)", "description": "+1, -1, @home", "price": "99999999.99"},
    {"sku": "H-4 Café", "name": "東京 ★ naïve", "description": "tab\there; semi;colon", "price": "3.30", "active": False},
    {"sku": "H-5", "name": "n" * 255, "description": "\"" * 4000, "price": "1.05"},
    {"sku": "H-6", "name": "'quoted'", "description": '""', "price": "100.00"},
    {"sku": "H-7", "name": "back\\slash", "description": "\u0001\u001f control", "price": "7.00"},
]
FILTERS = [ProductFilter(), ProductFilter.of(sku="ab"), ProductFilter.of(sku="A"), ProductFilter.of(q="oak"),
           ProductFilter.of(active=False), ProductFilter.of(active=True, q="café"),
           ProductFilter.of(sku="x9", active=True), ProductFilter.of(sku="nothing-here")]


@pytest.fixture
def store(aws):
    products = catalog(300) + HOSTILE
    load_products(products)
    return catalog_store(get_settings())


@pytest.fixture
def small_pages(monkeypatch):
    """Pages of a few rows: many pages, ranges and shards' continuations on a small catalog."""
    monkeypatch.setattr(postgres, "EXPORT_PAGE_ROWS", 7)
    monkeypatch.setattr(postgres, "EXPORT_READERS", 2)
    monkeypatch.setattr(dynamodb_catalog, "EXPORT_QUERY_LIMIT", 5)
    monkeypatch.setattr(dynamodb_catalog, "EXPORT_READ_PAGES", 2)


def listed(store, f: ProductFilter) -> list[list[str]]:
    """The listing for `f`, every page, as export rows."""
    rows, cursor = [], None
    while True:
        page = store.list_products(f, MAX_LIMIT, cursor)
        rows += [[p["sku"], p["name"], p["description"], p["price"] or "", "true" if p["active"] else "false"]
                 for p in page.items]
        cursor = page.next
        if not cursor:
            return rows


def pages_of(store, f: ProductFilter, position: dict | None = None) -> list:
    return list(store.export_pages(f, position or {}))


@pytest.mark.parametrize("f", FILTERS, ids=lambda f: repr((f.sku, f.q, f.active)))
@pytest.mark.parametrize("small", [False, True], ids=["big pages", "small pages"])
def test_export_pages_are_the_listing_as_csv_lines(store, request, f, small):
    if small:
        request.getfixturevalue("small_pages")
    pages = pages_of(store, f)
    expected = listed(store, f)
    assert "".join(p.text for p in pages) == csv_lines(expected)     # byte for byte the csv module's lines
    assert sum(p.rows for p in pages) == len(expected)
    assert all(p.position is not None for p in pages[:-1])
    if pages:
        assert pages[-1].position is None
    if small and len(expected) > 20:
        assert len(pages) > 3


@pytest.mark.parametrize("f", [ProductFilter(), ProductFilter.of(active=False), ProductFilter.of(sku="a")],
                         ids=["all", "inactive", "prefix"])
def test_export_resumes_from_every_position_it_hands_out(store, small_pages, f):
    pages = pages_of(store, f)
    for i, page in enumerate(pages[:-1]):
        rest = pages_of(store, f, json.loads(json.dumps(page.position)))      # as the state machine carries it
        assert "".join(p.text for p in rest) == "".join(p.text for p in pages[i + 1:]), i


def test_a_position_still_works_after_the_catalog_changed(store, small_pages):
    """Positions are keys, not offsets: products written or deleted before the position do not shift
    what comes after it."""
    f = ProductFilter()
    pages = pages_of(store, f)
    middle = pages[len(pages) // 2]
    rest_before = "".join(p.text for p in pages[len(pages) // 2 + 1:])
    load_products([{"sku": "0000-first", "name": "before everything"}])
    assert store.delete_product(listed(store, f)[1][0].lower()) is not None
    assert "".join(p.text for p in pages_of(store, f, middle.position)) == rest_before


@pytest.mark.parametrize("aws", ["aurora"], indirect=True)
def test_postgres_pages_stay_under_the_byte_budget(aws, monkeypatch):
    """Long rows: each page's text stays under the budget (the Data API answers 1 MiB at most), and the
    rows are all there, in order."""
    rnd = random.Random(4)
    products = [{"sku": f"L-{i:04d}", "name": f"Long {i}", "price": "1.00",
                 "description": "".join(rnd.choice('ab ,"\n\r') for _ in range(3000))} for i in range(150)]
    load_products(products)
    monkeypatch.setattr(postgres, "EXPORT_PAGE_BYTES", 40_000)
    store = catalog_store(get_settings())
    pages = pages_of(store, ProductFilter())
    assert len(pages) > 10
    assert all(len(p.text.encode()) <= 40_000 for p in pages)
    assert "".join(p.text for p in pages) == csv_lines(listed(store, ProductFilter()))


def test_hostile_values_survive_the_csv_both_ways():
    """Export rows -> CSV -> the import's own row reader gives the same values back."""
    rows = [[p["sku"], p["name"], p["description"], p["price"] or "", "false" if p.get("active") is False else "true"]
            for p in HOSTILE]
    writer = PartWriter(MIN_PART_BYTES, header=True)
    writer.add(csv_lines(rows), len(rows))
    body, count = writer.take()
    assert count == len(rows) and not body.startswith(b"\xef\xbb\xbf") and body.startswith(b"sku,name,")
    parsed = list(csv.reader(io.StringIO(body.decode(), newline="")))
    assert parsed == [list(HEADER), *rows]
    lines = text_lines(body)                               # as an import's chunk reads its bytes
    winners, errors, duplicates, count = read_text_rows(lines[1:], parse_header(lines[0].encode()), line=1)
    assert (errors, duplicates, count) == ([], 0, len(HOSTILE))
    assert [(r.sku, r.name, r.description, r.price, r.active) for r in winners.values()] == [
        (p["sku"], p["name"], p["description"], p["price"], p.get("active", True)) for p in HOSTILE]


def test_parts_are_cut_between_pages_once_big_enough():
    writer = PartWriter(100, header=False)
    writer.add("x" * 60 + "\r\n", 1)
    assert not writer.full
    writer.add("é" * 50 + "\r\n", 1)          # characters count, and never outnumber the bytes
    assert writer.full
    body, rows = writer.take()
    assert rows == 2 and len(body) == 164 and writer.empty and writer.rows == 0


# --- the job: API, state machine steps, S3 ---------------------------------------------------------
@pytest.fixture
def export_handler():
    return load_handler("export")


@pytest.fixture
def jobs_env(aws, monkeypatch):
    monkeypatch.setenv("EXPORT_STATE_MACHINE_ARN", EXPORT_ARN)
    get_settings.cache_clear()
    boto3.client("s3", region_name=REGION).create_bucket(Bucket="uploads")
    boto3.client("stepfunctions", region_name=REGION).create_state_machine(
        name="catalog-export", roleArn="arn:aws:iam::123456789012:role/x",
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}))


class LongContext(Context):
    @staticmethod
    def get_remaining_time_in_millis():
        return 890_000


def run_job(handler, job_id: str, context=Context) -> tuple[dict, list[dict]]:
    """The ASL's steps: begin, write until done, finish; (the finish's answer, every write's answer)."""
    work = handler({"action": "begin", "job_id": job_id}, context())
    writes = []
    while True:
        work = handler({"action": "write", **{k: work[k] for k in ("job_id", "upload_id", "position", "etags",
                                                                    "rows", "bytes")}}, context())
        writes.append(work)
        if work["done"]:
            break
    finish = handler({"action": "finish", **{k: work[k] for k in ("job_id", "upload_id", "etags", "rows", "bytes")}},
                     context())
    return finish, writes


def test_the_api_starts_a_job_and_reports_it(api, jobs_env, export_handler):
    load_products(catalog(40))
    status, job = api("GET", "/products/export")
    assert status == 202, job
    assert (job["status"], job["total"], job["rows"], job["url"]) == ("QUEUED", 40, 0, f"/products/exports/{job['id']}")
    assert "download_url" not in job and "upload_id" not in job and "key" not in job
    execution = boto3.client("stepfunctions", region_name=REGION).describe_execution(
        executionArn=f"arn:aws:states:us-east-1:123456789012:execution:catalog-export:{job['id']}")
    assert json.loads(execution["input"]) == {"job_id": job["id"]}
    finish, _ = run_job(export_handler, job["id"])
    assert finish["status"] == "SUCCEEDED" and finish["rows"] == 40
    status, done = api("GET", f"/products/exports/{job['id']}")
    assert status == 200 and done["percent"] == 100.0 and done["download_expires_in"] == export.LINK_SECONDS
    assert "response-content-disposition=attachment" in done["download_url"] and job["id"] in done["download_url"]
    obj = boto3.client("s3", region_name=REGION).get_object(Bucket="uploads", Key=f"exports/{job['id']}/{done['file_name']}")
    assert obj["ContentType"].startswith("text/csv")
    assert obj["Body"].read().decode() == csv_lines([list(HEADER), *listed(catalog_store(get_settings()), ProductFilter())])


@pytest.mark.parametrize("query, field", [({"active": "perhaps"}, "active"), ({"sku": "s" * 65}, "sku"),
                                          ({"q": "oak", "name": "elm"}, "name")])
def test_bad_filters_are_422_and_start_nothing(api, jobs_env, query, field):
    status, body = api("GET", "/products/export", query=query)
    assert status == 422 and field in body["fields"], body
    executions = boto3.client("stepfunctions", region_name=REGION).list_executions(stateMachineArn=EXPORT_ARN)
    assert executions["executions"] == []


def test_an_unknown_job_is_404(api, jobs_env):
    status, body = api("GET", "/products/exports/exp_20260101T000000_aaaaaaaaaaaa")
    assert status == 404 and body == {"error": "export job 'exp_20260101T000000_aaaaaaaaaaaa' not found"}


def _big_catalog(n: int = 2600) -> None:
    rnd = random.Random(8)
    load_products([{"sku": f"B-{i:05d}", "name": f"Big {i}", "price": f"{i}.10",
                    "description": "".join(rnd.choice("abcdefgh ,\"\n") for _ in range(4000))} for i in range(n)])


def test_a_worker_short_of_time_writes_one_part_and_hands_over(api, jobs_env, export_handler):
    """Context: 30 s left, under the worker's reserve: after each part it hands over, and the parts
    are S3-sized (all but the last at least 5 MiB; moto refuses smaller ones as S3 does)."""
    _big_catalog()
    status, job = api("GET", "/products/export")
    finish, writes = run_job(export_handler, job["id"])
    assert len(writes) >= 2 and [len(w["etags"]) for w in writes] == list(range(1, len(writes) + 1))
    assert [w["done"] for w in writes] == [False] * (len(writes) - 1) + [True]
    s3 = boto3.client("s3", region_name=REGION)
    stored = ExportJobs("imports").get(job["id"])
    head = s3.head_object(Bucket="uploads", Key=stored["key"], PartNumber=1)
    assert head["ContentLength"] >= MIN_PART_BYTES and head["PartsCount"] == len(writes)
    body = s3.get_object(Bucket="uploads", Key=stored["key"])["Body"].read()
    assert finish["rows"] == 2600 and finish["bytes"] == len(body) and finish["parts"] == len(writes)
    assert body.decode() == csv_lines([list(HEADER), *listed(catalog_store(get_settings()), ProductFilter())])


def test_a_worker_with_time_writes_everything_in_one_invocation(api, jobs_env, export_handler, monkeypatch):
    _big_catalog()
    status, job = api("GET", "/products/export", query={"sku": "b-"})
    finish, writes = run_job(export_handler, job["id"], LongContext)
    assert len(writes) == 1 and len(writes[0]["etags"]) >= 2 and finish["rows"] == 2600


def test_a_retried_write_and_finish_change_nothing(api, jobs_env, export_handler):
    _big_catalog(1500)
    status, job = api("GET", "/products/export")
    work = export_handler({"action": "begin", "job_id": job["id"]}, Context())
    again = export_handler({"action": "begin", "job_id": job["id"]}, Context())
    assert again["upload_id"] == work["upload_id"]                      # one upload, however often it begins
    keys = ("job_id", "upload_id", "position", "etags", "rows", "bytes")
    first = export_handler({"action": "write", **{k: work[k] for k in keys}}, Context())
    retried = export_handler({"action": "write", **{k: work[k] for k in keys}}, Context())   # the same input again
    assert first == retried
    assert ExportJobs("imports").get(job["id"])["rows"] == first["rows"]         # set, never added twice
    while not first["done"]:
        first = export_handler({"action": "write", **{k: first[k] for k in keys}}, Context())
    finishing = {"action": "finish", **{k: first[k] for k in ("job_id", "upload_id", "etags", "rows", "bytes")}}
    assert export_handler(finishing, Context())["status"] == "SUCCEEDED"
    assert export_handler(finishing, Context())["status"] == "SUCCEEDED"             # a retried Finish
    assert ExportJobs("imports").get(job["id"])["rows"] == 1500


def test_a_failed_export_drops_its_parts_and_says_why(api, jobs_env, export_handler):
    load_products(catalog(10))
    status, job = api("GET", "/products/export")
    work = export_handler({"action": "begin", "job_id": job["id"]}, Context())
    failed = export_handler({"action": "fail", "job_id": job["id"],
                             "error": {"Error": "Lambda.Unknown", "Cause": "arn:aws:iam::1:role/secret went wrong"}},
                            Context())
    assert failed["status"] == "FAILED" and "internal error" in failed["error"] and "arn:" not in failed["error"]
    uploads = boto3.client("s3", region_name=REGION).list_multipart_uploads(Bucket="uploads")
    assert work["upload_id"] not in [u["UploadId"] for u in uploads.get("Uploads", [])]
    status, shown = api("GET", f"/products/exports/{job['id']}")
    assert shown["status"] == "FAILED" and "download_url" not in shown and shown["request_id"] == "req"


def test_a_timed_out_execution_is_marked_failed_by_the_rule(api, jobs_env, export_handler):
    """The template's rule hands a TIMED_OUT execution (named after its job) to the export function's
    fail step: the input it renders is one the handler takes."""
    target = template()["Resources"]["ExportTimedOutRule"]["Properties"]["Targets"][0]
    assert target["Arn"] == {"Fn::GetAtt": ["ExportFunction", "Arn"]}
    load_products(catalog(5))
    status, job = api("GET", "/products/export")
    export_handler({"action": "begin", "job_id": job["id"]}, Context())
    rendered = target["InputTransformer"]["InputTemplate"].replace("<jobId>", json.dumps(job["id"]))
    failed = export_handler(json.loads(rendered), Context())
    assert failed["status"] == "FAILED" and failed["error"] == "The export took too long and was stopped"
    assert boto3.client("s3", region_name=REGION).list_multipart_uploads(Bucket="uploads").get("Uploads", []) == []
