"""Delete-all, in-process with moto: the API starts the job, the state machine's steps (called here as
Step Functions would call the delete_all function) empty the catalog, report progress, reset the
stats, publish products.deleted_all; a second delete-all, product writes and imports are refused
meanwhile."""
from __future__ import annotations

import json

import boto3
import pytest

from catalog.products.catalogs import catalog_store
from catalog.shared.settings import get_settings
from tests.support.handlers import load_handler
from tests.support.products_api import REGION, Api, Context, catalog, drain_events, load_products


@pytest.fixture(scope="module")
def delete_all_handler():
    return load_handler("delete_all")


@pytest.fixture
def api(aws, api_app):
    boto3.client("stepfunctions", region_name=REGION).create_state_machine(
        name="catalog-delete-all", roleArn="arn:aws:iam::123456789012:role/x",
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}))
    return Api(api_app)


def run_job(handler, job_id: str, segments_first=None) -> dict:
    """Runs the state machine's steps in order, as the ASL does."""
    plan = handler({"action": "plan", "job_id": job_id}, Context())
    for work in segments_first or plan["segments"]:
        result = handler({"action": "segment", **work}, Context())
        while not result["done"]:
            result = handler({"action": "segment", **result}, Context())
    return handler({"action": "finish", "job_id": job_id}, Context())


def test_delete_all_empties_the_catalog(api, aws, delete_all_handler, monkeypatch):
    from catalog.products import dynamodb_catalog
    monkeypatch.setattr(dynamodb_catalog, "KEYS_PAGE", 37)       # many pages per segment
    products = catalog(300)
    assert len(products) == 300
    load_products(products)
    drain_events(aws)
    status, job = api("DELETE", "/products")
    assert status == 202, job
    assert job["status"] == "QUEUED" and job["total"] == 300 and job["url"].endswith(job["id"])
    execution = boto3.client("stepfunctions", region_name=REGION).describe_execution(
        executionArn=f"arn:aws:states:us-east-1:123456789012:execution:catalog-delete-all:{job['id']}")
    assert json.loads(execution["input"]) == {"job_id": job["id"]}

    # while it runs: a second delete-all and product writes are refused
    status, body = api("DELETE", "/products")
    assert status == 409 and job["id"] in body["error"]
    status, body = api("POST", "/products", {"sku": "new", "name": "n"})
    assert status == 409 and "delete-all" in body["error"]
    assert api("GET", "/products")[0] == 200   # reads still work

    summary = run_job(delete_all_handler, job["id"])
    assert summary["status"] == "SUCCEEDED" and summary["deleted"] == 300
    status, done = api("GET", f"/products/delete-all/{job['id']}")
    assert status == 200 and done["status"] == "SUCCEEDED" and done["percent"] == 100.0
    # DynamoDB: groups of shards, at most 8; PostgreSQL: one statement
    assert done["segments_done"] == done["total_segments"] == (8 if get_settings().catalog_store == "dynamodb" else 1)
    assert catalog_store(get_settings()).count() == 0
    _, page = api("GET", "/products")
    assert page["total"] == 0 and page["items"] == []
    events = drain_events(aws)
    assert [e["type"] for e in events] == ["products.deleted_all"]
    assert events[0]["data"]["id"] == job["id"] and events[0]["data"]["deleted"] == 300
    # the lock is released: writes and a new delete-all work again
    assert api("POST", "/products", {"sku": "new", "name": "n"})[0] == 201
    assert api("DELETE", "/products")[0] == 202


@pytest.mark.parametrize("aws", ["dynamodb"], indirect=True)     # DynamoDB deletes shard by shard
def test_segment_hands_over_when_time_runs_low(api, delete_all_handler, monkeypatch):
    from catalog.products import delete_all, dynamodb_catalog
    from catalog.shared.settings import get_settings
    monkeypatch.setattr(dynamodb_catalog, "KEYS_PAGE", 10)
    load_products(catalog(60))
    _, job = api("DELETE", "/products")
    plan = delete_all.plan(get_settings(), job["id"])
    shards = [s for w in plan["segments"] for s in w["position"]["shards"]]
    work = {**plan["segments"][0], "position": {**plan["segments"][0]["position"], "shards": shards}}
    result = delete_all.delete_segment(get_settings(), work, remaining_ms=lambda: 1000)
    assert result["done"] is False and result["position"]["start_key"]
    steps = 1
    while not result["done"]:
        result = delete_all.delete_segment(get_settings(), result, remaining_ms=lambda: 1000)
        steps += 1
    assert steps >= 6
    assert boto3.client("dynamodb", region_name=REGION).scan(TableName="products")["Count"] == 0


def test_unknown_job_is_404(api):
    assert api("GET", "/products/delete-all/del_nope")[0] == 404


def test_finish_refuses_when_a_segment_did_not_report(api, delete_all_handler):
    load_products(catalog(20))
    _, job = api("DELETE", "/products")
    delete_all_handler({"action": "plan", "job_id": job["id"]}, Context())
    with pytest.raises(Exception, match="segments did not finish"):
        delete_all_handler({"action": "finish", "job_id": job["id"]}, Context())
    result = delete_all_handler({"action": "fail", "job_id": job["id"],
                                 "error": {"Error": "IncompleteDeleteAllError", "Cause": "8 of 8 segments did not finish"}},
                                Context())
    assert result["status"] == "FAILED"
    status, view = api("GET", f"/products/delete-all/{job['id']}")
    assert status == 200 and view["status"] == "FAILED" and view["error"]
    assert api("POST", "/products", {"sku": "after", "name": "n"})[0] == 201   # lock released


def test_delete_all_refused_while_an_import_runs(api):
    from catalog.imports.progress import ImportStore
    ImportStore("imports").create("imp_20990101T000000_aaaaaaaaaaaa", status="PROCESSING", source="api",
                                  bucket="b", key="incoming/x.csv", file_name="x.csv")
    status, body = api("DELETE", "/products")
    assert status == 409 and "import is running" in body["error"]


def test_import_arriving_during_delete_all_is_refused(api, aws):
    from catalog.imports import lifecycle
    from catalog.imports.progress import ImportStore
    from catalog.shared.settings import get_settings
    assert api("DELETE", "/products")[0] == 202
    drain_events(aws)
    # dropped into the bucket
    outcome = lifecycle.start_from_object(get_settings(), bucket="b", key="incoming/drop.csv", size=10,
                                          version="v1", event_time="2024-01-01T00:00:00Z")
    assert not outcome.started
    item = ImportStore("imports").get(outcome.import_id)
    assert item["status"] == "FAILED" and "delete-all is running" in item["error"]
    # uploaded through the API (a PENDING import item exists)
    imports = ImportStore("imports")
    imports.create("imp_20240101T000000_bbbbbbbbbbbb", status="PENDING", source="api", bucket="b",
                   key="incoming/imp_20240101T000000_bbbbbbbbbbbb/x.csv", file_name="x.csv")
    outcome = lifecycle.start_from_object(get_settings(), bucket="b",
                                          key="incoming/imp_20240101T000000_bbbbbbbbbbbb/x.csv", size=10,
                                          version="v1", event_time="2024-01-01T00:00:00Z")
    assert outcome.import_id == "imp_20240101T000000_bbbbbbbbbbbb" and not outcome.started
    item = imports.get(outcome.import_id)
    assert item["status"] == "FAILED" and "delete-all is running" in item["error"]
    assert [e["type"] for e in drain_events(aws)] == ["upload.failed", "upload.failed"]
