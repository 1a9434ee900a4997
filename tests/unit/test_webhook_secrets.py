"""Webhook signing secrets at rest: encrypted with the KMS key, never in plain text in the webhooks
table or the logs; shown once at creation and rotation; signatures still verify (standardwebhooks);
endpoints saved in plain text before encryption keep working and get encrypted on first use."""
from __future__ import annotations

import json
import logging
import sys
import types

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from standardwebhooks import Webhook

from catalog.shared import aws, events
from catalog.shared.dynamo import to_item
from catalog.shared.settings import get_settings
from catalog.webhooks import fanout, secrets, signing
from catalog.webhooks.endpoints import EndpointStore
from tests.support.handlers import LambdaContext, load_function_module
from tests.support.keys import keys
from tests.support.products_api import Api
from tests.support.receiver import Receiver
from tests.support.template_resources import create_table


@pytest.fixture
def env(monkeypatch, moto_env):
    with mock_aws():
        aws.client.cache_clear()
        create_table("WebhooksTable", "webhooks")
        sqs = boto3.client("sqs")
        deliveries = sqs.create_queue(QueueName="deliveries")["QueueUrl"]
        for name, value in {"WEBHOOKS_TABLE": "webhooks", "WEBHOOK_DELIVERIES_QUEUE_URL": deliveries,
                            "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true", "WEBHOOK_TIMEOUT_SECONDS": "2",
                            "WEBHOOK_RETRY_SCHEDULE": "0"}.items():
            monkeypatch.setenv(name, value)
        arns = keys(monkeypatch)
        api_module = load_function_module("api")
        deliver_module = load_function_module("webhook_deliver")
        yield types.SimpleNamespace(sqs=sqs, deliveries=deliveries, api=Api(api_module), key_arn=arns[
            "webhook_secrets_key_arn"], modules=(api_module, deliver_module))
    aws.client.cache_clear()


def table_text() -> str:
    items = boto3.client("dynamodb").scan(TableName="webhooks", ConsistentRead=True)["Items"]
    assert items
    return json.dumps(items)


def deliver_queued(env) -> None:
    messages = env.sqs.receive_message(QueueUrl=env.deliveries, MaxNumberOfMessages=10).get("Messages", [])
    assert messages
    records = [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                "attributes": {}, "messageAttributes": {}, "eventSource": "aws:sqs", "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:deliveries", "md5OfBody": m["MD5OfBody"]}
               for m in messages]
    assert env.modules[1].lambda_handler({"Records": records}, LambdaContext())["batchItemFailures"] == []


def test_secrets_are_encrypted_at_rest_shown_once_and_signatures_verify(env, capsys, caplog, monkeypatch):
    for module in env.modules:       # Powertools writes to the stdout of when its first Logger was made
        monkeypatch.setattr(module.logger.registered_handler, "stream", sys.stdout)
    caplog.set_level(logging.DEBUG)
    with Receiver() as receiver:
        status, created = env.api("POST", "/webhooks", {"url": receiver.url})
        assert status == 201 and created["secret"].startswith("whsec_")
        first = created["secret"]
        status, shown = env.api("GET", f"/webhooks/{created['id']}")
        assert status == 200 and "secret" not in shown and shown["secret_hint"] == signing.secret_hint(first)

        status, rotated = env.api("POST", f"/webhooks/{created['id']}/rotate-secret")
        assert status == 200 and rotated["secret"].startswith("whsec_") and rotated["secret"] != first
        second = rotated["secret"]
        assert env.api("GET", "/webhooks")[1]["items"][0]["secret_hint"] == signing.secret_hint(second)

        # The Test button (the API) and a delivery (the delivery function) both sign with the secrets.
        status, result = env.api("POST", f"/webhooks/{created['id']}/test")
        assert status == 200 and result["ok"], result
        event = events.envelope(events.PRODUCT_CREATED, {"sku": "S-1"})
        assert fanout.fan_out([event], EndpointStore("webhooks").list(), get_settings().webhooks) == 1
        deliver_queued(env)
    assert len(receiver.requests) == 2
    for request in receiver.requests:           # signed with the new secret and, during the grace period, the old
        for secret in (first, second):
            assert Webhook(secret).verify(request["body"], request["headers"])

    stored = table_text()
    for plain in (first, second):
        assert plain not in stored and plain.removeprefix("whsec_") not in stored
    (item,) = [i for i in boto3.client("dynamodb").scan(TableName="webhooks")["Items"] if i["pk"]["S"] == "endpoint"]
    assert item["secret"]["S"].startswith("kms:") and item["previous_secret"]["S"].startswith("kms:")

    logged = capsys.readouterr()
    logs = logged.out + logged.err + caplog.text
    for plain in (first, second):
        assert plain.removeprefix("whsec_") not in logs


def test_a_sealed_secret_does_not_open_for_another_endpoint(env):
    sealed = secrets.seal(env.key_arn, "wh_one", signing.generate_secret())
    with pytest.raises(ClientError, match="InvalidCiphertext"):
        secrets.unseal(env.key_arn, "wh_other", sealed)


def test_an_endpoint_stored_in_plain_text_keeps_working_and_is_encrypted_on_first_delivery(env):
    legacy = signing.generate_secret()
    item = {"pk": "endpoint", "sk": "wh_legacy", "id": "wh_legacy", "event_types": ["*"], "enabled": True,
            "failing": False, "consecutive_failures": 0, "secret": legacy, "description": "",
            "created_at": "2025-01-01T00:00:00.000000Z", "updated_at": "2025-01-01T00:00:00.000000Z"}
    with Receiver() as receiver:
        item["url"] = receiver.url
        boto3.client("dynamodb").put_item(TableName="webhooks", Item=to_item(item))    # as stored before encryption
        assert env.api("GET", "/webhooks/wh_legacy")[1]["secret_hint"] == signing.secret_hint(legacy)
        event = events.envelope(events.PRODUCT_CREATED, {"sku": "S-2"})
        assert fanout.fan_out([event], EndpointStore("webhooks").list(), get_settings().webhooks) == 1
        deliver_queued(env)
    (request,) = receiver.requests
    assert Webhook(legacy).verify(request["body"], request["headers"])
    assert legacy.removeprefix("whsec_") not in table_text()
    stored = EndpointStore("webhooks").get("wh_legacy")
    assert stored["secret"].startswith("kms:") and stored["secret_hint"] == signing.secret_hint(legacy)
    assert secrets.unseal(env.key_arn, "wh_legacy", stored["secret"]) == legacy
