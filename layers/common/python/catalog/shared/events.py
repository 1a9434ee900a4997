"""Publishing domain events to the events queue with the envelope {id, type, timestamp, data}."""
from __future__ import annotations

import json
import uuid

from catalog.shared.aws import client
from catalog.shared.clock import now_iso
from catalog.shared.settings import get_settings

PRODUCT_CREATED = "product.created"
PRODUCT_UPDATED = "product.updated"
PRODUCT_DELETED = "product.deleted"
PRODUCTS_DELETED_ALL = "products.deleted_all"
UPLOAD_COMPLETED = "upload.completed"
UPLOAD_FAILED = "upload.failed"
EVENT_TYPES = (PRODUCT_CREATED, PRODUCT_UPDATED, PRODUCT_DELETED, PRODUCTS_DELETED_ALL,
               UPLOAD_COMPLETED, UPLOAD_FAILED)


def envelope(event_type: str, data: dict, event_id: str | None = None) -> dict:
    return {"id": event_id or "evt_" + uuid.uuid4().hex, "type": event_type, "timestamp": now_iso(), "data": data}


def publish(event_type: str, data: dict, event_id: str | None = None) -> dict:
    """Sends one event. `event_id` makes retried publishers (e.g. a re-run Finish) idempotent downstream."""
    event = envelope(event_type, data, event_id)
    queue_url = get_settings().events_queue_url
    if queue_url:
        client("sqs").send_message(QueueUrl=queue_url, MessageBody=json.dumps(event, default=str),
                                   MessageAttributes={"type": {"DataType": "String", "StringValue": event_type}})
    return event
