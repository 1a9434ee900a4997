"""The delivery log, with TTL (`expires_at`) on every record:

- one record per attempt: pk = "log#<endpoint id>", sk = "<time>#<delivery id>#<attempt>" (newest first
  by querying backwards): event, attempt, status code, response time, error, outcome;
- one record per delivery (pk = "delivery#<delivery id>") holding the event, so a past delivery can be
  replayed while its record lives.
"""
from __future__ import annotations

import json
import time

from catalog.shared.aws import client
from catalog.shared.clock import now_iso
from catalog.shared.dynamo import batch_get, batch_write, from_item, to_item


def _expiry(ttl_seconds: int) -> int:
    return int(time.time()) + ttl_seconds


class DeliveryLog:
    def __init__(self, table: str, ttl_seconds: int):
        self.table = table
        self.ttl_seconds = ttl_seconds
        self.ddb = client("dynamodb")

    # --- deliveries (replayable) ----------------------------------------------------
    def save_deliveries(self, deliveries: list[tuple[str, str, dict]]) -> None:
        """(delivery id, endpoint id, event) for each delivery fanned out."""
        now, expires = now_iso(), _expiry(self.ttl_seconds)
        requests_ = [{"PutRequest": {"Item": to_item({
            "pk": f"delivery#{delivery_id}", "sk": "delivery", "delivery_id": delivery_id,
            "endpoint_id": endpoint_id, "event": json.dumps(event, separators=(",", ":"), default=str),
            "event_id": event.get("id"), "event_type": event.get("type"), "created_at": now, "expires_at": expires,
        })}} for delivery_id, endpoint_id, event in deliveries]
        self._batch_write(requests_)

    def saved_deliveries(self, delivery_ids: list[str]) -> set[str]:
        """Which of these deliveries have a record: the fan-out saves it once their messages are queued."""
        keys = [{"pk": {"S": f"delivery#{d}"}, "sk": {"S": "delivery"}} for d in sorted(set(delivery_ids))]
        return {item["delivery_id"]["S"] for item in batch_get(self.ddb, self.table, keys)} if keys else set()

    def get_delivery(self, delivery_id: str) -> dict | None:
        item = self.ddb.get_item(TableName=self.table, Key={"pk": {"S": f"delivery#{delivery_id}"},
                                                             "sk": {"S": "delivery"}}).get("Item")
        if not item:
            return None
        record = from_item(item)
        if record.get("expires_at", 0) < time.time():
            return None
        record["event"] = json.loads(record["event"])
        return record

    # --- attempts -------------------------------------------------------------------
    def attempt_record(self, endpoint_id: str, delivery_id: str, event: dict, attempt: int, *,
                       status_code: int | None, response_ms: int, error: str | None, outcome: str,
                       kind: str = "delivery", response_excerpt: str = "") -> dict:
        now = now_iso()
        return {"pk": f"log#{endpoint_id}", "sk": f"{now}#{delivery_id}#{attempt:03d}",
                "endpoint_id": endpoint_id, "delivery_id": delivery_id, "event_id": event.get("id"),
                "event_type": event.get("type"), "attempt": attempt, "status_code": status_code,
                "response_ms": response_ms, "error": error, "outcome": outcome, "kind": kind,
                "response_excerpt": response_excerpt or None, "timestamp": now,
                "expires_at": _expiry(self.ttl_seconds)}

    def record(self, records: list[dict]) -> None:
        self._batch_write([{"PutRequest": {"Item": to_item(r)}} for r in records])

    def list(self, endpoint_id: str, limit: int, after: dict | None = None) -> tuple[list[dict], dict | None]:
        kwargs = dict(TableName=self.table, KeyConditionExpression="pk = :pk", ScanIndexForward=False, Limit=limit,
                      ExpressionAttributeValues={":pk": {"S": f"log#{endpoint_id}"}})
        if after:
            kwargs["ExclusiveStartKey"] = after
        response = self.ddb.query(**kwargs)
        now = time.time()
        items = [from_item(i) for i in response.get("Items", [])]
        items = [{k: v for k, v in i.items() if k not in ("pk", "sk")} for i in items if i.get("expires_at", 0) >= now]
        return items, response.get("LastEvaluatedKey")

    def _batch_write(self, requests_: list[dict]) -> None:
        batch_write(self.ddb, self.table, requests_)
