"""One delivery message -> one attempt, its record in the log, and what follows: done, a retry
through a delayed SQS message, the dead-letter queue, or disabling the endpoint.

Receiver behaviour never raises here (a failed attempt is an outcome, retried by re-sending the
message); only infrastructure errors raise, and then SQS redelivers the message.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid

from catalog.shared.events import envelope
from catalog.shared.metrics import (
    COUNT,
    MILLISECONDS,
    NO_METRICS,
    WEBHOOK_DELIVERIES_FAILED,
    WEBHOOK_DELIVERIES_SUCCEEDED,
    WEBHOOK_DELIVERY_LATENCY,
    WEBHOOK_ENDPOINTS_DISABLED,
    MetricsSink,
)
from catalog.shared.settings import WebhookSettings
from catalog.webhooks import queue, secrets, signing
from catalog.webhooks.endpoints import EndpointStore, signing_secrets
from catalog.webhooks.fanout import payload
from catalog.webhooks.log import DeliveryLog
from catalog.webhooks.schedule import is_due, retry_delay
from catalog.webhooks.sender import AttemptResult, post

log = logging.getLogger(__name__)

MAIN, SLOW = "main", "slow"


def attempt(endpoint: dict, delivery_id: str, event: dict, config: WebhookSettings) -> AttemptResult:
    """Signs and POSTs `event` to the endpoint once."""
    body = payload(event)
    headers = signing.headers(signing_secrets(endpoint, config.secrets_key_arn), delivery_id, body)
    return post(endpoint["url"], body, headers, timeout=config.timeout_seconds,
                allow_private=config.allow_private_targets, max_response_bytes=config.max_response_bytes)


def sample_event(event_type: str, endpoint_id: str) -> dict:
    return envelope(event_type, {"test": True, "endpoint_id": endpoint_id,
                                 "message": "A test event sent from the catalog importer."},
                    event_id="evt_test_" + uuid.uuid4().hex)


class Worker:
    """Delivers messages and records, in `metrics`, each attempt (succeeded or failed, and its
    latency) and each endpoint it disables."""

    def __init__(self, config: WebhookSettings, metrics: MetricsSink = NO_METRICS):
        self.config = config
        self.metrics = metrics
        self.store = EndpointStore(config.table, config.secrets_key_arn)
        self.log = DeliveryLog(config.table, config.log_ttl_seconds)
        # A batch's log records and endpoint statistics are written together by flush():
        # one BatchWriteItem and one UpdateItem per endpoint instead of two writes per delivery.
        self._lock = threading.Lock()
        self._records: list[dict] = []
        self._stats: dict[str, dict] = {}

    def lane_of(self, source_arn: str) -> str:
        slow = self.config.slow_queue_url
        if slow and slow != self.config.deliveries_queue_url and queue.queue_name(source_arn) == queue.queue_name(slow):
            return SLOW
        return MAIN

    def handle(self, msg: dict, lane: str, endpoint: dict | None, outbox: list) -> str:
        """Processes one delivery message; returns what happened (for logs and tests). The messages it
        leads to (a longer wait, a move to the slow lane, a retry) are appended to `outbox` as
        (queue URL, message), for the caller to send in batches."""
        config, now = self.config, time.time()
        endpoint_id = msg["endpoint_id"]

        def send_later(lane_: str, message: dict) -> None:
            outbox.append((self._queue_url(lane_), message))

        if endpoint is None:
            return "dropped: endpoint deleted"
        if not endpoint.get("enabled"):
            return "dropped: endpoint disabled"
        if not is_due(msg.get("not_before"), now):
            # A wait longer than SQS's 15-minute maximum: send it on for the rest of the wait.
            send_later(lane, msg)
            return "deferred"
        if lane == MAIN and (endpoint.get("slow_until") or 0) > now and self._has_slow_lane():
            send_later(SLOW, msg)
            return "moved to the slow lane"

        number = int(msg.get("attempt") or 1)
        event = msg["event"]
        self._seal_plain_secrets(endpoint)
        result = attempt(endpoint, msg["delivery_id"], event, config)
        gone = result.status_code == 410
        delay = None if (result.ok or gone) else retry_delay(config.retry_schedule, number)
        if result.ok:
            outcome = "delivered"
        elif gone:
            outcome = "gone: endpoint disabled"
        elif delay is not None:
            outcome = f"retry {number + 1} in {delay:.1f}s"
        else:
            outcome = "dead-lettered"

        record = self.log.attempt_record(
            endpoint_id, msg["delivery_id"], event, number, status_code=result.status_code,
            response_ms=result.response_ms, error=result.error, outcome=outcome,
            kind=msg.get("kind") or "delivery", response_excerpt=result.response_excerpt)
        slow = result.timed_out and self._has_slow_lane()
        with self._lock:
            self.metrics.add_metric(WEBHOOK_DELIVERIES_SUCCEEDED if result.ok else WEBHOOK_DELIVERIES_FAILED, COUNT, 1)
            self.metrics.add_metric(WEBHOOK_DELIVERY_LATENCY, MILLISECONDS, result.response_ms)
            self._records.append(record)
            stats = self._stats.setdefault(endpoint_id, {"failures": 0})
            stats["last"] = result
            stats["failures"] = 0 if result.ok else stats["failures"] + 1
            if slow:        # written with the batch's endpoint update (flush), once per endpoint
                stats["slow_until"] = int(now + config.slow_cooldown_seconds)
        if result.ok:
            return outcome
        if gone:
            self._disable(endpoint_id, "the receiver answered 410 Gone")
            return outcome
        failing_for = now - float(endpoint.get("failing_since") or now)
        if failing_for >= config.disable_after_seconds:
            self._disable(endpoint_id, f"failing continuously for {int(failing_for)}s")
        if delay is not None:
            send_later(SLOW if slow else lane, {**msg, "attempt": number + 1, "not_before": now + delay})
        else:
            queue.dead_letter(config.dead_letter_queue_url, msg,
                              f"{number} attempts failed; last: {result.error or result.status_code}")
            self.store.mark_failing(endpoint_id)
        return outcome

    def flush(self) -> None:
        """Writes the batch's attempt records and each endpoint's latest status."""
        with self._lock:
            records, stats = self._records, self._stats
            self._records, self._stats = [], {}
        if records:
            self.log.record(records)
        for endpoint_id, s in stats.items():
            last: AttemptResult = s["last"]
            if last.ok:
                self.store.record_attempt(endpoint_id, status_code=last.status_code, response_ms=last.response_ms,
                                          ok=True, error=None)
            else:
                self.store.record_attempt(endpoint_id, status_code=last.status_code, response_ms=last.response_ms,
                                          ok=False, error=last.error, failures=s["failures"],
                                          slow_until=s.get("slow_until"))

    def _seal_plain_secrets(self, endpoint: dict) -> None:
        """An endpoint saved before secrets were encrypted gets them encrypted on its first delivery
        (best effort: the delivery goes ahead either way, signed with the secret read)."""
        if not any(secrets.is_plain(endpoint.get(name) or "_") for name in ("secret", "previous_secret")):
            return
        try:
            if self.store.seal_plain_secrets(endpoint):
                log.info("encrypted the plain-text signing secrets of endpoint %s", endpoint["id"])
        except Exception:  # noqa: BLE001 - the migration is retried on the next delivery
            log.exception("could not encrypt the plain-text signing secrets of endpoint %s", endpoint["id"])

    def _disable(self, endpoint_id: str, reason: str) -> None:
        if self.store.disable(endpoint_id, reason) is not None:
            with self._lock:
                self.metrics.add_metric(WEBHOOK_ENDPOINTS_DISABLED, COUNT, 1)

    def _has_slow_lane(self) -> bool:
        return bool(self.config.slow_queue_url) and self.config.slow_queue_url != self.config.deliveries_queue_url

    def _queue_url(self, lane: str) -> str:
        return self.config.slow_queue_url if lane == SLOW and self._has_slow_lane() else self.config.deliveries_queue_url
