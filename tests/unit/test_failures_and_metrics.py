"""Readable failures (the raw error only in the logs, a request id for users) and the metrics the
handlers emit (CloudWatch embedded metric format on stdout, read with capsys as Powertools documents)."""
from __future__ import annotations

import json
import sys

import boto3

from catalog.imports import lifecycle
from catalog.imports.chunks import process_chunk
from catalog.imports.progress import PROCESSING, QUEUED, ImportStore
from catalog.shared.settings import get_settings
from tests.support.handlers import LambdaContext, load_function_module, load_handler
from tests.support.metrics import emf
from tests.support.products_api import Api, drain_events

ACCOUNT_ARN = "arn:aws:sts::123456789012:assumed-role/catalog-ProcessChunkFunctionRole-1AB2C3/catalog-ProcessChunk"
RAW_CAUSE = json.dumps({
    "errorType": "ClientError",
    "errorMessage": f"An error occurred (AccessDeniedException) when calling the UpdateItem operation: User: "
                    f"{ACCOUNT_ARN} is not authorized to perform: dynamodb:UpdateItem on resource: "
                    "arn:aws:dynamodb:us-east-1:123456789012:table/catalog-ImportsTable"})
CSV = b"sku,name,price\nA-1,One,1\nA-2,Two,2\nA-3,,3\nA-4,Four,x\nA-5,Five,5\n"


def started_import(import_id: str, status: str = QUEUED) -> None:
    boto3.client("s3").put_object(Bucket="uploads", Key=f"incoming/{import_id}.csv", Body=CSV)
    ImportStore("imports").create(import_id, status=status, source="s3", bucket="uploads",
                                  key=f"incoming/{import_id}.csv", file_name="c.csv")


def test_a_failure_shows_users_a_readable_message_and_a_request_id_and_logs_the_raw_error(
        pipeline_aws, capsys, monkeypatch):
    started_import("imp_fail", status=PROCESSING)
    context = LambdaContext("catalog-MarkImportFailedFunction")
    context.aws_request_id = "5f1c2d8e-0b7a-4c1e-9d55-2f3a4b5c6d7e"
    handler = load_function_module("mark_import_failed")
    # Powertools' log handler writes to the stdout of when the service's first Logger was made.
    monkeypatch.setattr(handler.logger.registered_handler, "stream", sys.stdout)
    capsys.readouterr()
    summary = handler.lambda_handler({"import_id": "imp_fail", "error": {"Error": "ClientError", "Cause": RAW_CAUSE}},
                                     context)
    out = capsys.readouterr().out

    item = ImportStore("imports").get("imp_fail")
    (event,) = drain_events(pipeline_aws["queue"])
    assert event["type"] == "upload.failed"
    for shown in (summary, item, lifecycle.progress(item), event["data"]):   # returned, stored, GET /imports/{id}, event
        assert shown["status"] == "FAILED"
        assert shown["request_id"] == context.aws_request_id
        assert shown["error"] == (f"The import failed because of an internal error (request id "
                                  f"{context.aws_request_id}). Try again; if it fails again, report the request id.")
    for text in (json.dumps(item), json.dumps(event)):
        assert "arn:" not in text and "123456789012" not in text and "AccessDenied" not in text
    # The raw error is in the log, under the request id users were given.
    (logged,) = [json.loads(line) for line in out.splitlines() if '"import failed"' in line]
    assert logged["error_cause"] == json.loads(RAW_CAUSE)["errorMessage"] and ACCOUNT_ARN in logged["error_cause"]
    assert logged["function_request_id"] == context.aws_request_id and logged["import_id"] == "imp_fail"
    assert emf(out)["ImportsFailed"] == [1.0]


def test_errors_the_application_explains_keep_their_words(pipeline_aws):
    started_import("imp_bad", status=PROCESSING)
    cause = json.dumps({"errorType": "BadFileError", "errorMessage": "the file is empty"})
    summary = lifecycle.fail(get_settings(), "imp_bad", {"Error": "BadFileError", "Cause": cause}, "req-1")
    assert summary["error"] == "The file cannot be imported: the file is empty" and summary["request_id"] == "req-1"


def test_a_finished_import_emits_outcome_rows_and_duration_once(pipeline_aws, capsys):
    started_import("imp_ok")
    plan = lifecycle.run_plan(get_settings(), "imp_ok")
    chunks = json.loads(boto3.client("s3").get_object(Bucket="uploads", Key=plan["manifest_key"])["Body"].read())
    for chunk in chunks:
        process_chunk(get_settings(), chunk)
    finish = load_handler("finish_import")
    capsys.readouterr()
    assert finish({"import_id": "imp_ok"}, LambdaContext())["status"] == "SUCCEEDED"
    finish({"import_id": "imp_ok"}, LambdaContext())            # a retried Finish counts nothing twice
    metrics = emf(capsys.readouterr().out)
    assert metrics["ImportsSucceeded"] == [1.0]
    assert metrics["RowsImported"] == [3.0] and metrics["RowsFailed"] == [2.0]
    (duration,) = metrics["ImportDuration"]
    assert 0 <= duration < 60
    assert "ImportsFailed" not in metrics and "ImportsCancelled" not in metrics


def test_a_cancelled_import_emits_imports_cancelled(pipeline_aws, capsys):
    started_import("imp_cancel", status=PROCESSING)
    api = Api(load_function_module("api"))
    capsys.readouterr()
    status, body = api("POST", "/imports/imp_cancel/cancel")
    assert status == 200 and body["status"] == "CANCELLED"
    status, _ = api("POST", "/imports/imp_cancel/cancel")          # already ended: 409, nothing counted
    assert status == 409
    metrics = emf(capsys.readouterr().out)
    assert metrics["ImportsCancelled"] == [1.0] and metrics["RowsImported"] == [0.0]
