"""Events queue -> one delivery message per subscribed, enabled endpoint.

The delivery id (sent as `webhook-id`) is derived from the event id and the endpoint id, so it is
the same on every retry and even when the events queue delivers an event twice. An event the
events queue brings again (SQS delivers at least once: a visibility timeout ran out, a delete
failed) is not fanned out again: a delivery's record is saved once its message is queued, and
deliveries that have one are skipped. Only a fan-out that stopped between queueing and saving
(or two copies of one message handled at the same instant) queues a delivery twice, under the
same webhook-id.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time

from catalog.shared.settings import WebhookSettings
from catalog.webhooks import queue
from catalog.webhooks.endpoints import EndpointStore, subscribed
from catalog.webhooks.log import DeliveryLog

logger = logging.getLogger(__name__)


def delivery_id_for(event_id: str, endpoint_id: str) -> str:
    return "msg_" + hashlib.sha256(f"{event_id}\n{endpoint_id}".encode()).hexdigest()[:32]


def payload(event: dict) -> str:
    """The body POSTed to receivers: {"type", "timestamp", "data"}."""
    return json.dumps({"type": event["type"], "timestamp": event["timestamp"], "data": event.get("data", {})},
                      separators=(",", ":"), default=str)


def targets(event: dict, endpoints: list[dict]) -> list[dict]:
    return [e for e in endpoints if e.get("enabled") and subscribed(e, event.get("type", ""))]


def fan_out(events: list[dict], endpoints: list[dict], config: WebhookSettings) -> int:
    """Queues the deliveries for `events` that were not queued before; returns how many. Raises if
    they could not all be queued."""
    now = time.time()
    planned: dict[str, tuple[dict, dict]] = {}
    for event in events:
        for endpoint in targets(event, endpoints):
            planned.setdefault(delivery_id_for(event["id"], endpoint["id"]), (endpoint, event))
    log = DeliveryLog(config.table, config.log_ttl_seconds)
    for delivery_id in log.saved_deliveries(list(planned)):      # fanned out already: the queue brought it again
        del planned[delivery_id]
    main, slow = [], []
    for delivery_id, (endpoint, event) in planned.items():
        msg = queue.message(delivery_id, endpoint["id"], event)
        (slow if (endpoint.get("slow_until") or 0) > now else main).append(msg)
    queue.send(config.deliveries_queue_url, main)
    if slow:
        queue.send(config.slow_queue_url, slow)
    if planned:     # after queueing: a record says its message is on its way
        log.save_deliveries([(delivery_id, endpoint["id"], event) for delivery_id, (endpoint, event) in planned.items()])
    return len(planned)


def fan_out_messages(settings: WebhookSettings, bodies: dict[str, str]) -> dict[str, BaseException]:
    """Fans out a batch of events-queue messages (message id -> body) together: a few
    SendMessageBatch calls instead of one per event. Returns the messages to bring back: the
    unreadable ones, or every one when the fan-out failed (safe: delivery ids are stable)."""
    events, errors = {}, {}
    for message_id, body in bodies.items():
        try:
            events[message_id] = json.loads(body)
        except ValueError as error:
            errors[message_id] = error
    if events:
        try:
            fan_out(list(events.values()), EndpointStore(settings.table).list(), settings)
        except Exception as error:  # noqa: BLE001 - reported per message
            logger.exception("fan-out failed")
            errors.update({message_id: error for message_id in events})
    return errors
