"""Planner, chunk processor and import item against moto: duplicates across chunks, retries,
unchanged rows, counters counted once."""
from __future__ import annotations

import io
import json

import boto3
import pytest
from botocore.exceptions import IncompleteReadError
from botocore.response import StreamingBody

from catalog.imports import lifecycle
from catalog.imports import planner as planner_module
from catalog.imports.chunks import process_chunk
from catalog.imports.errors import BadFileError
from catalog.imports.planner import plan_import
from catalog.imports.progress import PROCESSING, QUEUED, ImportStore
from catalog.shared.failures import readable_failure
from catalog.shared.settings import get_settings

CSV = (b"\xef\xbb\xbfSKU,Name,Price\r\n"
       b"K-1,First,1\r\n"          # superseded by row 7 (other chunk)
       b"K-2,Two,2\r\n"
       b"k-3,Three,3\r\n"
       b"K-3,Three again,3\r\n"   # wins over k-3 in the same chunk
       b"K-4,,4\r\n"              # bad: no name
       b"K-5,Five,5\r\n"
       b"k-1,First last,1.5\r\n"  # wins
       b"K-6,Six,zz\r\n")         # bad, and does not supersede anything


def put(body: bytes, key: str = "incoming/c.csv") -> str:
    boto3.client("s3").put_object(Bucket="uploads", Key=key, Body=body)
    return key


def start(import_id: str, key: str) -> None:
    ImportStore("imports").create(import_id, status=QUEUED, source="s3", bucket="uploads", key=key, file_name="c.csv")


def manifest(plan) -> list[dict]:
    return json.loads(boto3.client("s3").get_object(Bucket="uploads", Key=plan.manifest_key)["Body"].read())


def scan_products() -> dict:
    return {i["sku_key"]["S"]: i for i in boto3.client("dynamodb").scan(TableName="products")["Items"]}


def test_plan_cuts_chunks_at_record_boundaries_and_settles_duplicates(pipeline_aws):
    plan = plan_import("imp_1", "uploads", put(CSV), chunk_rows=4, max_bytes=10_000)
    chunks = manifest(plan)
    assert (plan.total_rows, plan.chunk_count, plan.duplicates) == (8, 2, 2)
    assert [c["rows"] for c in chunks] == [4, 4]
    assert chunks[0]["start"] == len("\ufeffSKU,Name,Price\r\n".encode())
    assert chunks[0]["end"] == chunks[1]["start"] and chunks[1]["end"] == len(CSV)
    assert chunks[0]["skip"] == [0, 2] and chunks[1]["skip"] == []
    assert chunks[1]["first_line"] == 5


def test_chunks_in_any_order_give_last_row_wins_and_exact_counts(pipeline_aws):
    key = put(CSV)
    start("imp_2", key)
    lifecycle.run_plan(get_settings(), "imp_2")
    chunks = manifest(plan_import("imp_2", "uploads", key, chunk_rows=4, max_bytes=10_000))
    for chunk in reversed(chunks):                      # the later chunk finishes first
        process_chunk(get_settings(), chunk)
    products = scan_products()
    assert set(products) == {"k-1", "k-2", "k-3", "k-5"}
    assert products["k-1"]["name"]["S"] == "First last" and products["k-1"]["sku"]["S"] == "k-1"
    assert products["k-3"]["name"]["S"] == "Three again"
    item = ImportStore("imports").get("imp_2")
    assert item["status"] == PROCESSING
    assert (item["created"], item["failed"], item["duplicates"], item["rows_processed"]) == (4, 2, 2, 8)


def test_retried_chunk_counts_once_and_unchanged_rows_are_not_written(pipeline_aws, monkeypatch):
    key = put(CSV)
    start("imp_3", key)
    lifecycle.run_plan(get_settings(), "imp_3")
    chunks = manifest(plan_import("imp_3", "uploads", key, chunk_rows=4, max_bytes=10_000))
    for chunk in chunks:
        process_chunk(get_settings(), chunk)
    process_chunk(get_settings(), chunks[0])   # a retry after success
    item = ImportStore("imports").get("imp_3")
    assert (item["created"], item["chunks_done"]) == (4, 2)
    lifecycle.finish(get_settings(), "imp_3")  # gives the catalog back to the next import

    # A second import of the same file: everything unchanged, and not one write.
    writes = []
    ddb = boto3.client("dynamodb")
    from catalog.products import store as products_module
    original = products_module.ProductStore.write_many
    monkeypatch.setattr(products_module.ProductStore, "write_many",
                        lambda self, items: (writes.extend(items), original(self, items)))
    start("imp_4", key)
    lifecycle.run_plan(get_settings(), "imp_4")
    for chunk in manifest(plan_import("imp_4", "uploads", key, chunk_rows=4, max_bytes=10_000)):
        process_chunk(get_settings(), chunk)
    again = ImportStore("imports").get("imp_4")
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 4)
    assert writes == []
    assert ddb.get_item(TableName="imports", Key={"id": {"S": "catalog#stats"}})["Item"]["product_count"]["N"] == "4"


@pytest.mark.parametrize("body, message", [
    (b"", "empty"), (b"sku,name\n", "no data rows"), (b"sku\n1\n", "'name' missing"),
    (b"x" * 100_001, "limit is 100,000 bytes"), (b"\x00\x01\x02", "NUL bytes"),
])
def test_bad_files_are_refused_before_any_chunk(pipeline_aws, body, message):
    with pytest.raises(BadFileError, match=message):
        plan_import("imp_bad", "uploads", put(body), chunk_rows=4, max_bytes=100_000)


def test_cancelled_import_chunks_skip_and_finish_keeps_cancelled(pipeline_aws):
    key = put(CSV)
    start("imp_5", key)
    lifecycle.run_plan(get_settings(), "imp_5")
    chunks = manifest(plan_import("imp_5", "uploads", key, chunk_rows=4, max_bytes=10_000))
    assert lifecycle.cancel(get_settings(), "imp_5")["status"] == "CANCELLED"
    assert process_chunk(get_settings(), chunks[0]) == {
        "index": 0, "skipped": "CANCELLED"}
    assert lifecycle.finish(get_settings(), "imp_5")["status"] == "CANCELLED"
    assert scan_products() == {}


def test_failure_messages_are_readable():
    cause = json.dumps({"errorType": "BadFileError", "errorMessage": "the file is empty"})
    assert readable_failure({"Error": "BadFileError", "Cause": cause}) == \
        "The file cannot be imported: the file is empty"
    assert "did not complete: 2 of 5" in readable_failure(
        {"Error": "IncompleteImportError", "Cause": json.dumps({"errorType": "IncompleteImportError",
                                                                "errorMessage": "2 of 5 chunks did not finish"})})


def test_retry_after_a_crash_between_writes_and_counting_counts_as_the_first_attempt(pipeline_aws, monkeypatch):
    """Non-empty catalog (so chunks compare with stored items): attempt 1 writes, then dies before
    counting; attempt 2 must count those rows as created, not unchanged."""
    from catalog.imports import progress as imports_module
    from catalog.products.store import Product, ProductStore
    ProductStore("products").write_many([Product("OTHER-1", "x", "", None, True, "i", "t", "t").to_item()])
    key = put(CSV)
    start("imp_6", key)
    lifecycle.run_plan(get_settings(), "imp_6")
    chunks = manifest(plan_import("imp_6", "uploads", key, chunk_rows=4, max_bytes=10_000))
    assert chunks[0]["fresh"] is False
    original = imports_module.ImportStore.record_chunk
    calls = []

    def crash_once(self, import_id, index, counts):
        calls.append(index)
        if len(calls) == 1:
            raise RuntimeError("crash after writing")
        return original(self, import_id, index, counts)

    monkeypatch.setattr(imports_module.ImportStore, "record_chunk", crash_once)
    with pytest.raises(RuntimeError):
        process_chunk(get_settings(), chunks[0])
    assert "k-2" in scan_products()                       # attempt 1 did write
    process_chunk(get_settings(), chunks[0])
    process_chunk(get_settings(), chunks[1])
    item = ImportStore("imports").get("imp_6")
    assert (item["created"], item["updated"], item["unchanged"]) == (4, 0, 0)


def test_an_upload_that_never_arrives_is_closed_once_its_link_expired(pipeline_aws):
    store = ImportStore("imports")
    store.create("imp_7", status="PENDING", source="api", bucket="uploads", key="incoming/imp_7/a.csv",
                 file_name="a.csv")
    fresh = store.get("imp_7")
    assert lifecycle.close_if_abandoned(get_settings(), fresh)["status"] == "PENDING"
    boto3.client("dynamodb").update_item(TableName="imports", Key={"id": {"S": "imp_7"}},
                                         UpdateExpression="SET created_at = :t",
                                         ExpressionAttributeValues={":t": {"S": "2020-01-01T00:00:00.000000Z"}})
    expired = lifecycle.close_if_abandoned(get_settings(), store.get("imp_7"))
    assert expired["status"] == "FAILED"
    assert expired["error"] == "The file never arrived: the upload link expired"
    view = lifecycle.progress(expired)
    assert "bucket" not in view and "done_chunks" not in view


def test_a_file_read_in_many_ranges_plans_as_one_read(pipeline_aws, monkeypatch):
    key = put(CSV)
    whole = manifest(plan_import("imp_r1", "uploads", key, chunk_rows=3, max_bytes=10_000))
    monkeypatch.setattr(planner_module, "RANGE_BYTES", 7)      # ranges end inside records
    ranged = manifest(plan_import("imp_r2", "uploads", key, chunk_rows=3, max_bytes=10_000))
    fields = ("start", "end", "first_line", "first_row", "rows", "skip")
    assert [[c[f] for f in fields] for c in ranged] == [[c[f] for f in fields] for c in whole]


def test_the_chunk_map_shows_each_chunk_as_its_attempts_left_it(pipeline_aws, monkeypatch):
    from catalog.imports import chunks as chunks_module
    from catalog.imports.progress import chunk_map
    monkeypatch.setenv("CHUNK_ROWS", "3")
    get_settings.cache_clear()
    key = put(CSV)
    start("imp_map", key)
    lifecycle.run_plan(get_settings(), "imp_map")
    chunks = manifest(plan_import("imp_map", "uploads", key, chunk_rows=3, max_bytes=10_000))
    assert len(chunks) == 3
    imports = ImportStore("imports")
    assert lifecycle.progress(imports.get("imp_map"))["chunk_map"] == "ppp"

    process_chunk(get_settings(), chunks[0])
    original = chunks_module.errors_csv
    monkeypatch.setattr(chunks_module, "errors_csv", lambda errors: (_ for _ in ()).throw(RuntimeError("S3 down")))
    with pytest.raises(RuntimeError):
        process_chunk(get_settings(), chunks[2])         # chunk 2 has bad rows: writing their report fails
    assert lifecycle.progress(imports.get("imp_map"))["chunk_map"] == "dpf"
    monkeypatch.setattr(chunks_module, "errors_csv", original)
    process_chunk(get_settings(), chunks[2])             # the retry succeeds
    assert chunk_map(imports.get("imp_map")) == "dpR"

    seen_while_writing = []
    store_of = chunks_module.catalog_store

    def watching_store(settings):
        store = store_of(settings)
        write = store.write_chunk
        store.write_chunk = lambda *a, **k: (seen_while_writing.append(chunk_map(imports.get("imp_map"))),
                                             write(*a, **k))[1]
        return store

    monkeypatch.setattr(chunks_module, "catalog_store", watching_store)
    process_chunk(get_settings(), chunks[1])
    assert seen_while_writing == ["drR"]                 # running while it writes
    view = lifecycle.progress(imports.get("imp_map"))
    assert view["chunk_map"] == "ddR" and view["chunks_done"] == 3
    assert not {"started_chunks", "failed_chunks", "retried_chunks", "done_chunks"} & set(view)


def test_a_chunk_of_an_import_that_does_not_exist_writes_nothing(pipeline_aws):
    key = put(CSV)
    start("imp_gone", key)
    lifecycle.run_plan(get_settings(), "imp_gone")
    chunk = manifest(plan_import("imp_gone", "uploads", key, chunk_rows=4, max_bytes=10_000))[0]
    boto3.client("dynamodb").delete_item(TableName="imports", Key={"id": {"S": "imp_gone"}})
    assert process_chunk(get_settings(), chunk) == {"index": 0, "skipped": "UNKNOWN"}
    assert scan_products() == {}


def test_a_read_dropped_mid_range_is_resumed_where_it_stopped(pipeline_aws, monkeypatch):
    """The connection drops while a range's body streams (after the SDK call returned, so the SDK's
    retries never see it): the planner asks for the rest of the range, not the whole file again,
    and plans as if nothing happened; a range that keeps dropping fails after RANGE_ATTEMPTS GETs."""
    key = put(CSV)
    whole = manifest(plan_import("imp_d1", "uploads", key, chunk_rows=3, max_bytes=10_000))
    s3 = planner_module.client("s3")
    real_get, ranges = s3.get_object, []

    def dropping(times):
        def get_object(**kwargs):
            response = real_get(**kwargs)
            ranges.append(kwargs["Range"])
            if len(ranges) > 1 and len(ranges) <= 1 + times:       # the sniff reads whole; then `times` drops
                data = response["Body"].read()
                response["Body"] = StreamingBody(io.BytesIO(data[:len(data) // 2]), len(data))
            return response
        return get_object

    monkeypatch.setattr(s3, "get_object", dropping(1))
    resumed = manifest(plan_import("imp_d2", "uploads", key, chunk_rows=3, max_bytes=10_000))
    fields = ("start", "end", "first_line", "first_row", "rows", "skip")
    assert [[c[f] for f in fields] for c in resumed] == [[c[f] for f in fields] for c in whole]
    half = len(CSV) // 2
    assert ranges == [f"bytes=0-{len(CSV) - 1}"] * 2 + [f"bytes={half}-{len(CSV) - 1}"]     # sniff, read, rest

    ranges.clear()
    monkeypatch.setattr(s3, "get_object", dropping(planner_module.RANGE_ATTEMPTS))
    with pytest.raises(IncompleteReadError):
        plan_import("imp_d3", "uploads", key, chunk_rows=3, max_bytes=10_000)
    assert len(ranges) == 1 + planner_module.RANGE_ATTEMPTS
