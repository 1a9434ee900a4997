"""Fan-out, delivery, retries, dead-letter queue, disabling and lane isolation, in-process:
moto for DynamoDB/SQS, real HTTP receivers on 127.0.0.1, signatures checked with `standardwebhooks`."""
from __future__ import annotations

import json
import time
import types

import boto3
import pytest
from moto import mock_aws
from standardwebhooks import Webhook
from werkzeug import Response

from catalog.shared import aws, events
from catalog.shared.settings import get_settings
from catalog.webhooks import fanout, queue
from catalog.webhooks.endpoints import EndpointStore
from catalog.webhooks.log import DeliveryLog
from tests.support.handlers import load_handler
from tests.support.keys import webhook_secrets_key
from tests.support.metrics import emf
from tests.support.receiver import Receiver
from tests.support.template_resources import create_table

CONTEXT = types.SimpleNamespace(function_name="test", memory_limit_in_mb=128, aws_request_id="req",
                                invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:test")


@pytest.fixture
def env(monkeypatch, moto_env):
    with mock_aws():
        aws.client.cache_clear()
        create_table("WebhooksTable", "webhooks")
        sqs = boto3.client("sqs")
        urls = {name: sqs.create_queue(QueueName=name)["QueueUrl"] for name in ("deliveries", "slow", "dlq")}
        monkeypatch.setenv("WEBHOOKS_TABLE", "webhooks")
        monkeypatch.setenv("WEBHOOK_DELIVERIES_QUEUE_URL", urls["deliveries"])
        monkeypatch.setenv("WEBHOOK_SLOW_QUEUE_URL", urls["slow"])
        monkeypatch.setenv("WEBHOOK_DEAD_LETTER_QUEUE_URL", urls["dlq"])
        monkeypatch.setenv("WEBHOOK_RETRY_SCHEDULE", "0,0,0")
        monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")
        monkeypatch.setenv("WEBHOOK_TIMEOUT_SECONDS", "1")
        key_arn = webhook_secrets_key(monkeypatch)
        yield types.SimpleNamespace(sqs=sqs, urls=urls, store=EndpointStore("webhooks", key_arn),
                                    deliver=load_handler("webhook_deliver"), fanout=load_handler("webhook_fanout"))
    aws.client.cache_clear()


def records(sqs, url: str, limit: int = 10) -> list[dict]:
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=limit, AttributeNames=["All"]).get("Messages", [])
    arn = f"arn:aws:sqs:us-east-1:123456789012:{url.rsplit('/', 1)[-1]}"
    return [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"], "attributes": {},
             "messageAttributes": {}, "eventSource": "aws:sqs", "eventSourceARN": arn, "awsRegion": "us-east-1",
             "md5OfBody": m["MD5OfBody"]} for m in messages]


def pump(env, url: str, handler, limit: int = 10) -> tuple[int, list[str]]:
    """One poll: invoke the handler with a batch, delete what succeeded (like Lambda's poller)."""
    batch = records(env.sqs, url, limit)
    if not batch:
        return 0, []
    result = handler({"Records": batch}, CONTEXT)
    failed = [f["itemIdentifier"] for f in result.get("batchItemFailures", [])]
    for record in batch:
        if record["messageId"] not in failed:
            env.sqs.delete_message(QueueUrl=url, ReceiptHandle=record["receiptHandle"])
    return len(batch), failed


def drain(env, rounds: int = 20) -> None:
    for _ in range(rounds):
        moved = sum(pump(env, env.urls[q], env.deliver)[0] for q in ("deliveries", "slow"))
        if not moved:
            return


def queued(env, name: str) -> list[dict]:
    return [json.loads(r["body"]) for r in records(env.sqs, env.urls[name])]


def fan_out(env, *evts):
    cfg = get_settings().webhooks
    return fanout.fan_out(list(evts), env.store.list(), cfg)


def test_signed_delivery_reaches_receiver(env, httpserver):
    httpserver.expect_request("/hook", method="POST").respond_with_data("thanks", status=200)
    endpoint = env.store.create(httpserver.url_for("/hook"), ["*"])
    event = events.envelope(events.PRODUCT_CREATED, {"sku": "ABC-1", "name": "Tote"})
    assert fan_out(env, event) == 1
    drain(env)
    (request, _), = httpserver.log
    body = request.get_data(as_text=True)
    assert Webhook(endpoint["secret"]).verify(body, dict(request.headers)) == {
        "type": "product.created", "timestamp": event["timestamp"], "data": {"sku": "ABC-1", "name": "Tote"}}
    assert request.headers["webhook-id"] == fanout.delivery_id_for(event["id"], endpoint["id"])
    assert request.headers["content-type"] == "application/json"
    stored = env.store.get(endpoint["id"])
    assert stored["last_status_code"] == 200 and stored["consecutive_failures"] == 0
    (entry,), _ = DeliveryLog("webhooks", 3600).list(endpoint["id"], 10)
    assert entry["outcome"] == "delivered" and entry["attempt"] == 1 and entry["event_type"] == "product.created"


def test_fanout_handler_respects_subscriptions_and_enabled(env, httpserver):
    httpserver.expect_request("/hook").respond_with_data("ok")
    products = env.store.create(httpserver.url_for("/hook"), ["product.created", "product.updated"])
    uploads = env.store.create(httpserver.url_for("/hook"), ["upload.completed"])
    disabled = env.store.create(httpserver.url_for("/hook"), ["*"], enabled=False)
    sent = [events.envelope(t, {"n": i}) for i, t in enumerate(
        [events.PRODUCT_CREATED, events.UPLOAD_COMPLETED, events.PRODUCT_DELETED, events.UPLOAD_FAILED])]
    body = {"Records": [{"messageId": str(i), "receiptHandle": "r", "body": json.dumps(e), "attributes": {},
                         "messageAttributes": {}, "eventSource": "aws:sqs", "md5OfBody": "x",
                         "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:events", "awsRegion": "us-east-1"}
                        for i, e in enumerate(sent)]}
    assert env.fanout(body, CONTEXT) == {"batchItemFailures": []}
    drain(env)
    got = sorted(json.loads(r.get_data())["type"] for r, _ in httpserver.log)
    assert got == ["product.created", "upload.completed"]
    assert disabled["id"] not in {m["endpoint_id"] for m in queued(env, "deliveries")}
    assert {products["id"], uploads["id"]} == {e["id"] for e in env.store.list() if e.get("last_status_code") == 200}


def test_500_then_200_same_webhook_id_and_both_attempts_logged(env, httpserver):
    httpserver.expect_ordered_request("/hook").respond_with_data("boom", status=500)
    httpserver.expect_ordered_request("/hook").respond_with_data("ok", status=200)
    endpoint = env.store.create(httpserver.url_for("/hook"), ["*"])
    fan_out(env, events.envelope(events.PRODUCT_UPDATED, {"sku": "x"}))
    drain(env)
    ids = [r.headers["webhook-id"] for r, _ in httpserver.log]
    assert len(ids) == 2 and ids[0] == ids[1]
    for request, _ in httpserver.log:
        Webhook(endpoint["secret"]).verify(request.get_data(as_text=True), dict(request.headers))
    log, _ = DeliveryLog("webhooks", 3600).list(endpoint["id"], 10)
    assert [(e["attempt"], e["status_code"]) for e in reversed(log)] == [(1, 500), (2, 200)]
    assert log[1]["outcome"].startswith("retry 2") and log[0]["outcome"] == "delivered"
    assert env.store.get(endpoint["id"])["failing"] is False


def test_always_failing_ends_in_dead_letter_queue(env, httpserver):
    httpserver.expect_request("/hook").respond_with_data("no", status=503)
    endpoint = env.store.create(httpserver.url_for("/hook"), ["*"])
    fan_out(env, events.envelope(events.PRODUCT_DELETED, {"sku": "x"}))
    drain(env)
    assert len(httpserver.log) == 4                       # 1 + 3 retries ("0,0,0")
    (dead,) = queued(env, "dlq")
    assert dead["attempt"] == 4 and "4 attempts failed" in dead["dead_letter_reason"]
    stored = env.store.get(endpoint["id"])
    assert stored["failing"] is True and stored["enabled"] is True and stored["consecutive_failures"] == 4
    assert stored["last_status_code"] == 503


def test_410_disables_without_retry(env, httpserver):
    httpserver.expect_request("/hook").respond_with_data("gone", status=410)
    endpoint = env.store.create(httpserver.url_for("/hook"), ["*"])
    fan_out(env, events.envelope(events.PRODUCT_CREATED, {}), events.envelope(events.PRODUCT_CREATED, {}))
    pump(env, env.urls["deliveries"], env.deliver, limit=1)
    drain(env)
    assert len(httpserver.log) == 1
    stored = env.store.get(endpoint["id"])
    assert stored["enabled"] is False and "410" in stored["disabled_reason"]
    assert queued(env, "dlq") == []


def test_redirect_not_followed_and_counts_as_failure(env, httpserver):
    httpserver.expect_request("/hook").respond_with_response(Response("", 302, {"Location": "/elsewhere"}))
    httpserver.expect_request("/elsewhere").respond_with_data("ok")
    endpoint = env.store.create(httpserver.url_for("/hook"), ["*"])
    fan_out(env, events.envelope(events.PRODUCT_CREATED, {}))
    drain(env)
    assert {r.path for r, _ in httpserver.log} == {"/hook"}
    assert env.store.get(endpoint["id"])["failing"] is True


def test_long_delays_are_chained(env, httpserver, monkeypatch):
    httpserver.expect_request("/hook").respond_with_data("ok")
    endpoint = env.store.create(httpserver.url_for("/hook"), ["*"])
    event = events.envelope(events.PRODUCT_CREATED, {})
    msg = queue.message("msg_1", endpoint["id"], event, attempt=3, not_before=time.time() + 3600)
    env.sqs.send_message(QueueUrl=env.urls["deliveries"], MessageBody=json.dumps(msg))
    pump(env, env.urls["deliveries"], env.deliver)                     # arrives now, but is due in an hour
    assert httpserver.log == []
    attrs = env.sqs.get_queue_attributes(QueueUrl=env.urls["deliveries"], AttributeNames=["All"])["Attributes"]
    assert int(attrs["ApproximateNumberOfMessagesDelayed"]) == 1      # re-sent with the 15-minute maximum


def test_hanging_receiver_does_not_delay_others(env, httpserver):
    hanging = Receiver(["hang"])                      # answers only when stopped
    arrivals: list[float] = []
    httpserver.expect_request("/hook").respond_with_handler(lambda r: (arrivals.append(time.monotonic()),
                                                                       Response("ok"))[1])
    try:
        slow = env.store.create(hanging.url, ["*"])
        env.store.create(httpserver.url_for("/hook"), ["*"])
        fan_out(env, *[events.envelope(events.PRODUCT_CREATED, {"n": i}) for i in range(5)])  # 10 messages
        started = time.monotonic()
        count, failed = pump(env, env.urls["deliveries"], env.deliver)
        batch_seconds = time.monotonic() - started
        assert count == 10 and failed == []
        assert len(arrivals) == 5 and len(hanging.requests) == 5
        # Ordering, not speed: every healthy delivery arrived while the hanging attempts were still
        # open (they wait out the 1 s timeout), and the batch ended only after that timeout.
        assert max(arrivals) < min(r["at"] for r in hanging.requests) + 1.0, \
            "healthy deliveries waited for the hanging one"
        assert batch_seconds >= 0.9
        assert env.store.get(slow["id"])["slow_until"] > time.time()

        # Later events: the hanging endpoint's deliveries go to the slow lane; the main lane stays fast.
        fan_out(env, *[events.envelope(events.PRODUCT_CREATED, {"n": i}) for i in range(5, 10)])
        assert {m["endpoint_id"] for m in queued(env, "slow")} == {slow["id"]}
        pump(env, env.urls["deliveries"], env.deliver)
        assert len(arrivals) == 10 and len(hanging.requests) == 5     # the main lane never tried it again
    finally:
        hanging.stop()


def test_partial_batch_failure_only_reports_broken_records(env, httpserver):
    httpserver.expect_request("/hook").respond_with_data("ok")
    endpoint = env.store.create(httpserver.url_for("/hook"), ["*"])
    good = queue.message("msg_good", endpoint["id"], events.envelope(events.PRODUCT_CREATED, {}))
    env.sqs.send_message(QueueUrl=env.urls["deliveries"], MessageBody=json.dumps(good))
    env.sqs.send_message(QueueUrl=env.urls["deliveries"], MessageBody="not json")
    count, failed = pump(env, env.urls["deliveries"], env.deliver)
    assert count == 2 and len(failed) == 1 and len(httpserver.log) == 1


def test_deleted_and_disabled_endpoints_get_nothing(env, httpserver):
    httpserver.expect_request("/hook").respond_with_data("ok")
    gone = env.store.create(httpserver.url_for("/hook"), ["*"])
    off = env.store.create(httpserver.url_for("/hook"), ["*"])
    fan_out(env, events.envelope(events.PRODUCT_CREATED, {}))   # queued while both were enabled
    env.store.delete(gone["id"])
    env.store.disable(off["id"], "by a test")
    drain(env)
    assert httpserver.log == []


def test_deliveries_latency_and_disabled_endpoints_are_metrics(env, httpserver, capsys):
    httpserver.expect_request("/ok", method="POST").respond_with_data("thanks", status=200)
    httpserver.expect_request("/gone", method="POST").respond_with_data("gone", status=410)
    env.store.create(httpserver.url_for("/ok"), ["*"])
    env.store.create(httpserver.url_for("/gone"), ["*"])
    assert fan_out(env, events.envelope(events.PRODUCT_CREATED, {"sku": "M-1"})) == 2
    capsys.readouterr()
    drain(env)
    metrics = emf(capsys.readouterr().out)
    assert metrics["WebhookDeliveriesSucceeded"] == [1.0] and metrics["WebhookDeliveriesFailed"] == [1.0]
    assert len(metrics["WebhookDeliveryLatency"]) == 2 and all(0 <= ms < 5000 for ms in metrics["WebhookDeliveryLatency"])
    assert metrics["WebhookEndpointsDisabled"] == [1.0]


def test_an_event_fanned_out_again_is_not_queued_again(env, monkeypatch):
    """The events queue brings an event back (at least once): its deliveries were queued and saved,
    so the second fan-out queues nothing. A fan-out that failed before saving (the send failed)
    leaves no record, so the redelivered event is queued then."""
    first = env.store.create("http://127.0.0.1:9/a", ["*"])
    second = env.store.create("http://127.0.0.1:9/b", ["*"])
    event = events.envelope(events.PRODUCT_CREATED, {"sku": "AGAIN-1"})
    assert fan_out(env, event, event) == 2                     # and twice in one batch: once
    assert fan_out(env, event) == 0
    assert sorted(m["delivery_id"] for m in queued(env, "deliveries")) == sorted(
        fanout.delivery_id_for(event["id"], e["id"]) for e in (first, second))

    failing = events.envelope(events.PRODUCT_DELETED, {"sku": "AGAIN-2"})
    sends = []

    def send_failing(url, messages, extra=None):
        sends.append(len(messages))
        raise RuntimeError("SQS unavailable")
    with monkeypatch.context() as patch:
        patch.setattr(fanout.queue, "send", send_failing)
        with pytest.raises(RuntimeError):
            fan_out(env, failing)
    assert sends == [2] and fan_out(env, failing) == 2
