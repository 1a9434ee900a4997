"""Preview (a dry run) on both catalog stores: the same plan and chunks as an import, nothing
written to the catalog, counts equal to what the import of the same file then does, per-field
change counts, a sample of at most 20 changes in file order, a retried chunk counted once."""
from __future__ import annotations

import json

import boto3
import pytest

from catalog.imports import lifecycle
from catalog.imports.chunks import process_chunk
from catalog.imports.errors import CatalogBusy
from catalog.imports.progress import IMPORT_MODE, PREVIEW_MODE, QUEUED, SUCCEEDED, ImportStore
from catalog.imports.rows import ProductRow
from catalog.products import postgres
from catalog.products.catalogs import catalog_store
from catalog.products.pages import ProductFilter
from catalog.shared.catalog_lock import IMPORT, CatalogLock, Holder
from catalog.shared.settings import get_settings

BASE = (b"sku,name,description,price,active\n"
        b"A-1,Apple,red,1.00,true\n"
        b"A-2,Pear,green,2.00,true\n"
        b"A-3,Plum,blue,3.00,true\n"
        b"A-4,Fig,brown,4.00,true\n"
        b"A-5,Kiwi,hairy,5.00,true\n")
# Against BASE: A-1 price, A-2 name and price, a-3 SKU case, A-4 description and active, A-5 as stored,
# N-1 new, a bad N-2 row, then N-2 twice (the last wins: one duplicate).
CHANGED = (b"sku,name,description,price,active\n"
           b"A-1,Apple,red,1.50,true\n"
           b"A-2,Pears,green,2.25,true\n"
           b"a-3,Plum,blue,3.00,true\n"
           b"A-4,Fig,dried,4.00,false\n"
           b"A-5,Kiwi,hairy,5.00,true\n"
           b"N-1,New,,9.99,true\n"
           b"N-2,,no name,1.00,true\n"
           b"N-2,Second,,1.00,true\n"
           b"N-2,Second last,,1.00,true\n")


@pytest.fixture
def preview_aws(aws, monkeypatch):
    """Both stores (the `aws` fixture), with the uploads bucket and chunks of 3 rows."""
    for key, value in {"UPLOADS_BUCKET": "uploads", "CHUNK_ROWS": "3", "MAX_UPLOAD_BYTES": "1000000"}.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    boto3.client("s3").create_bucket(Bucket="uploads")
    return aws


def run(import_id: str, body: bytes, mode: str, *, chunk_order=None, twice: tuple[int, ...] = ()) -> dict:
    """Plan, every chunk (in `chunk_order`; those in `twice` run again, as a retry), Finish."""
    key = f"incoming/{import_id}.csv"
    boto3.client("s3").put_object(Bucket="uploads", Key=key, Body=body)
    ImportStore("imports").create(import_id, status=QUEUED, source="s3", bucket="uploads", key=key,
                                  file_name="c.csv", mode=mode)
    plan = lifecycle.run_plan(get_settings(), import_id)
    chunks = json.loads(boto3.client("s3").get_object(Bucket="uploads", Key=plan["manifest_key"])["Body"].read())
    for chunk in (chunk_order(chunks) if chunk_order else chunks):
        process_chunk(get_settings(), chunk)
        if chunk["index"] in twice:
            process_chunk(get_settings(), chunk)
    lifecycle.finish(get_settings(), import_id)
    return ImportStore("imports").get(import_id)


def catalog() -> tuple[int, list[dict]]:
    store = catalog_store(get_settings())
    return store.count(), store.list_products(ProductFilter(), 100, None).items


def drain(queue_url: str) -> list[dict]:
    sqs, out = boto3.client("sqs"), []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return out
        for message in messages:
            out.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def outcome(item: dict) -> tuple:
    return tuple(item[k] for k in ("created", "updated", "unchanged", "failed", "duplicates", "rows_processed"))


def test_a_preview_writes_nothing_and_says_what_the_import_then_does(preview_aws):
    run("imp_base", BASE, IMPORT_MODE)
    drain(preview_aws)
    before = catalog()

    preview = run("imp_preview", CHANGED, PREVIEW_MODE)
    assert preview["status"] == SUCCEEDED and preview["mode"] == PREVIEW_MODE
    assert catalog() == before                              # no product, id, timestamp or count moved
    assert drain(preview_aws) == []                         # no upload.completed, no product events
    assert outcome(preview) == (2, 4, 1, 1, 1, 9)
    assert preview["field_changes"] == {"sku": 1, "name": 1, "description": 1, "price": 2, "active": 1}
    assert preview["sample_changes"] == [
        {"sku": "A-1", "line": 2, "field": "price", "old": "1.00", "new": "1.50"},
        {"sku": "A-2", "line": 3, "field": "name", "old": "Pear", "new": "Pears"},
        {"sku": "A-2", "line": 3, "field": "price", "old": "2.00", "new": "2.25"},
        {"sku": "a-3", "line": 4, "field": "sku", "old": "A-3", "new": "a-3"},
        {"sku": "A-4", "line": 5, "field": "description", "old": "brown", "new": "dried"},
        {"sku": "A-4", "line": 5, "field": "active", "old": True, "new": False},
    ]
    assert preview.get("error_report_key")                  # the bad row is reported as for an import

    real = run("imp_real", CHANGED, IMPORT_MODE)
    assert outcome(real) == outcome(preview)
    assert catalog()[0] == before[0] + 2
    assert [e["type"] for e in drain(preview_aws)] == ["upload.completed"]


def test_the_sample_keeps_the_first_20_changes_in_file_order(preview_aws):
    rows = "".join(f"S-{i:03d},Name {i},,{i}.00,true\n" for i in range(40))
    run("imp_many", ("sku,name,description,price,active\n" + rows).encode(), IMPORT_MODE)
    changed = "".join(f"S-{i:03d},Name {i},,{i}.50,true\n" for i in range(40))
    # Chunks run last first: the merge still follows the file.
    item = run("imp_many_preview", ("sku,name,description,price,active\n" + changed).encode(), PREVIEW_MODE,
               chunk_order=lambda chunks: list(reversed(chunks)))
    assert item["updated"] == 40 and item["field_changes"]["price"] == 40
    assert [(s["sku"], s["old"], s["new"]) for s in item["sample_changes"]] == [
        (f"S-{i:03d}", f"{i}.00", f"{i}.50") for i in range(20)]


def test_a_retried_preview_chunk_counts_once(preview_aws):
    run("imp_base", BASE, IMPORT_MODE)
    item = run("imp_retried", CHANGED, PREVIEW_MODE, twice=(0, 1, 2))
    assert outcome(item) == (2, 4, 1, 1, 1, 9)
    assert item["field_changes"] == {"sku": 1, "name": 1, "description": 1, "price": 2, "active": 1}
    assert len(item["sample_changes"]) == 6


def test_a_preview_into_an_empty_catalog_creates_every_valid_row_and_reads_nothing(preview_aws, monkeypatch):
    store = catalog_store(get_settings())
    winners = {"x-1": ProductRow(2, "x-1", "X-1", "One", "", "1.00", True)}
    with monkeypatch.context() as patch:      # fresh: nothing is read (neither store's reads may be called)
        if hasattr(store, "db"):
            patch.setattr(store.db, "one", lambda *a, **k: pytest.fail("read the catalog"))
        else:
            patch.setattr(store.store, "get_many", lambda *a, **k: pytest.fail("read the catalog"))
        preview = store.preview_chunk(winners, fresh=True)
    assert (preview.created, preview.updated, preview.unchanged, preview.sample) == (1, 0, 0, [])
    item = run("imp_fresh", CHANGED, PREVIEW_MODE)
    assert outcome(item) == (7, 0, 0, 1, 1, 9) and catalog()[0] == 0
    assert set(item["field_changes"].values()) == {0} and item["sample_changes"] == []


@pytest.mark.parametrize("aws", ["aurora"], indirect=True)
def test_a_postgres_preview_splits_requests_under_the_data_api_limit(preview_aws, monkeypatch):
    run("imp_many", ("sku,name,description,price,active\n"
                     + "".join(f"S-{i:03d},Name {i},,1.00,true\n" for i in range(60))).encode(), IMPORT_MODE)
    store = catalog_store(get_settings())
    calls = []
    original = store.db.one
    monkeypatch.setattr(store.db, "one", lambda sql, params=None: (calls.append(len(params["rows"])),
                                                                    original(sql, params))[1])
    monkeypatch.setattr(postgres, "REQUEST_BUDGET", 600)
    winners = {f"s-{i:03d}": ProductRow(i + 2, f"s-{i:03d}", f"S-{i:03d}", f"Name {i}", "", "2.00", True)
               for i in range(60)}
    preview = store.preview_chunk(winners, fresh=False)
    assert len(calls) > 3 and max(calls) <= 600
    assert (preview.updated, preview.field_changes["price"], len(preview.sample)) == (60, 60, 20)
    assert [s["line"] for s in preview.sample] == list(range(2, 22))


def test_a_dropped_files_first_folder_is_recorded_unless_it_is_an_import_id():
    assert lifecycle.drop_folder("preview/shopify/catalog.csv") == "shopify"
    assert lifecycle.drop_folder("incoming/erp/2026/catalog.csv") == "erp"
    assert lifecycle.drop_folder("preview/catalog.csv") is None
    assert lifecycle.drop_folder("incoming/imp_20260101T000000_0123456789ab/catalog.csv") is None


def queued(import_id: str, body: bytes, mode: str) -> str:
    key = f"incoming/{import_id}.csv"
    boto3.client("s3").put_object(Bucket="uploads", Key=key, Body=body)
    ImportStore("imports").create(import_id, status=QUEUED, source="s3", bucket="uploads", key=key,
                                  file_name="c.csv", mode=mode)
    return import_id


def chunks_and_finish(import_id: str) -> dict:
    key = f"imports/{import_id}/manifest.json"
    for chunk in json.loads(boto3.client("s3").get_object(Bucket="uploads", Key=key)["Body"].read()):
        process_chunk(get_settings(), chunk)
    return lifecycle.finish(get_settings(), import_id)


@pytest.mark.parametrize("aws", ["dynamodb"], indirect=True)
def test_a_preview_waits_for_a_running_import_but_holds_no_lock_itself(preview_aws):
    lifecycle.run_plan(get_settings(), queued("imp_first", BASE, IMPORT_MODE))
    with pytest.raises(CatalogBusy, match="imp_first"):
        lifecycle.run_plan(get_settings(), queued("imp_look", CHANGED, PREVIEW_MODE))
    waiting = lifecycle.progress(ImportStore("imports").get("imp_look"))
    assert (waiting["status"], waiting["waiting_for"], waiting["mode"]) == ("QUEUED", "imp_first", "preview")
    chunks_and_finish("imp_first")

    lifecycle.run_plan(get_settings(), "imp_look")
    assert CatalogLock("imports").holder() is None          # planned and running, holding nothing
    # An import arriving meanwhile is not kept waiting by the preview.
    lifecycle.run_plan(get_settings(), queued("imp_next", CHANGED, IMPORT_MODE))
    assert CatalogLock("imports").holder() == Holder("imp_next", IMPORT)
    assert chunks_and_finish("imp_look")["status"] == SUCCEEDED
    assert CatalogLock("imports").holder() == Holder("imp_next", IMPORT)    # the preview's end gives back nothing


class Recorded:
    def __init__(self):
        self.metrics: dict[str, float] = {}

    def add_metric(self, name: str, unit: str, value: float) -> None:
        self.metrics[name] = self.metrics.get(name, 0) + value


@pytest.mark.parametrize("aws", ["dynamodb"], indirect=True)
def test_a_preview_is_recorded_as_a_preview_not_as_imported_rows(preview_aws):
    lifecycle.run_plan(get_settings(), queued("imp_look", CHANGED, PREVIEW_MODE))
    key = "imports/imp_look/manifest.json"
    for chunk in json.loads(boto3.client("s3").get_object(Bucket="uploads", Key=key)["Body"].read()):
        process_chunk(get_settings(), chunk)
    sink = Recorded()
    lifecycle.finish(get_settings(), "imp_look", sink)
    assert sink.metrics == {"PreviewsSucceeded": 1, "RowsPreviewed": 9}
