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


def _execution(name: str) -> str:
    """A RUNNING execution of the import machine in moto (which leaves executions running)."""
    sfn = boto3.client("stepfunctions", region_name=REGION)
    machines = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    arn = machines.get("catalog-import") or sfn.create_state_machine(
        name="catalog-import", roleArn="arn:aws:iam::123456789012:role/sfn",
        definition=json.dumps({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": True}}}),
    )["stateMachineArn"]
    return sfn.start_execution(stateMachineArn=arn, name=name)["executionArn"]


@pytest.fixture
def every_read_asks(monkeypatch):
    """Each close_if_execution_gone asks Step Functions (a container asks once per 30 s per import)."""
    monkeypatch.setattr(lifecycle, "EXECUTION_CHECK_SECONDS", 0)


def with_execution(import_id: str, arn: str) -> dict:
    ImportStore("imports").transition(import_id, to="PROCESSING", allowed_from=("PROCESSING",),
                                      values={"execution_arn": arn})
    return ImportStore("imports").get(import_id)


def test_an_import_whose_execution_is_gone_is_closed_when_read(queue, every_read_asks):
    """The local cloud restarted (or the execution was deleted, aborted, timed out before its rule
    ran): an import still PROCESSING would show as running forever and keep the catalog."""
    lifecycle.run_plan(get_settings(), queued_import("imp_orphan"))
    item = with_execution("imp_orphan", "arn:aws:states:us-east-1:123456789012:execution:catalog-import:imp_orphan")
    closed = lifecycle.close_if_execution_gone(get_settings(), item)
    assert closed["status"] == "FAILED" and closed["finished_at"]
    assert closed["error"] == ("The import was interrupted: its workflow no longer exists before the import "
                               "finished. Products written so far are kept; import the file again to complete it.")
    assert CatalogLock("imports").holder() is None
    events = boto3.client("sqs", region_name=REGION).receive_message(QueueUrl=_events_queue(),
                                                                    MaxNumberOfMessages=10).get("Messages", [])
    assert [json.loads(m["Body"])["type"] for m in events] == ["upload.failed"]
    assert lifecycle.close_if_execution_gone(get_settings(), closed) == closed       # ended: left as it is


def _events_queue() -> str:
    return boto3.client("sqs", region_name=REGION).get_queue_url(QueueName="events")["QueueUrl"]


def test_an_import_whose_execution_runs_is_left_alone(queue, every_read_asks):
    lifecycle.run_plan(get_settings(), queued_import("imp_alive"))
    item = with_execution("imp_alive", _execution("imp_alive"))
    assert lifecycle.close_if_execution_gone(get_settings(), item)["status"] == "PROCESSING"
    assert CatalogLock("imports").holder() == Holder("imp_alive", IMPORT)


def test_taking_over_a_lost_holders_lock_closes_the_lost_import(queue):
    lifecycle.run_plan(get_settings(), queued_import("imp_lost_holder"))
    with_execution("imp_lost_holder", "arn:aws:states:us-east-1:123456789012:execution:catalog-import:imp_lost_holder")
    lifecycle.run_plan(get_settings(), queued_import("imp_next_one"))
    assert CatalogLock("imports").holder() == Holder("imp_next_one", IMPORT)
    lost = ImportStore("imports").get("imp_lost_holder")
    assert lost["status"] == "FAILED" and lost["error"].startswith("The import was interrupted")
