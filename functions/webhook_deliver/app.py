"""Deliveries queues -> signed POSTs to webhook endpoints.

The records of a batch are delivered concurrently (one thread each), so a receiver that hangs
until the per-attempt timeout does not hold back the others in its batch; an endpoint that timed
out is moved to the slow lane (its own queue and pollers) so it cannot hold back later batches
either. Failed attempts are retried by re-sending the message with a delay, not by failing the
record; a record fails (and SQS redelivers it, via Powertools' partial batch response) only when
the infrastructure did.
"""
import json
from concurrent.futures import ThreadPoolExecutor

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from catalog.webhooks import queue
from catalog.webhooks.config import get_config
from catalog.webhooks.worker import Worker

logger = Logger()
processor = BatchProcessor(event_type=EventType.SQS)


def _deliver_all(records: list[dict]) -> dict[str, BaseException | None]:
    worker = Worker(get_config())
    errors: dict[str, BaseException | None] = {}
    messages: dict[str, dict] = {}
    for record in records:
        try:
            msg = json.loads(record["body"])
            msg["delivery_id"], msg["endpoint_id"], msg["event"]["type"]  # noqa: B018 - shape check
            messages[record["messageId"]] = msg
        except (KeyError, TypeError, ValueError) as error:
            logger.error("unreadable delivery message", extra={"message_id": record.get("messageId")})
            errors[record["messageId"]] = error     # retried, then the queue's redrive dead-letters it
    endpoints = worker.store.get_many([m["endpoint_id"] for m in messages.values()]) if messages else {}

    outboxes: dict[str, list] = {}      # message id -> [(queue URL, message)] it leads to, sent in batches below

    def one(record: dict) -> None:
        msg = messages[record["messageId"]]
        lane = worker.lane_of(record.get("eventSourceARN", ""))
        outbox: list = []
        outcome = worker.handle(msg, lane, endpoints.get(msg["endpoint_id"]), outbox=outbox)
        if outbox:
            outboxes[record["messageId"]] = outbox
        logger.debug("delivery", extra={"delivery_id": msg["delivery_id"], "endpoint_id": msg["endpoint_id"],
                                        "attempt": msg.get("attempt"), "lane": lane, "outcome": outcome})

    readable = [r for r in records if r["messageId"] in messages]
    with ThreadPoolExecutor(max_workers=max(1, len(readable)), thread_name_prefix="deliver") as pool:
        futures = {r["messageId"]: pool.submit(one, r) for r in readable}
        for message_id, future in futures.items():
            errors[message_id] = future.exception()
    errors.update(_send_outboxes(outboxes))
    try:
        worker.flush()
    except Exception:  # noqa: BLE001 - the deliveries happened; failing the batch would send them again
        logger.exception("could not write the delivery log of a batch")
    return errors


def _send_outboxes(outboxes: dict[str, list]) -> dict[str, BaseException]:
    """Sends the follow-up messages of the batch, 10 per call per queue. A record whose follow-ups
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
        except Exception as error:  # noqa: BLE001 - reported per record
            logger.exception("could not send follow-up delivery messages", extra={"queue": queue_url})
            errors.update({message_id: error for message_id, _ in pending})
    return errors


@logger.inject_lambda_context
def lambda_handler(event, context):
    errors = _deliver_all(event.get("Records", []))

    def record_handler(record: SQSRecord) -> None:
        error = errors.get(record.message_id)
        if error is not None:
            raise error

    return process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                    context=context)
