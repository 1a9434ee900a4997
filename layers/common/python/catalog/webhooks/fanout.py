"""Events queue -> one delivery message per subscribed, enabled endpoint.

The delivery id (sent as `webhook-id`) is derived from the event id and the endpoint id, so it is
the same on every retry and even when the events queue delivers an event twice.
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
    """Queues the deliveries for `events`; returns how many. Raises if they could not all be queued."""
    now = time.time()
    main, slow, records = [], [], []
    for event in events:
        for endpoint in targets(event, endpoints):
            delivery_id = delivery_id_for(event["id"], endpoint["id"])
            records.append((delivery_id, endpoint["id"], event))
            msg = queue.message(delivery_id, endpoint["id"], event)
            (slow if (endpoint.get("slow_until") or 0) > now else main).append(msg)
    if records:
        DeliveryLog(config.table, config.log_ttl_seconds).save_deliveries(records)
    queue.send(config.deliveries_queue_url, main)
    if slow:
        queue.send(config.slow_queue_url, slow)
    return len(records)


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
