"""Every function's sample event (events/), given to its real handler in moto's in-process AWS.

The stack is built from template.yaml (tests/support/template_resources.py: every table, queue,
bucket and state machine the template deploys, named as the local cloud names the stack `catalog`),
and each handler runs with the environment the template gives its function. The template's
parameters are the defaults, except that webhooks may target 127.0.0.1 (as in local development), so
the delivery reaches a real receiver. The catalog is in the default store (CatalogStore, aurora:
PostgreSQL through the RDS Data API, here the unit suite's embedded PostgreSQL behind the local Data
API, emptied for each test); products are read and written through the catalog store seam. Each test
prepares what its event refers to (tests/support/sample_events.py tells the story the events share)
and checks what the handler did.
"""
from __future__ import annotations

import hashlib
import json

import boto3
import pytest
from moto import mock_aws
from standardwebhooks import Webhook

from catalog.imports.errors import IncompleteImportError
from catalog.imports.progress import PLANNING, PROCESSING, QUEUED, ImportStore
from catalog.imports.rows import ProductRow
from catalog.products.catalogs import catalog_store
from catalog.products.delete_all_jobs import DeleteAllJobs
from catalog.products.export_jobs import ExportJobs
from catalog.products.pages import ProductFilter
from catalog.products.stats import CatalogStats
from catalog.products.store import Product, ProductStore, shard_of
from catalog.shared import aws
from catalog.shared.settings import get_settings
from catalog.webhooks import endpoints
from catalog.webhooks.endpoints import EndpointStore
from catalog.webhooks.log import DeliveryLog
from local import secrets_and_keys
from local import template as tpl
from tests.support.data_api import CLUSTER_ARN, SECRET_ARN, empty_postgres_catalog
from tests.support.handlers import LambdaContext, load_handler
from tests.support.receiver import Receiver
from tests.support.sample_events import (
    SAMPLE_BUCKET,
    SAMPLE_ENDPOINT_ID,
    SAMPLE_EXPORT_ID,
    SAMPLE_FILE,
    SAMPLE_IMPORT_ID,
    SAMPLE_JOB_ID,
    SAMPLE_KEY,
    load_event,
)
from tests.support.template_resources import REGION, MotoStack, database_clusters, template

PARAMETERS = {"WebhookAllowPrivateTargets": "true"}


@pytest.fixture
def stack(request, monkeypatch, moto_env, tmp_path):
    """The stack with PARAMETERS (the catalog in the template's default store); a test about one
    store says so with `@pytest.mark.parametrize("stack", [{"CatalogStore": ...}], indirect=True)`.
    With a database cluster (aurora), the handlers reach the session's Data API (the catalog emptied)."""
    parameters = {**PARAMETERS, **getattr(request, "param", {})}
    database = None
    if database_clusters(parameters):
        running = request.getfixturevalue("data_api")
        empty_postgres_catalog(running)
        monkeypatch.setenv("AWS_ENDPOINT_URL_RDS_DATA", running["endpoint"])
        database = (CLUSTER_ARN, SECRET_ARN)
    with mock_aws():
        aws.client.cache_clear()
        built = MotoStack(parameters, database=database)
        # The cursor key secret and the webhook secrets key, made as the local cloud makes them.
        secrets_and_keys.provision(lambda service: boto3.client(service, region_name=REGION), built.resolver,
                                   built.resolver.template, tmp_path)
        for name in built.environment_names():     # only what the template sets for the function invoked
            monkeypatch.delenv(name, raising=False)
        yield built
    aws.client.cache_clear()


def use_environment(stack: MotoStack, monkeypatch, folder: str) -> str:
    """Sets the environment the template gives the function in functions/<folder>; its logical id."""
    (logical,) = [name for name in tpl.resources_of(template(), "AWS::Serverless::Function")
                  if tpl.function_properties(template(), name)["CodeUri"].rstrip("/") == f"functions/{folder}"]
    for key, value in stack.environment(logical).items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    aws.client.cache_clear()
    return logical


def invoke(stack: MotoStack, monkeypatch, folder: str, event: dict):
    """Calls functions/<folder>/app.py's handler with the environment the template gives the function."""
    logical = use_environment(stack, monkeypatch, folder)
    return load_handler(folder)(event, LambdaContext(f"catalog-{logical}"))


def catalog_of(stack: MotoStack, monkeypatch, folder: str):
    """The catalog store the function in functions/<folder> uses (the seam, with its environment)."""
    use_environment(stack, monkeypatch, folder)
    return catalog_store(get_settings())


def stored_keys(catalog) -> list[str]:
    """The SKU keys of every product in the catalog, through the seam's listing (one page)."""
    page = catalog.list_products(ProductFilter(), 200, None)
    assert page.next is None, "more products than one page holds"
    return sorted(item["sku"].lower() for item in page.items)


def s3():
    return boto3.client("s3", region_name=REGION)


def upload_sample_file() -> None:
    s3().put_object(Bucket=SAMPLE_BUCKET, Key=SAMPLE_KEY, Body=SAMPLE_FILE)


def create_sample_import(stack: MotoStack, status: str) -> ImportStore:
    imports = ImportStore(stack.ref("ImportsTable"))
    assert imports.create(SAMPLE_IMPORT_ID, status=status, source="s3", bucket=SAMPLE_BUCKET, key=SAMPLE_KEY,
                          file_name="catalog.csv", size=len(SAMPLE_FILE))
    return imports


def published(stack: MotoStack) -> list[dict]:
    sqs = boto3.client("sqs", region_name=REGION)
    messages = sqs.receive_message(QueueUrl=stack.ref("EventsQueue"), MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def test_the_sample_upload_is_the_file_the_events_describe():
    (record,) = load_event("import_start")["Records"]
    (s3_record,) = json.loads(record["body"])["Records"]
    chunk = load_event("process_chunk")
    md5 = hashlib.md5(SAMPLE_FILE).hexdigest()
    assert s3_record["s3"]["object"] == {**s3_record["s3"]["object"], "key": SAMPLE_KEY, "size": len(SAMPLE_FILE),
                                         "eTag": md5}
    assert (chunk["bucket"], chunk["key"], chunk["etag"], chunk["end"]) == (SAMPLE_BUCKET, SAMPLE_KEY, f'"{md5}"',
                                                                          len(SAMPLE_FILE))


# --- the import pipeline -----------------------------------------------------------------------
def test_import_start_sample_starts_one_import_of_the_dropped_file(stack, monkeypatch):
    event = load_event("import_start")
    assert invoke(stack, monkeypatch, "import_start", event) == {"batchItemFailures": []}
    item = ImportStore(stack.ref("ImportsTable")).get(SAMPLE_IMPORT_ID)   # the id the other samples use
    assert item is not None, "the import item of the dropped file was not created"
    assert (item["status"], item["source"], item["bucket"], item["key"], item["file_name"], item["size"]) == \
        (QUEUED, "s3", SAMPLE_BUCKET, SAMPLE_KEY, "catalog.csv", len(SAMPLE_FILE))
    sfn = boto3.client("stepfunctions", region_name=REGION)
    execution = sfn.describe_execution(executionArn=item["execution_arn"])
    assert execution["stateMachineArn"] == stack.ref("ImportStateMachine")
    assert execution["name"] == SAMPLE_IMPORT_ID and json.loads(execution["input"]) == {"import_id": SAMPLE_IMPORT_ID}
    # SQS delivers at least once: the same notification again starts nothing more.
    assert invoke(stack, monkeypatch, "import_start", event) == {"batchItemFailures": []}
    assert len(sfn.list_executions(stateMachineArn=stack.ref("ImportStateMachine"))["executions"]) == 1


def test_plan_import_sample_plans_the_file_into_the_process_chunk_sample(stack, monkeypatch):
    upload_sample_file()
    imports = create_sample_import(stack, QUEUED)
    plan = invoke(stack, monkeypatch, "plan_import", load_event("plan_import"))
    assert plan == {"import_id": SAMPLE_IMPORT_ID, "bucket": SAMPLE_BUCKET, "chunk_count": 1,
                    "manifest_key": f"imports/{SAMPLE_IMPORT_ID}/manifest.json",
                    "max_concurrency": int(template()["Parameters"]["ChunkConcurrency"]["Default"])}
    (chunk,) = json.loads(s3().get_object(Bucket=SAMPLE_BUCKET, Key=plan["manifest_key"])["Body"].read())
    sample = load_event("process_chunk")
    assert {k: v for k, v in chunk.items() if k != "planned_at"} == {k: v for k, v in sample.items() if k != "planned_at"}
    item = imports.get(SAMPLE_IMPORT_ID)
    assert (item["status"], item["total_rows"], item["total_chunks"]) == (PROCESSING, 7, 1)


def test_process_chunk_sample_imports_its_rows_and_reports_the_bad_one(stack, monkeypatch):
    upload_sample_file()
    imports = create_sample_import(stack, PROCESSING)
    result = invoke(stack, monkeypatch, "process_chunk", load_event("process_chunk"))
    assert result == {"index": 0, "created": 6, "updated": 0, "unchanged": 0, "failed": 1, "duplicates": 0,
                      "rows_processed": 7, "bytes_processed": len(SAMPLE_FILE) - 27, "chunks_done": 1}
    catalog = catalog_of(stack, monkeypatch, "process_chunk")
    assert stored_keys(catalog) == ["bowl-007", "chair-004", "lamp-003", "mug-002", "tote-001", "vase-006"]
    tote = catalog.get_product("tote-001")
    assert (tote.sku, tote.name, tote.description, tote.price, tote.active) == (
        "TOTE-001", "Canvas tote", "Heavy canvas, natural", "12.50", True)
    report = s3().get_object(Bucket=SAMPLE_BUCKET, Key=f"imports/{SAMPLE_IMPORT_ID}/errors/000000.csv")
    (line,) = report["Body"].read().decode().splitlines()
    assert line.startswith("6,price,") and "RUG-005" in line
    item = imports.get(SAMPLE_IMPORT_ID)
    assert (item["created"], item["failed"], item["rows_processed"], item["chunks_done"]) == (6, 1, 7, 1)


def test_finish_import_sample_completes_the_import_and_tells_subscribers(stack, monkeypatch):
    imports = create_sample_import(stack, QUEUED)
    assert imports.transition(SAMPLE_IMPORT_ID, to=PROCESSING, allowed_from=(QUEUED,),
                              values={"total_rows": 7, "total_chunks": 1, "columns": ["sku", "name", "description",
                                                                                      "price"]})
    assert imports.record_chunk(SAMPLE_IMPORT_ID, 0, {"rows_processed": 7, "created": 7, "chunks_done": 1})
    summary = invoke(stack, monkeypatch, "finish_import", load_event("finish_import"))
    assert summary["id"] == SAMPLE_IMPORT_ID and summary["status"] == "SUCCEEDED" and summary["created"] == 7
    assert imports.get(SAMPLE_IMPORT_ID)["status"] == "SUCCEEDED"
    (event,) = published(stack)
    assert (event["id"], event["type"], event["data"]) == (f"evt_{SAMPLE_IMPORT_ID}_completed", "upload.completed",
                                                           summary)


def test_finish_import_sample_refuses_an_import_with_chunks_missing(stack, monkeypatch):
    imports = create_sample_import(stack, QUEUED)
    imports.transition(SAMPLE_IMPORT_ID, to=PROCESSING, allowed_from=(QUEUED,), values={"total_chunks": 1})
    with pytest.raises(IncompleteImportError, match="1 of 1 chunks did not finish"):
        invoke(stack, monkeypatch, "finish_import", load_event("finish_import"))
    assert imports.get(SAMPLE_IMPORT_ID)["status"] == PROCESSING and published(stack) == []


def test_mark_import_failed_sample_fails_the_import_with_a_readable_message(stack, monkeypatch):
    imports = create_sample_import(stack, PLANNING)
    summary = invoke(stack, monkeypatch, "mark_import_failed", load_event("mark_import_failed"))
    assert summary["status"] == "FAILED" and summary["error"] == "The file cannot be imported: the file is empty"
    assert imports.get(SAMPLE_IMPORT_ID)["status"] == "FAILED"
    (event,) = published(stack)
    assert (event["type"], event["data"]) == ("upload.failed", summary)


# --- the API -------------------------------------------------------------------------------------
def test_api_get_import_sample_returns_the_import(stack, monkeypatch):
    create_sample_import(stack, QUEUED)
    response = invoke(stack, monkeypatch, "api", load_event("api_get_import"))
    assert response["statusCode"] == 200 and response["headers"]["Content-Type"] == "application/json"
    body = json.loads(response["body"])
    assert (body["id"], body["status"], body["file_name"], body["percent"]) == (SAMPLE_IMPORT_ID, QUEUED,
                                                                                "catalog.csv", 0.0)
    assert "bucket" not in body and "kind" not in body            # internal fields stay inside


def test_api_get_import_sample_of_an_unknown_import_is_404(stack, monkeypatch):
    response = invoke(stack, monkeypatch, "api", load_event("api_get_import"))
    assert response["statusCode"] == 404
    assert json.loads(response["body"]) == {"error": f"import '{SAMPLE_IMPORT_ID}' not found"}


# --- delete-all ------------------------------------------------------------------------------------
# How a store cuts delete-all into segments is its own: one test per store, each naming its store.
@pytest.mark.parametrize("stack", [{"CatalogStore": "aurora"}], ids=["aurora"], indirect=True)
def test_delete_all_sample_plans_the_job_as_one_segment_on_postgresql(stack, monkeypatch):
    """PostgreSQL empties the catalog in one statement: the plan is one segment, whatever number of
    segments DELETE /products asked for."""
    skus = [f"{a}{b}-{n}" for a in "abcd" for b in "xyz" for n in range(3)]
    catalog = catalog_of(stack, monkeypatch, "delete_all")
    rows = {sku: ProductRow(i + 2, sku, sku, f"product {sku}", "", "1.00", True) for i, sku in enumerate(skus)}
    catalog.chunk_counted(catalog.write_chunk("imp_20261126T100000_000000000000", 0, rows, fresh=True,
                                              now="2026-11-26T10:00:00.000000Z"))
    assert catalog.count() == len(skus)
    jobs = DeleteAllJobs(stack.ref("ImportsTable"))
    jobs.create(SAMPLE_JOB_ID, total=len(skus), segments=8)        # as DELETE /products creates it
    plan = invoke(stack, monkeypatch, "delete_all", load_event("delete_all"))
    assert plan["job_id"] == SAMPLE_JOB_ID and plan["max_concurrency"] == 1
    (work,) = plan["segments"]
    assert {k: v for k, v in work.items() if k != "position"} == {
        "job_id": SAMPLE_JOB_ID, "segment": 0, "total_segments": 1, "done": False}
    assert isinstance(work["position"], dict)      # the store's own, carried by the state machine
    job = jobs.get(SAMPLE_JOB_ID)
    assert job["status"] == "RUNNING" and job["total_segments"] == 1
    assert catalog.count() == len(skus)                            # planning deletes nothing


# About the DynamoDB store's internals (the shards of the catalog stats dealt out to the segments).
@pytest.mark.parametrize("stack", [{"CatalogStore": "dynamodb"}], ids=["dynamodb"], indirect=True)
def test_delete_all_sample_plans_the_job_over_the_catalog_shards(stack, monkeypatch):
    now = "2026-11-26T11:00:00.000000Z"
    skus = [f"{a}{b}-{n}" for a in "abcd" for b in "xyz" for n in range(3)]       # 12 shards of 3 products
    ProductStore(stack.ref("ProductsTable")).write_many(
        [Product(sku, f"product {sku}", "", "1.00", True, f"id-{sku}", now, now).to_item() for sku in skus])
    shards = {shard_of(sku) for sku in skus}
    CatalogStats(stack.ref("ImportsTable")).add(len(skus), shards)
    jobs, segments = DeleteAllJobs(stack.ref("ImportsTable")), 8
    jobs.create(SAMPLE_JOB_ID, total=len(skus), segments=segments)   # as DELETE /products creates it
    plan = invoke(stack, monkeypatch, "delete_all", load_event("delete_all"))
    assert len(shards) > segments                                  # so the groups hold several shards
    assert plan["job_id"] == SAMPLE_JOB_ID and plan["max_concurrency"] == len(plan["segments"]) == segments
    assert sorted(s for work in plan["segments"] for s in work["position"]["shards"]) == sorted(shards)
    assert all(work["job_id"] == SAMPLE_JOB_ID and work["done"] is False for work in plan["segments"])
    job = jobs.get(SAMPLE_JOB_ID)
    assert job["status"] == "RUNNING" and job["total_segments"] == segments


# --- export ----------------------------------------------------------------------------------------
def test_export_sample_begins_the_job_and_its_upload(stack, monkeypatch):
    """The Begin step of the export machine: the job (as GET /products/export creates it) RUNNING, and
    the multipart upload of its file under exports/, handed to the Write loop from the start."""
    jobs = ExportJobs(stack.ref("ImportsTable"))
    jobs.create(SAMPLE_EXPORT_ID, filters={}, total=0, bucket=SAMPLE_BUCKET,
                key=f"exports/{SAMPLE_EXPORT_ID}/products.csv", file_name="products.csv")
    work = invoke(stack, monkeypatch, "export", load_event("export"))
    assert {k: v for k, v in work.items() if k != "upload_id"} == {
        "job_id": SAMPLE_EXPORT_ID, "position": {}, "etags": [], "rows": 0, "bytes": 0, "done": False}
    (upload,) = s3().list_multipart_uploads(Bucket=SAMPLE_BUCKET)["Uploads"]
    assert (upload["UploadId"], upload["Key"]) == (work["upload_id"], f"exports/{SAMPLE_EXPORT_ID}/products.csv")
    job = jobs.get(SAMPLE_EXPORT_ID)
    assert job["status"] == "RUNNING" and job["upload_id"] == work["upload_id"]


# --- webhooks ---------------------------------------------------------------------------------------
def create_sample_endpoint(stack: MotoStack, monkeypatch, url: str, event_types: list[str]) -> dict:
    monkeypatch.setattr(endpoints, "new_endpoint_id", lambda: SAMPLE_ENDPOINT_ID)
    return EndpointStore(stack.ref("WebhooksTable"), stack.resolver.attrs[("WebhookSecretsKey", "Arn")]).create(
        url, event_types)


def test_webhook_fanout_sample_queues_the_webhook_deliver_sample(stack, monkeypatch):
    EndpointStore(stack.ref("WebhooksTable"), stack.resolver.attrs[("WebhookSecretsKey", "Arn")]).create(
        "https://other.example.com/", ["product.created"])
    create_sample_endpoint(stack, monkeypatch, "https://hooks.example.com/catalog", ["upload.completed"])
    assert invoke(stack, monkeypatch, "webhook_fanout", load_event("webhook_fanout")) == {"batchItemFailures": []}
    sqs = boto3.client("sqs", region_name=REGION)
    messages = sqs.receive_message(QueueUrl=stack.ref("DeliveriesQueue"), MaxNumberOfMessages=10)["Messages"]
    (sample,) = load_event("webhook_deliver")["Records"]
    assert [json.loads(m["Body"]) for m in messages] == [json.loads(sample["body"])]


def test_webhook_deliver_sample_posts_the_signed_event_to_the_endpoint(stack, monkeypatch):
    with Receiver() as receiver:
        endpoint = create_sample_endpoint(stack, monkeypatch, receiver.url, ["*"])
        result = invoke(stack, monkeypatch, "webhook_deliver", load_event("webhook_deliver"))
    assert result == {"batchItemFailures": []}
    (sample,) = load_event("webhook_deliver")["Records"]
    message = json.loads(sample["body"])
    (request,) = receiver.requests
    assert request["headers"]["webhook-id"] == message["delivery_id"]
    event = message["event"]
    assert Webhook(endpoint["secret"]).verify(request["body"], request["headers"]) == {
        "type": event["type"], "timestamp": event["timestamp"], "data": event["data"]}
    assert EndpointStore(stack.ref("WebhooksTable")).get(SAMPLE_ENDPOINT_ID)["last_status_code"] == 200
    (entry,), _ = DeliveryLog(stack.ref("WebhooksTable"), 3600).list(SAMPLE_ENDPOINT_ID, 10)
    assert (entry["delivery_id"], entry["outcome"], entry["attempt"]) == (message["delivery_id"], "delivered", 1)
