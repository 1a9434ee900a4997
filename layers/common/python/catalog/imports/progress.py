"""Import items: one per import, holding its status and progress counters.

Counters are only ever changed with ADD in a single UpdateItem that also records the
chunk's index in `done_chunks`, conditioned on the index not being there yet, so a retried
chunk cannot count twice. History is served by the `history` index (kind, created_at).
"""
from __future__ import annotations

import hashlib
import secrets

from catalog.shared import dynamo
from catalog.shared.aws import client
from catalog.shared.clock import now_iso, parse_iso, stamp_id
from catalog.shared.dynamo import conditional, from_item, to_item

PENDING, QUEUED, PLANNING, PROCESSING, FINALIZING = "PENDING", "QUEUED", "PLANNING", "PROCESSING", "FINALIZING"
SUCCEEDED, FAILED, CANCELLED = "SUCCEEDED", "FAILED", "CANCELLED"
TERMINAL = (SUCCEEDED, FAILED, CANCELLED)
ACTIVE = (PENDING, QUEUED, PLANNING, PROCESSING, FINALIZING)
KIND = "import"
COUNTERS = ("rows_processed", "bytes_processed", "created", "updated", "unchanged", "failed",
            "duplicates", "chunks_done")


def new_import_id() -> str:
    """Sortable by creation time, unguessable."""
    return stamp_id("imp", secrets.token_hex(6))


def import_id_for_object(bucket: str, key: str, version: str, event_time: str) -> str:
    """The id of an import started by dropping a file: the same for every delivery of one object write."""
    digest = hashlib.sha256(f"{bucket}\n{key}\n{version}".encode()).hexdigest()[:12]
    stamp = parse_iso(event_time).strftime("%Y%m%dT%H%M%S") if event_time else "00000000T000000"
    return f"imp_{stamp}_{digest}"


class ImportStore:
    def __init__(self, table: str):
        self.table = table
        self.ddb = client("dynamodb")

    # --- creation -----------------------------------------------------------------
    def create(self, import_id: str, *, status: str, source: str, bucket: str, key: str,
               file_name: str, size: int | None = None) -> bool:
        """Creates the import item; False when it already exists (a duplicate delivery)."""
        values = {"id": import_id, "kind": KIND, "status": status, "source": source, "bucket": bucket,
                  "key": key, "file_name": file_name, "size": size, "created_at": now_iso()}
        for counter in COUNTERS:
            values[counter] = 0
        return conditional(lambda: self.ddb.put_item(TableName=self.table, Item=to_item(values),
                                                     ConditionExpression="attribute_not_exists(id)"))

    # --- reads --------------------------------------------------------------------
    def get(self, import_id: str) -> dict | None:
        response = self.ddb.get_item(TableName=self.table, Key={"id": {"S": import_id}}, ConsistentRead=True)
        item = response.get("Item")
        return from_item(item) if item and item.get("kind", {}).get("S") == KIND else None

    def list(self, limit: int, after: dict | None = None) -> tuple[list[dict], dict | None]:
        kwargs = dict(TableName=self.table, IndexName="history", ScanIndexForward=False, Limit=limit,
                      KeyConditionExpression="kind = :k", ExpressionAttributeValues={":k": {"S": KIND}})
        if after:
            kwargs["ExclusiveStartKey"] = after
        response = self.ddb.query(**kwargs)
        return [from_item(i) for i in response.get("Items", [])], response.get("LastEvaluatedKey")

    # --- transitions --------------------------------------------------------------
    def transition(self, import_id: str, *, to: str, allowed_from: tuple[str, ...],
                   values: dict | None = None) -> bool:
        """Moves the import to `to` only from one of `allowed_from`; False otherwise."""
        return dynamo.transition(self.ddb, self.table, {"id": {"S": import_id}}, to=to,
                                 allowed_from=allowed_from, values=values)

    def record_chunk(self, import_id: str, chunk_index: int, counts: dict[str, int]) -> bool:
        """Adds a chunk's counts once; False when this chunk was already counted."""
        names, values, adds = {}, {":chunk": {"NS": [str(chunk_index)]}, ":i": {"N": str(chunk_index)}}, []
        for i, (name, amount) in enumerate(counts.items()):
            names[f"#c{i}"] = name
            values[f":c{i}"] = {"N": str(amount)}
            adds.append(f"#c{i} :c{i}")
        adds.append("done_chunks :chunk")
        return conditional(lambda: self.ddb.update_item(
            TableName=self.table, Key={"id": {"S": import_id}},
            UpdateExpression="ADD " + ", ".join(adds),
            ConditionExpression="attribute_exists(id) AND NOT contains(done_chunks, :i)",
            ExpressionAttributeNames=names, ExpressionAttributeValues=values))

    def status_of(self, import_id: str) -> str | None:
        response = self.ddb.get_item(TableName=self.table, Key={"id": {"S": import_id}},
                                     ProjectionExpression="#s", ExpressionAttributeNames={"#s": "status"},
                                     ConsistentRead=True)
        return response.get("Item", {}).get("status", {}).get("S")
