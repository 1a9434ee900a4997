"""Delivery messages on the deliveries queues.

A message: {"delivery_id", "endpoint_id", "event": {id, type, timestamp, data}, "attempt": n (the
attempt it is for, 1-based), "not_before": epoch seconds or null, "kind": "delivery" | "replay"}.
"""
from __future__ import annotations

import json
import uuid

from catalog.shared.aws import client
from catalog.webhooks.schedule import sqs_delay


class QueueError(RuntimeError):
    pass


def message(delivery_id: str, endpoint_id: str, event: dict, attempt: int = 1, not_before: float | None = None,
            kind: str = "delivery") -> dict:
    return {"delivery_id": delivery_id, "endpoint_id": endpoint_id, "event": event, "attempt": attempt,
            "not_before": not_before, "kind": kind}


def send(queue_url: str, messages: list[dict], extra: dict | None = None) -> None:
    """Sends messages (10 per call), each delayed until its `not_before` (at most SQS's 15 minutes)."""
    if not messages:
        return
    if not queue_url:
        raise QueueError("no deliveries queue configured")
    sqs = client("sqs")
    for start in range(0, len(messages), 10):
        entries = [{"Id": str(i), "MessageBody": json.dumps({**m, **(extra or {})}, default=str),
                    "DelaySeconds": sqs_delay(m.get("not_before"))}
                   for i, m in enumerate(messages[start:start + 10])]
        for _ in range(3):
            failed = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries).get("Failed") or []
            if not failed:
                break
            retry_ids = {f["Id"] for f in failed if not f.get("SenderFault")}
            if len(retry_ids) < len(failed):
                raise QueueError(f"SQS refused delivery messages: {failed}")
            entries = [e for e in entries if e["Id"] in retry_ids]
        else:
            raise QueueError(f"SQS did not take {len(entries)} delivery messages")


def dead_letter(queue_url: str, msg: dict, reason: str) -> None:
    if not queue_url:
        raise QueueError("no dead-letter queue configured")
    client("sqs").send_message(QueueUrl=queue_url, MessageBody=json.dumps({**msg, "dead_letter_reason": reason,
                                                                           "dead_letter_id": uuid.uuid4().hex},
                                                                          default=str))


def queue_name(url_or_arn: str) -> str:
    return url_or_arn.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
