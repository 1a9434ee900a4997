"""Webhooks end to end through the local cloud: API -> endpoints; events queue -> fan-out -> deliveries
queue -> signed POSTs to real receivers on 127.0.0.1; retries, dead-letter queue, 410, slow lane.

The test cloud runs with WebhookRetrySchedule "1,1,2" (4 attempts), WebhookTimeoutSeconds 2 and
WebhookAllowPrivateTargets "true" (see tests/conftest.py)."""
from __future__ import annotations

import json
import os
import socket
import threading
import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from catalog.shared import events
from catalog.shared.settings import get_settings
from tests.support.auth import api_session
from tests.support.cloud import upload_via_api, wait_for_import, wait_until
from tests.support.receiver import Receiver


@pytest.fixture
def hooks(local_cloud):
    """Creates endpoints through the API and receivers; deletes both afterwards."""
    created, receivers = [], []

    class Hooks:
        api = local_cloud.api_url
        http = api_session(local_cloud)             # an admin: manages endpoints

        def receiver(self, responses=(200,)) -> Receiver:
            receivers.append(Receiver(responses))
            return receivers[-1]

        def endpoint(self, url: str, event_types=("*",), **extra) -> dict:
            response = self.http.post(f"{self.api}/webhooks", json={"url": url, "event_types": list(event_types),
                                                                   **extra}, timeout=30)
            assert response.status_code == 201, response.text
            created.append(response.json()["id"])
            return response.json()

        def get(self, endpoint_id: str) -> dict:
            return self.http.get(f"{self.api}/webhooks/{endpoint_id}", timeout=30).json()

        def deliveries(self, endpoint_id: str) -> list[dict]:
            return self.http.get(f"{self.api}/webhooks/{endpoint_id}/deliveries", timeout=30).json()["items"]

    yield Hooks()
    for endpoint_id in created:
        Hooks.http.delete(f"{local_cloud.api_url}/webhooks/{endpoint_id}", timeout=30)
    for receiver in receivers:
        receiver.stop()


def verified(receiver: Receiver, secret: str) -> list[dict]:
    return [Webhook(secret).verify(r["body"], r["headers"]) for r in receiver.requests]


def test_product_and_import_events_arrive_signed(hooks, sample_csv, local_cloud):
    receiver = hooks.receiver()
    endpoint = hooks.endpoint(receiver.url)
    product = {"id": "p_1", "sku": "ABC-1", "name": "Tote", "price": "12.50", "active": True}
    for event_type in (events.PRODUCT_CREATED, events.PRODUCT_UPDATED, events.PRODUCT_DELETED):
        events.publish(event_type, product)
    import_id = upload_via_api(local_cloud, sample_csv)
    assert wait_for_import(local_cloud, import_id)["status"] == "SUCCEEDED"

    wait_until(lambda: any(b["type"] == "upload.completed" and b["data"]["id"] == import_id
                           for b in receiver.bodies()), message="upload.completed delivered")
    wait_until(lambda: len(receiver.requests) >= 4, message="four deliveries")
    payloads = verified(receiver, endpoint["secret"])        # every request carries a valid signature
    by_type = {p["type"]: p for p in payloads}
    assert {events.PRODUCT_CREATED, events.PRODUCT_UPDATED, events.PRODUCT_DELETED} <= set(by_type)
    assert by_type["product.created"]["data"] == product
    completed = next(p for p in payloads if p["type"] == "upload.completed" and p["data"]["id"] == import_id)
    assert completed["data"]["status"] == "SUCCEEDED" and completed["data"]["created"] + \
        completed["data"]["updated"] + completed["data"]["unchanged"] == 11
    assert set(completed) == {"type", "timestamp", "data"}
    assert len({r["headers"]["webhook-id"] for r in receiver.requests}) == len(receiver.requests)
    wait_until(lambda: hooks.get(endpoint["id"]).get("last_status_code") == 200, message="stats recorded")


def test_500_then_200_same_id_and_both_attempts_logged(hooks):
    receiver = hooks.receiver([500, 200])
    endpoint = hooks.endpoint(receiver.url)
    events.publish(events.PRODUCT_UPDATED, {"sku": "retry-1"})
    wait_until(lambda: len(receiver.requests) >= 2, message="two attempts")
    first, second = receiver.requests[:2]
    assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"]
    assert second["at"] - first["at"] >= 0.8                # the 1 s retry delay (jittered 10%)
    verified(receiver, endpoint["secret"])
    log = wait_until(lambda: (lambda items: items if len(items) >= 2 else None)(hooks.deliveries(endpoint["id"])),
                     message="two log records")
    assert [(e["attempt"], e["status_code"]) for e in reversed(log)] == [(1, 500), (2, 200)]
    assert {e["delivery_id"] for e in log} == {first["headers"]["webhook-id"]}
    time.sleep(1.5)
    assert len(receiver.requests) == 2
    assert hooks.get(endpoint["id"])["status"] == "healthy"


def test_always_failing_goes_to_dead_letter_queue(hooks, local_cloud):
    receiver = hooks.receiver([503])
    endpoint = hooks.endpoint(receiver.url)
    event = events.publish(events.PRODUCT_DELETED, {"sku": "dead-1"})
    got = wait_until(lambda: (lambda e: e if e["status"] == "failing" and e["consecutive_failures"] == 4 else None)(
        hooks.get(endpoint["id"])), timeout=45, message="endpoint failing")
    assert len(receiver.requests) == 4 and got["consecutive_failures"] == 4 and got["last_status_code"] == 503
    assert len({r["headers"]["webhook-id"] for r in receiver.requests}) == 1
    sqs = local_cloud.client("sqs")
    dlq = local_cloud.ref("DeliveriesDeadLetterQueue")

    def dead_letter():
        for message in sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", []):
            body = json.loads(message["Body"])
            if body["event"]["id"] == event["id"]:
                sqs.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])
                return body
    dead = wait_until(dead_letter, timeout=10, message="message in the DLQ")
    assert dead["endpoint_id"] == endpoint["id"] and dead["attempt"] == 4
    assert [e["attempt"] for e in hooks.deliveries(endpoint["id"])] == [4, 3, 2, 1]


def test_410_disables_the_endpoint(hooks):
    receiver = hooks.receiver([410])
    endpoint = hooks.endpoint(receiver.url)
    events.publish(events.PRODUCT_CREATED, {"sku": "gone-1"})
    got = wait_until(lambda: (lambda e: e if not e["enabled"] else None)(hooks.get(endpoint["id"])),
                     message="endpoint disabled")
    assert got["status"] == "disabled" and "410" in got["disabled_reason"]
    events.publish(events.PRODUCT_CREATED, {"sku": "gone-2"})
    time.sleep(3)
    assert len(receiver.requests) == 1


def test_unsubscribed_types_and_disabled_endpoints_get_nothing(hooks):
    everything = hooks.receiver()
    deletes_only = hooks.receiver()
    disabled = hooks.receiver()
    hooks.endpoint(everything.url)
    hooks.endpoint(deletes_only.url, ["product.deleted"])
    off = hooks.endpoint(disabled.url, enabled=False)
    assert off["status"] == "disabled"
    events.publish(events.PRODUCT_CREATED, {"sku": "sub-1"})
    events.publish(events.UPLOAD_FAILED, {"id": "imp_x"})
    events.publish(events.PRODUCT_DELETED, {"sku": "sub-1"})
    wait_until(lambda: len(everything.requests) >= 3 and deletes_only.requests, message="deliveries")
    time.sleep(1.0)
    assert [b["type"] for b in deletes_only.bodies()] == ["product.deleted"]
    assert disabled.requests == []


def test_hanging_receiver_does_not_delay_a_healthy_one(hooks):
    healthy, hanging = hooks.receiver(), hooks.receiver(["hang"])
    hooks.endpoint(healthy.url)
    stuck = hooks.endpoint(hanging.url)
    count = 40
    for i in range(count):
        events.publish(events.PRODUCT_UPDATED, {"sku": f"hang-{i}"})
    wait_until(lambda: len(healthy.requests) >= count, timeout=60, message="healthy deliveries")
    # The healthy endpoint is not queued behind the hanging one: deliveries reach it while an attempt
    # to the hanging endpoint is still open (each waits out the 2 s timeout). No speed is asserted
    # here; benchmarks/bench_webhooks.py measures it.
    timeout = 2.0
    open_windows = [(r["at"], r["at"] + timeout) for r in hanging.requests]
    assert open_windows, "the hanging endpoint got no attempt"
    overlapping = [r for r in healthy.requests if any(start < r["at"] < end for start, end in open_windows)]
    assert overlapping, "every healthy delivery waited for the hanging endpoint's attempts to time out"
    # ... and after its timeout the hanging endpoint is moved to the slow lane.
    assert hooks.get(stuck["id"])["slow_until"] > time.time()


@pytest.fixture
def cloud_mode():
    """Call it to make the running local cloud refuse private targets, as on AWS. Settings are read
    once per container, so the cache is cleared on the way in and again after restoring."""
    saved = os.environ.get("WEBHOOK_ALLOW_PRIVATE_TARGETS")

    def switch() -> None:
        os.environ["WEBHOOK_ALLOW_PRIVATE_TARGETS"] = "false"
        get_settings.cache_clear()
    yield switch
    if saved is None:
        os.environ.pop("WEBHOOK_ALLOW_PRIVATE_TARGETS", None)
    else:
        os.environ["WEBHOOK_ALLOW_PRIVATE_TARGETS"] = saved
    get_settings.cache_clear()


def test_ssrf_refused_in_cloud_mode(hooks, monkeypatch, cloud_mode):
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host == "intranet.example.test":     # a name that resolves to a private address
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.20.30.40", port))]
        return real_getaddrinfo(host, port, *args, **kwargs)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    receiver = hooks.receiver()
    allowed = hooks.endpoint(receiver.url)             # created while loopback is allowed (local mode)
    cloud_mode()                                        # now as in the cloud
    for url in ("http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "http://localhost/",
                "http://intranet.example.test/hook", "http://[::1]:8080/"):
        response = hooks.http.post(f"{hooks.api}/webhooks", json={"url": url}, timeout=30)
        assert response.status_code == 422, (url, response.text)
        assert "url" in response.json()["fields"]
    response = hooks.http.post(f"{hooks.api}/webhooks/{allowed['id']}/test", timeout=30)
    assert response.status_code == 200 and response.json()["ok"] is False
    assert response.json()["error"].startswith("refused")
    events.publish(events.PRODUCT_CREATED, {"sku": "ssrf-1"})    # refused again at delivery time
    log = wait_until(lambda: [e for e in hooks.deliveries(allowed["id"]) if e["kind"] == "delivery"],
                     message="delivery attempt logged")
    assert log[0]["error"].startswith("refused") and receiver.requests == []


def test_test_button_and_replay(hooks):
    receiver = hooks.receiver([202])
    endpoint = hooks.endpoint(receiver.url)
    response = hooks.http.post(f"{hooks.api}/webhooks/{endpoint['id']}/test", timeout=30)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["ok"] and result["status_code"] == 202 and result["response_ms"] >= 0
    assert verified(receiver, endpoint["secret"])[0]["type"] == "webhook.test"

    events.publish(events.UPLOAD_COMPLETED, {"id": "imp_replay"})
    wait_until(lambda: len(receiver.requests) >= 2, message="event delivered")
    log = wait_until(lambda: [e for e in hooks.deliveries(endpoint["id"]) if e["kind"] == "delivery"],
                     message="delivery logged")
    replay = hooks.http.post(f"{hooks.api}/webhooks/{endpoint['id']}/deliveries/{log[0]['delivery_id']}/replay",
                           timeout=30)
    assert replay.status_code == 202, replay.text
    wait_until(lambda: len(receiver.requests) >= 3, message="replayed")
    assert receiver.requests[2]["headers"]["webhook-id"] == receiver.requests[1]["headers"]["webhook-id"]
    assert verified(receiver, endpoint["secret"])[2]["data"] == {"id": "imp_replay"}


# --- receivers failing, then recovering; the events queue redelivering ---------------------------
def attempts_by_id(receiver: Receiver) -> dict[str, int]:
    counts: dict[str, int] = {}
    for request in receiver.requests:
        counts[request["headers"]["webhook-id"]] = counts.get(request["headers"]["webhook-id"], 0) + 1
    return counts


def test_closed_connection_hang_and_500_then_recovery_deliver_once(hooks):
    """One delivery meets every way a receiver fails: the connection closed without an answer, no
    answer within the timeout (the endpoint moves to the slow lane), a 500; then the receiver
    recovers. The fourth attempt delivers it: one webhook-id throughout, every attempt logged,
    nothing sent after the 200, and the endpoint healthy again."""
    receiver = hooks.receiver(["close", "hang", 500, 200])
    endpoint = hooks.endpoint(receiver.url)
    event = events.publish(events.PRODUCT_UPDATED, {"sku": "recover-1"})
    log = wait_until(lambda: (lambda items: items if any(e.get("status_code") == 200 for e in items) else None)(
        hooks.deliveries(endpoint["id"])), timeout=45, message="delivered on the fourth attempt")
    time.sleep(2.5)                                      # a retry the 200 failed to stop would come by now
    assert len(receiver.requests) == 4
    assert attempts_by_id(receiver) == {log[0]["delivery_id"]: 4}
    assert all(json.loads(r["body"])["data"] == event["data"] for r in receiver.requests)
    log = hooks.deliveries(endpoint["id"])
    assert [e["attempt"] for e in reversed(log)] == [1, 2, 3, 4]
    first, second, third, fourth = reversed(log)
    assert first.get("status_code") is None and first["error"]           # connection closed, no answer
    assert second.get("status_code") is None and "timed out" in second["error"].lower()
    assert (third["status_code"], fourth["status_code"]) == (500, 200)
    verified(receiver, endpoint["secret"])
    healthy = hooks.get(endpoint["id"])
    assert healthy["status"] == "healthy" and healthy["consecutive_failures"] == 0


def test_receiver_down_then_back_gets_every_event_exactly_once(hooks):
    """The receiver refuses (connection closed, 503) its first five requests, then is back: each of
    three events is delivered (one 2xx per webhook-id) and none twice."""
    receiver = hooks.receiver(["close", 503, "close", 503, "close", 200])
    endpoint = hooks.endpoint(receiver.url)
    sent = [events.publish(events.PRODUCT_CREATED, {"sku": f"down-{i}"}) for i in range(3)]
    wait_until(lambda: len([e for e in hooks.deliveries(endpoint["id"]) if e.get("status_code") == 200]) == 3,
               timeout=45, message="three deliveries")
    time.sleep(2.5)
    ok = [r for i, r in enumerate(receiver.requests) if i >= 5]
    assert len(ok) == 3 and len(receiver.requests) == 8
    assert sorted(json.loads(r["body"])["data"]["sku"] for r in ok) == sorted(e["data"]["sku"] for e in sent)
    assert len({r["headers"]["webhook-id"] for r in ok}) == 3
    assert sum(attempts_by_id(receiver).values()) == len(receiver.requests) <= 3 * 4


def test_events_queue_redelivering_an_event_sends_it_once(hooks, local_cloud):
    """SQS delivers at least once: the fan-out gets the same events-queue message twice (as after a
    visibility timeout or a failed delete). The receiver gets the event once, not twice under the
    same webhook-id; one delivery record, one attempt logged."""
    receiver = hooks.receiver()
    endpoint = hooks.endpoint(receiver.url)
    fanned = []

    def deliver_twice(invoke, event):
        fanned.append(event)
        invoke(event)
        return invoke(event)

    local_cloud.functions.wrap("WebhookFanoutFunction", deliver_twice)
    try:
        event = events.publish(events.PRODUCT_DELETED, {"sku": "twice-1"})
        wait_until(lambda: receiver.requests, message="delivered")
        time.sleep(3)
    finally:
        local_cloud.functions.wrap("WebhookFanoutFunction", None)
    assert any(event["id"] in json.dumps(e) for e in fanned)
    assert len(receiver.requests) == 1, attempts_by_id(receiver)
    assert [e["attempt"] for e in hooks.deliveries(endpoint["id"])] == [1]


# --- endpoints edited while deliveries are in flight (README, "Concurrency") ----------------------
# Each attempt uses the endpoint as it is when the attempt is made (read when its batch starts): a
# retry goes to the new URL, signed with the secrets in force then; a disabled or deleted endpoint's
# pending retries are dropped. An attempt already sent finishes as it began.
@pytest.fixture
def first_attempt_held():
    """An answer for a receiver: 500, once the test has made its change (well within the 2 s
    attempt timeout)."""
    gate = threading.Event()
    yield gate, lambda: (gate.wait(1.5), 500)[1]
    gate.set()


def change_during_first_attempt(hooks, receiver, endpoint, gate, change) -> dict:
    event = events.publish(events.PRODUCT_UPDATED, {"sku": f"edit-{endpoint['id']}"})
    wait_until(lambda: receiver.requests, message="first attempt in flight")
    changed = change()
    gate.set()
    wait_until(lambda: changed.get("gone") or hooks.deliveries(endpoint["id"]), message="first attempt logged")
    return event


def test_url_changed_while_a_retry_waits_sends_the_retry_to_the_new_url(hooks, first_attempt_held):
    gate, held = first_attempt_held
    old, new = hooks.receiver([held]), hooks.receiver([200])
    endpoint = hooks.endpoint(old.url)
    change_during_first_attempt(hooks, old, endpoint, gate, lambda: hooks.http.patch(
        f"{hooks.api}/webhooks/{endpoint['id']}", json={"url": new.url}, timeout=30).json())
    wait_until(lambda: new.requests, message="retry at the new URL")
    time.sleep(2.5)
    assert (len(old.requests), len(new.requests)) == (1, 1)
    assert old.requests[0]["headers"]["webhook-id"] == new.requests[0]["headers"]["webhook-id"]
    verified(new, endpoint["secret"])
    log = wait_until(lambda: (lambda items: items if len(items) == 2 else None)(hooks.deliveries(endpoint["id"])),
                     message="two attempts logged")
    assert [(e["attempt"], e["status_code"]) for e in reversed(log)] == [(1, 500), (2, 200)]


def test_disabled_while_a_retry_waits_drops_the_retry(hooks, first_attempt_held):
    gate, held = first_attempt_held
    receiver = hooks.receiver([held, 200])
    endpoint = hooks.endpoint(receiver.url)
    change_during_first_attempt(hooks, receiver, endpoint, gate, lambda: hooks.http.patch(
        f"{hooks.api}/webhooks/{endpoint['id']}", json={"enabled": False}, timeout=30).json())
    time.sleep(3)                       # past the retry's 1 s delay
    assert len(receiver.requests) == 1
    assert [e["attempt"] for e in hooks.deliveries(endpoint["id"])] == [1]
    # Enabled again: new events flow; the dropped delivery does not come back (Replay sends it)
    hooks.http.patch(f"{hooks.api}/webhooks/{endpoint['id']}", json={"enabled": True}, timeout=30)
    later = events.publish(events.PRODUCT_CREATED, {"sku": "after-enable"})
    wait_until(lambda: len(receiver.requests) >= 2, message="delivered after enabling")
    time.sleep(1.5)
    assert len(receiver.requests) == 2 and json.loads(receiver.requests[1]["body"])["data"] == later["data"]


def test_deleted_while_a_retry_waits_drops_the_retry_and_stays_deleted(hooks, first_attempt_held):
    gate, held = first_attempt_held
    receiver = hooks.receiver([held, 200])
    endpoint = hooks.endpoint(receiver.url)

    def delete() -> dict:
        assert hooks.http.delete(f"{hooks.api}/webhooks/{endpoint['id']}", timeout=30).status_code == 204
        return {"gone": True}
    change_during_first_attempt(hooks, receiver, endpoint, gate, delete)
    time.sleep(3)
    assert len(receiver.requests) == 1
    # the attempt's statistics, written after it, did not bring the endpoint back
    assert hooks.http.get(f"{hooks.api}/webhooks/{endpoint['id']}", timeout=30).status_code == 404
    listed = hooks.http.get(f"{hooks.api}/webhooks", timeout=30).json()
    assert endpoint["id"] not in json.dumps(listed)


def test_secret_rotated_while_a_retry_waits_signs_the_retry_with_the_new_secret(hooks, first_attempt_held):
    gate, held = first_attempt_held
    receiver = hooks.receiver([held, 200])
    endpoint = hooks.endpoint(receiver.url)
    rotated = {}

    def rotate() -> dict:
        response = hooks.http.post(f"{hooks.api}/webhooks/{endpoint['id']}/rotate-secret", timeout=30)
        assert response.status_code == 200, response.text
        rotated.update(response.json())
        return rotated
    change_during_first_attempt(hooks, receiver, endpoint, gate, rotate)
    wait_until(lambda: len(receiver.requests) >= 2, message="retry delivered")
    first, retry = receiver.requests[:2]
    assert first["headers"]["webhook-id"] == retry["headers"]["webhook-id"]
    Webhook(endpoint["secret"]).verify(first["body"], first["headers"])
    with pytest.raises(WebhookVerificationError):
        Webhook(rotated["secret"]).verify(first["body"], first["headers"])   # sent before the rotation
    Webhook(rotated["secret"]).verify(retry["body"], retry["headers"])       # the new secret signs the retry
    Webhook(endpoint["secret"]).verify(retry["body"], retry["headers"])      # and the old one, in its grace period
    time.sleep(1.5)
    assert len(receiver.requests) == 2
