"""The local cloud's fault plan (local/faults.py): which requests a rule picks, and answers that
botocore reads as the service's own errors."""
from __future__ import annotations

import json
import os
import threading

import boto3
import pytest
from botocore.exceptions import ClientError
from werkzeug.serving import make_server
from werkzeug.test import Client
from werkzeug.wrappers import Response

from local.faults import FaultMiddleware, FaultPlan


def ok_app(environ, start_response):
    return Response(json.dumps({"ok": True}), content_type="application/json")(environ, start_response)


def dynamodb_call(client: Client, operation: str, body: dict) -> tuple[int, dict]:
    response = client.post("/", data=json.dumps(body), headers={
        "X-Amz-Target": f"DynamoDB_20120810.{operation}", "Content-Type": "application/x-amz-json-1.0"})
    return response.status_code, json.loads(response.data)


def test_after_times_and_match_pick_the_requests():
    plan = FaultPlan([{"service": "dynamodb", "operation": "BatchWriteItem", "match": "products",
                       "error": "ProvisionedThroughputExceededException", "after": 1, "times": 2}])
    client = Client(FaultMiddleware(ok_app, plan, "dynamodb"))
    statuses = [dynamodb_call(client, "BatchWriteItem", {"RequestItems": {"products": []}})[0] for _ in range(5)]
    assert statuses == [200, 400, 400, 200, 200]
    assert dynamodb_call(client, "BatchWriteItem", {"RequestItems": {"imports": []}})[0] == 200   # no match
    assert dynamodb_call(client, "PutItem", {"TableName": "products"})[0] == 200                   # other operation
    status, body = dynamodb_call(Client(FaultMiddleware(ok_app, FaultPlan([{"service": "dynamodb",
        "operation": "GetItem", "error": "ProvisionedThroughputExceededException"}]), "dynamodb")), "GetItem", {})
    assert (status, body["__type"]) == (400, "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException")


def test_share_is_a_seeded_fraction():
    plan = FaultPlan([{"service": "dynamodb", "operation": "Query", "error": "ThrottlingException", "share": 0.3,
                       "seed": 7}])
    client = Client(FaultMiddleware(ok_app, plan, "dynamodb"))
    failed = sum(dynamodb_call(client, "Query", {})[0] == 400 for _ in range(400))
    assert 80 < failed < 160


def test_a_plan_file_is_read_again_when_it_changes(tmp_path):
    path = tmp_path / "faults.json"
    plan = FaultPlan(file=path)                     # no file yet: no faults
    assert plan.check("s3", "GetObject", "/b/k") is None
    path.write_text(json.dumps([{"service": "s3", "operation": "GetObject", "error": "SlowDown"}]))
    assert plan.check("s3", "GetObject", "/b/k").error == "SlowDown"
    path.write_text("[]")
    os.utime(path, (1, 1))                          # a new mtime even within the clock's resolution
    assert plan.check("s3", "GetObject", "/b/k") is None


@pytest.fixture
def served():
    """A WSGI app on a real port, for botocore to call."""
    servers = []

    def serve(app) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"
    yield serve
    for server in servers:
        server.shutdown()


def test_botocore_reads_the_answers_as_the_services_errors(served):
    plan = FaultPlan([{"service": "dynamodb", "operation": "BatchWriteItem", "error": "ValidationException"},
                      {"service": "rds-data", "operation": "ExecuteStatement", "error": "StatementTimeoutException"}])
    ddb = boto3.client("dynamodb", endpoint_url=served(FaultMiddleware(ok_app, plan, "dynamodb")),
                       region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with pytest.raises(ClientError) as error:
        ddb.batch_write_item(RequestItems={"t": [{"PutRequest": {"Item": {"k": {"S": "1"}}}}]})
    assert error.value.response["Error"]["Code"] == "ValidationException"
    rds = boto3.client("rds-data", endpoint_url=served(FaultMiddleware(ok_app, plan, "rds-data")),
                       region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with pytest.raises(ClientError) as error:
        rds.execute_statement(resourceArn="arn:aws:rds:us-east-1:1:cluster:c", secretArn="arn:aws:s:1", sql="SELECT 1")
    assert error.value.response["Error"]["Code"] == "StatementTimeoutException"
