"""Import items: one per import, holding its status and progress counters.

Counters are only ever changed with ADD in a single UpdateItem that also records the
chunk's index in `done_chunks`, conditioned on the index not being there yet, so a retried
chunk cannot count twice. History is served by the `history` index (kind, created_at).

Each chunk attempt also marks its index in `started_chunks` (and, for a retry, `retried_chunks`;
for an attempt that raised, `failed_chunks`): from these sets `chunk_map` draws the page's grid of
chunks, with no read per chunk.
"""
from __future__ import annotations

import hashlib
import secrets

from catalog.products.catalog_store import PREVIEW_FIELDS
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
IMPORT_MODE, PREVIEW_MODE = "import", "preview"       # an import's mode: write the catalog, or only say what it would do
MODES = (IMPORT_MODE, PREVIEW_MODE)
FIELD_CHANGES = "field_changes"             # a preview's counters per product field (a map, added to per chunk)


# One letter per chunk, in chunk order (the page's grid of the distributed Map's chunks).
CHUNK_PENDING, CHUNK_RUNNING, CHUNK_DONE, CHUNK_RETRIED, CHUNK_FAILED = "p", "r", "d", "R", "f"


def chunk_map(item: dict) -> str:
    """`p` pending, `r` running, `d` done, `R` done or running again after a failed attempt,
    `f` failed (its last attempt raised)."""
    total = int(item.get("total_chunks") or 0)
    done, started, failed, retried = ({int(i) for i in item.get(name) or ()} for name in
                                      ("done_chunks", "started_chunks", "failed_chunks", "retried_chunks"))
    letters = []
    for index in range(total):
        if index in done:
            letters.append(CHUNK_RETRIED if index in retried else CHUNK_DONE)
        elif index in failed:
            letters.append(CHUNK_FAILED)
        elif index in started:
            letters.append(CHUNK_RETRIED if index in retried else CHUNK_RUNNING)
        else:
            letters.append(CHUNK_PENDING)
    return "".join(letters)


# The shape of every import id (new_import_id, import_id_for_object), for the code that finds one in a key.
IMPORT_ID = r"imp_[0-9]{8}T[0-9]{6}_[0-9a-f]{12}"


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
               file_name: str, size: int | None = None, mode: str = IMPORT_MODE, **extra) -> bool:
        """Creates the import item; False when it already exists (a duplicate delivery). `extra`:
        more fields recorded as they are (from_import, drop_folder, the column mapping and preset
        asked for), None ones left out."""
        values = {"id": import_id, "kind": KIND, "status": status, "source": source, "bucket": bucket,
                  "key": key, "file_name": file_name, "size": size, "created_at": now_iso(), "mode": mode,
                  **{k: v for k, v in extra.items() if v is not None}}
        for counter in COUNTERS:
            values[counter] = 0
        if mode == PREVIEW_MODE:
            values[FIELD_CHANGES] = dict.fromkeys(PREVIEW_FIELDS, 0)     # record_chunk adds into it
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

    def record_chunk(self, import_id: str, chunk_index: int, counts: dict[str, int],
                     field_changes: dict[str, int] | None = None) -> bool:
        """Adds a chunk's counts (and a preview's per-field change counts, into the item's
        `field_changes` map) once, in one update; False when this chunk was already counted."""
        names, values, adds = {}, {":chunk": {"NS": [str(chunk_index)]}, ":i": {"N": str(chunk_index)}}, []
        for i, (name, amount) in enumerate(counts.items()):
            names[f"#c{i}"] = name
            values[f":c{i}"] = {"N": str(amount)}
            adds.append(f"#c{i} :c{i}")
        if field_changes:
            names["#fc"] = FIELD_CHANGES
            for i, (name, amount) in enumerate(field_changes.items()):
                names[f"#f{i}"] = name
                values[f":f{i}"] = {"N": str(amount)}
                adds.append(f"#fc.#f{i} :f{i}")
        adds.append("done_chunks :chunk")
        return conditional(lambda: self.ddb.update_item(
            TableName=self.table, Key={"id": {"S": import_id}},
            UpdateExpression="ADD " + ", ".join(adds),
            ConditionExpression="attribute_exists(id) AND NOT contains(done_chunks, :i)",
            ExpressionAttributeNames=names, ExpressionAttributeValues=values))

    # --- the chunk map (what the page's grid shows) -------------------------------------
    def chunk_started(self, import_id: str, chunk_index: int) -> bool:
        """Marks an attempt of a chunk as started; True when an earlier attempt had started it (a
        retry: the chunk leaves `failed_chunks` and joins `retried_chunks`)."""
        index = {":i": {"NS": [str(chunk_index)]}}
        old = self.ddb.update_item(TableName=self.table, Key={"id": {"S": import_id}},
                                   UpdateExpression="ADD started_chunks :i", ExpressionAttributeValues=index,
                                   ReturnValues="ALL_OLD").get("Attributes", {})
        if str(chunk_index) not in old.get("started_chunks", {}).get("NS", []):
            return False
        self.ddb.update_item(TableName=self.table, Key={"id": {"S": import_id}},
                             UpdateExpression="ADD retried_chunks :i DELETE failed_chunks :i",
                             ExpressionAttributeValues=index)
        return True

    def chunk_failed(self, import_id: str, chunk_index: int) -> None:
        """An attempt of the chunk raised (the state machine may retry it)."""
        conditional(lambda: self.ddb.update_item(TableName=self.table, Key={"id": {"S": import_id}},
                                                 UpdateExpression="ADD failed_chunks :i",
                                                 ConditionExpression="attribute_exists(id)",
                                                 ExpressionAttributeValues={":i": {"NS": [str(chunk_index)]}}))

    def status_of(self, import_id: str) -> str | None:
        response = self.ddb.get_item(TableName=self.table, Key={"id": {"S": import_id}},
                                     ProjectionExpression="#s", ExpressionAttributeNames={"#s": "status"},
                                     ConsistentRead=True)
        return response.get("Item", {}).get("status", {}).get("S")
