"""One bulk change of the catalog at a time (shared/catalog_lock.py): imports queue behind each
other, a delete-all refuses to start under an import and an import is refused under a delete-all,
product writes through the API wait for an import on DynamoDB only, and a lock whose holder's
execution is gone is taken over. In-process with moto, the steps called as the state machines
call them."""
from __future__ import annotations

import json

import boto3
import pytest

from catalog.imports import lifecycle
from catalog.imports.chunks import process_chunk
from catalog.imports.errors import CatalogBusy, ImportRefused
from catalog.imports.planner import manifest_key_for
from catalog.imports.progress import QUEUED, ImportStore
from catalog.shared.catalog_lock import DELETE_ALL, IMPORT, CatalogLock, Holder
from catalog.shared.failures import readable_failure
from catalog.shared.settings import get_settings
from tests.support.products_api import REGION, Api

CSV = b"sku,name,price\nA-1,First,1\nA-2,Second,2\n"


@pytest.fixture
def queue(aws, api_app):
    boto3.client("s3", region_name=REGION).create_bucket(Bucket="uploads")
    return Api(api_app)


def queued_import(import_id: str) -> str:
    boto3.client("s3", region_name=REGION).put_object(Bucket="uploads", Key=f"incoming/{import_id}.csv", Body=CSV)
    ImportStore("imports").create(import_id, status=QUEUED, source="s3", bucket="uploads",
                                  key=f"incoming/{import_id}.csv", file_name="x.csv")
    return import_id


def run_to_the_end(import_id: str) -> dict:
    """Plan (already run), chunks, finish: as the import machine goes on after its plan."""
    s3 = boto3.client("s3", region_name=REGION)
    for chunk in json.loads(s3.get_object(Bucket="uploads", Key=manifest_key_for(import_id))["Body"].read()):
        process_chunk(get_settings(), chunk)
    return lifecycle.finish(get_settings(), import_id)


def test_a_second_import_waits_queued_until_the_first_ends(queue):
    lifecycle.run_plan(get_settings(), queued_import("imp_first"))
    with pytest.raises(CatalogBusy, match="imp_first"):
        lifecycle.run_plan(get_settings(), queued_import("imp_second"))
    waiting = lifecycle.progress(ImportStore("imports").get("imp_second"))
    assert (waiting["status"], waiting["waiting_for"]) == ("QUEUED", "imp_first")

    assert run_to_the_end("imp_first")["status"] == "SUCCEEDED"
    lifecycle.run_plan(get_settings(), "imp_second")
    second = run_to_the_end("imp_second")
    assert (second["status"], second["created"], second["unchanged"]) == ("SUCCEEDED", 0, 2)
    assert "waiting_for" not in lifecycle.progress(ImportStore("imports").get("imp_second"))
    assert CatalogLock("imports").holder() is None


def test_a_failed_import_gives_the_catalog_back(queue):
    lifecycle.run_plan(get_settings(), queued_import("imp_fails"))
    lifecycle.fail(get_settings(), "imp_fails", {"Error": "States.TaskFailed", "Cause": "boom"})
    assert CatalogLock("imports").holder() is None


def test_a_cancelled_import_holds_the_catalog_until_its_finish_step(queue):
    lifecycle.run_plan(get_settings(), queued_import("imp_cancelled"))
    assert lifecycle.cancel(get_settings(), "imp_cancelled")["status"] == "CANCELLED"
    # its chunks may still be writing: the next import must not start under them
    assert CatalogLock("imports").holder() == Holder("imp_cancelled", IMPORT)
    with pytest.raises(CatalogBusy):
        lifecycle.run_plan(get_settings(), queued_import("imp_next"))
    assert run_to_the_end("imp_cancelled")["status"] == "CANCELLED"
    assert CatalogLock("imports").holder() is None
    lifecycle.run_plan(get_settings(), "imp_next")


def test_a_queued_import_cancelled_while_waiting_never_takes_the_catalog(queue):
    lifecycle.run_plan(get_settings(), queued_import("imp_holder"))
    queued_import("imp_waiting")
    lifecycle.cancel(get_settings(), "imp_waiting")
    with pytest.raises(Exception, match="CANCELLED"):
        lifecycle.run_plan(get_settings(), "imp_waiting")
    assert CatalogLock("imports").holder() == Holder("imp_holder", IMPORT)


def test_a_lock_whose_holder_execution_is_gone_is_taken_over(queue):
    lifecycle.run_plan(get_settings(), queued_import("imp_lost"))
    # its execution timed out (or was aborted) without reaching the step that gives the lock back
    ImportStore("imports").transition("imp_lost", to="PROCESSING", allowed_from=("PROCESSING",), values={
        "execution_arn": "arn:aws:states:us-east-1:123456789012:execution:catalog-import:imp_lost"})
    lifecycle.run_plan(get_settings(), queued_import("imp_after"))
    assert CatalogLock("imports").holder() == Holder("imp_after", IMPORT)


def test_a_delete_all_and_an_import_exclude_each_other(queue):
    lifecycle.run_plan(get_settings(), queued_import("imp_running"))
    status, body = queue("DELETE", "/products")
    assert status == 409 and "imp_running" in body["error"]
    run_to_the_end("imp_running")

    assert CatalogLock("imports").acquire("del_1", DELETE_ALL) is None
    with pytest.raises(ImportRefused, match="delete-all is running") as refused:
        lifecycle.run_plan(get_settings(), queued_import("imp_refused"))
    message = readable_failure({"Error": "ImportRefused", "Cause": json.dumps(
        {"errorType": "ImportRefused", "errorMessage": str(refused.value)})})
    assert message.startswith("The import was refused: a delete-all is running")


def test_product_writes_wait_for_an_import_on_dynamodb_only(queue, aws, request):
    lifecycle.run_plan(get_settings(), queued_import("imp_busy"))
    status, body = queue("POST", "/products", {"sku": "NEW-1", "name": "New"})
    if get_settings().catalog_store == "dynamodb":
        assert status == 409 and body["error"] == "an import is running (imp_busy); write products when it has finished"
    else:   # PostgreSQL: each chunk is one upsert, atomic per product against API writes
        assert status == 201
    assert queue("GET", "/products/A-1")[0] == 404            # reads are never refused
    run_to_the_end("imp_busy")
    assert queue("POST", "/products", {"sku": "NEW-2", "name": "New"})[0] == 201


def test_taking_the_lock_again_is_idempotent_for_its_holder(aws):
    lock = CatalogLock("imports")
    assert lock.acquire("imp_a", IMPORT) is None
    assert lock.acquire("imp_a", IMPORT) is None          # a retried plan step
    assert lock.acquire("imp_b", IMPORT) == Holder("imp_a", IMPORT)
    lock.release("imp_b")                                   # not the holder: no effect
    assert lock.holder() == Holder("imp_a", IMPORT)
    lock.release("imp_a")
    assert lock.acquire("imp_b", IMPORT) is None
