"""The /webhooks routes, in-process (moto), with a real receiver for Test and Replay."""
from __future__ import annotations

import json

import boto3
import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from moto import mock_aws
from standardwebhooks import Webhook

from catalog.shared import aws, events
from catalog.shared.errors import DomainError
from catalog.shared.settings import get_settings
from catalog.webhooks import fanout
from catalog.webhooks.endpoints import EndpointStore
from tests.support.handlers import load_function_module
from tests.support.keys import keys
from tests.support.template_resources import create_table

# The API function's own modules (its routers and error mapping), loaded as the Lambda runtime does.
api_function = load_function_module("api")
http_errors, webhooks_routes = api_function.http_errors, api_function.webhooks_routes

app = APIGatewayHttpResolver(enable_validation=True)
app.include_router(webhooks_routes.router)
app.exception_handler(RequestValidationError)(lambda e: http_errors.validation_response(e.errors()))
app.exception_handler(DomainError)(http_errors.domain_error_response)


def call(method: str, path: str, body=None, query: dict | None = None) -> tuple[int, dict | None]:
    event = {"version": "2.0", "routeKey": f"{method} {path}", "rawPath": path, "rawQueryString": "",
             "headers": {"content-type": "application/json"}, "queryStringParameters": query,
             "requestContext": {"http": {"method": method, "path": path, "sourceIp": "127.0.0.1"},
                                "stage": "$default", "requestId": "r"},
             "body": json.dumps(body) if body is not None else None, "isBase64Encoded": False}
    result = app.resolve(event, {})
    return result["statusCode"], json.loads(result["body"]) if result.get("body") else None


@pytest.fixture
def api(monkeypatch, moto_env):
    with mock_aws():
        aws.client.cache_clear()
        create_table("WebhooksTable", "webhooks")
        sqs = boto3.client("sqs")
        url = sqs.create_queue(QueueName="deliveries")["QueueUrl"]
        monkeypatch.setenv("WEBHOOKS_TABLE", "webhooks")
        monkeypatch.setenv("WEBHOOK_DELIVERIES_QUEUE_URL", url)
        monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")
        monkeypatch.setenv("WEBHOOK_TIMEOUT_SECONDS", "2")
        keys(monkeypatch)
        yield sqs, url
    aws.client.cache_clear()


def test_crud_and_secret_shown_once(api):
    status, created = call("POST", "/webhooks", {"url": "http://127.0.0.1:9/hook",
                                                 "event_types": ["product.created", "product.created"]})
    assert status == 201 and created["secret"].startswith("whsec_")
    assert created["event_types"] == ["product.created"] and created["status"] == "healthy"
    wid = created["id"]
    status, got = call("GET", f"/webhooks/{wid}")
    assert status == 200 and "secret" not in got and got["secret_hint"].endswith(created["secret"][-4:])
    assert got["recent_deliveries"] == []
    assert [e["id"] for e in call("GET", "/webhooks")[1]["items"]] == [wid]
    status, patched = call("PATCH", f"/webhooks/{wid}", {"enabled": False, "description": "erp"})
    assert status == 200 and patched["enabled"] is False and patched["status"] == "disabled"
    assert patched["description"] == "erp"
    status, patched = call("PATCH", f"/webhooks/{wid}", {"enabled": True})
    assert patched["enabled"] is True and "disabled_reason" not in patched
    status, rotated = call("POST", f"/webhooks/{wid}/rotate-secret")
    assert status == 200 and rotated["secret"] != created["secret"]
    assert call("DELETE", f"/webhooks/{wid}")[0] == 204
    assert call("GET", f"/webhooks/{wid}")[0] == 404
    assert call("DELETE", f"/webhooks/{wid}")[0] == 404


def test_validation_errors(api):
    status, body = call("POST", "/webhooks", {"url": "ftp://example.com/", "event_types": ["*"]})
    assert status == 422 and "url" in body["fields"]
    status, body = call("POST", "/webhooks", {"url": "http://127.0.0.1/", "event_types": ["nope"]})
    assert status == 422 and "event_types.0" in body["fields"]
    status, body = call("POST", "/webhooks", {"event_types": ["*"]})
    assert status == 422 and body["fields"]["url"] == "is required"


@pytest.mark.parametrize("url", ["http://169.254.169.254/", "http://10.0.0.1/", "http://localhost/"])
def test_ssrf_refused_in_cloud_mode(api, monkeypatch, url):
    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE_TARGETS", "false")
    status, body = call("POST", "/webhooks", {"url": url})
    assert status == 422 and "url" in body["fields"]
    assert call("GET", "/webhooks")[1]["items"] == []


def test_test_button_sends_signed_sample_and_logs(api, httpserver):
    httpserver.expect_request("/hook").respond_with_data("hi", status=202)
    _, created = call("POST", "/webhooks", {"url": httpserver.url_for("/hook")})
    status, result = call("POST", f"/webhooks/{created['id']}/test")
    assert status == 200 and result["ok"] is True and result["status_code"] == 202
    assert isinstance(result["response_ms"], int)
    (request, _), = httpserver.log
    payload = Webhook(created["secret"]).verify(request.get_data(as_text=True), dict(request.headers))
    assert payload["type"] == "webhook.test" and payload["data"]["endpoint_id"] == created["id"]
    status, log = call("GET", f"/webhooks/{created['id']}/deliveries")
    assert status == 200 and log["items"][0]["kind"] == "test" and log["items"][0]["status_code"] == 202
    assert call("GET", f"/webhooks/{created['id']}")[1]["last_status_code"] == 202


def test_replay_requeues_past_delivery_with_same_id(api, httpserver):
    sqs, url = api
    _, created = call("POST", "/webhooks", {"url": httpserver.url_for("/hook")})
    event = events.envelope(events.UPLOAD_COMPLETED, {"import_id": "imp_1"})
    fanout.fan_out([event], EndpointStore("webhooks").list(), get_settings().webhooks)
    sqs.purge_queue(QueueUrl=url)
    delivery_id = fanout.delivery_id_for(event["id"], created["id"])
    status, body = call("POST", f"/webhooks/{created['id']}/deliveries/{delivery_id}/replay")
    assert status == 202 and body["queued"] is True
    (msg,) = [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=url).get("Messages", [])]
    assert msg["delivery_id"] == delivery_id and msg["event"] == event and msg["kind"] == "replay"
    assert call("POST", f"/webhooks/{created['id']}/deliveries/msg_unknown/replay")[0] == 404
