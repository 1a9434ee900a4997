"""A batch of delivery messages -> signed POSTs, concurrently.

The messages of a batch are delivered concurrently (one thread each), so a receiver that hangs
until the per-attempt timeout does not hold back the others in its batch; an endpoint that timed
out is moved to the slow lane (its own queue and pollers) so it cannot hold back later batches
either. Failed attempts are retried by re-sending the message with a delay, not by failing it;
a message fails (and SQS redelivers it) only when the infrastructure did.
"""
from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from catalog.shared.metrics import NO_METRICS, MetricsSink
from catalog.shared.settings import WebhookSettings
from catalog.webhooks import queue
from catalog.webhooks.worker import Worker

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Received:
    """One queue message as the event source hands it over."""
    message_id: str
    body: str
    source_arn: str = ""


def _read(body: str) -> dict:
    msg = json.loads(body)
    msg["delivery_id"], msg["endpoint_id"], msg["event"]["type"]  # noqa: B018 - shape check
    return msg


def deliver_batch(settings: WebhookSettings, received: list[Received],
                  metrics: MetricsSink = NO_METRICS) -> dict[str, BaseException | None]:
    """Delivers every readable message; returns, per message id, the error that should make the
    queue bring it back (None when it was handled, whatever the receiver answered). Attempts and
    disabled endpoints are recorded in `metrics`."""
    worker = Worker(settings, metrics)
    errors: dict[str, BaseException | None] = {}
    messages: dict[str, dict] = {}
    for record in received:
        try:
            messages[record.message_id] = _read(record.body)
        except (KeyError, TypeError, ValueError) as error:
            logger.error("unreadable delivery message %s", record.message_id)
            errors[record.message_id] = error     # retried, then the queue's redrive dead-letters it
    endpoints = worker.store.get_many([m["endpoint_id"] for m in messages.values()]) if messages else {}
    outboxes: dict[str, list] = {}      # message id -> [(queue URL, message)] it leads to

    def one(record: Received) -> None:
        msg = messages[record.message_id]
        outbox: list = []
        worker.handle(msg, worker.lane_of(record.source_arn), endpoints.get(msg["endpoint_id"]), outbox=outbox)
        if outbox:
            outboxes[record.message_id] = outbox

    readable = [r for r in received if r.message_id in messages]
    with ThreadPoolExecutor(max_workers=max(1, len(readable)), thread_name_prefix="deliver") as pool:
        futures = {r.message_id: pool.submit(one, r) for r in readable}
        for message_id, future in futures.items():
            errors[message_id] = future.exception()
    errors.update(_send_outboxes(outboxes))
    try:
        worker.flush()
    except Exception:  # noqa: BLE001 - the deliveries happened; failing the batch would send them again
        logger.exception("could not write the delivery log of a batch")
    return errors


def _send_outboxes(outboxes: dict[str, list]) -> dict[str, BaseException]:
    """Sends the follow-up messages of the batch, 10 per call per queue. A message whose follow-ups
    could not all be sent is failed, so SQS brings it back (ids are stable: at worst a receiver
    sees a delivery twice, never none)."""
    by_queue: dict[str, list[tuple[str, dict]]] = {}
    for message_id, outbox in outboxes.items():
        for queue_url, msg in outbox:
            by_queue.setdefault(queue_url, []).append((message_id, msg))
    errors: dict[str, BaseException] = {}
    for queue_url, pending in by_queue.items():
        try:
            queue.send(queue_url, [msg for _, msg in pending])
        except Exception as error:  # noqa: BLE001 - reported per message
            logger.exception("could not send follow-up delivery messages to %s", queue_url)
            errors.update({message_id: error for message_id, _ in pending})
    return errors
