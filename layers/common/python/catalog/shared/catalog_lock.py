"""The catalog lock: one job at a time changes the catalog in bulk, an import or a delete-all.

The holder keeps one item in the imports table (`catalog#lock`), taken with a conditional update
(no transactions: dynalite has none). An import takes it when its plan starts and gives it back
when it ends (succeeded, failed or cancelled); an import that finds another import holding it
waits, queued, and a delete-all that finds any import queued or running is refused. While a
delete-all holds it, new imports and product writes through the API are refused.
The lock goes stale on its own after the holder's state machine timeout, so a lost execution
cannot block the catalog forever.
"""
from __future__ import annotations

from dataclasses import dataclass

from catalog.shared.aws import client
from catalog.shared.clock import iso_in, now_iso
from catalog.shared.dynamo import conditional

LOCK_ID = "catalog#lock"
HELD, IDLE = "RUNNING", "IDLE"
IMPORT, DELETE_ALL = "import", "delete_all"
LOCK_SECONDS = {IMPORT: 21600,      # = the import state machine's TimeoutSeconds
                DELETE_ALL: 7200}   # = the delete-all state machine's TimeoutSeconds
RUNNING_IMPORT_STATUSES = ("QUEUED", "PLANNING", "PROCESSING", "FINALIZING")
RECENT_IMPORT_HOURS = 6             # an import older than this and still "running" is considered dead


@dataclass(frozen=True)
class Holder:
    job_id: str
    kind: str           # IMPORT or DELETE_ALL


class CatalogLock:
    def __init__(self, imports_table: str):
        self.table = imports_table
        self.ddb = client("dynamodb")

    def holder(self) -> Holder | None:
        """The job holding the lock, or None."""
        item = self.ddb.get_item(TableName=self.table, Key={"id": {"S": LOCK_ID}}, ConsistentRead=True).get("Item")
        if not item or item.get("status", {}).get("S") != HELD:
            return None
        if item.get("stale_at", {}).get("S", "") < now_iso():
            return None
        return Holder(item["job_id"]["S"], item.get("holder_kind", {}).get("S", DELETE_ALL))

    def acquire(self, job_id: str, kind: str) -> Holder | None:
        """Takes the lock for `job_id` (again, if it holds it already: a retried step): None when
        taken, else the job holding it."""
        if self._take(job_id, kind, "attribute_not_exists(id) OR #s <> :held OR stale_at < :now OR job_id = :j"):
            return None
        return self.holder() or Holder("unknown", kind)

    def take_over(self, job_id: str, kind: str, previous: str) -> bool:
        """Takes the lock from `previous`, a holder known to be gone (its execution ended without
        giving the lock back): False when someone else took it meanwhile."""
        return self._take(job_id, kind, "job_id = :previous AND #s = :held", {":previous": {"S": previous}})

    def _take(self, job_id: str, kind: str, condition: str, values: dict | None = None) -> bool:
        return conditional(lambda: self.ddb.update_item(
            TableName=self.table, Key={"id": {"S": LOCK_ID}},
            UpdateExpression="SET job_id = :j, holder_kind = :k, #s = :held, started_at = :now, stale_at = :stale",
            ConditionExpression=condition, ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":j": {"S": job_id}, ":k": {"S": kind}, ":held": {"S": HELD},
                                       ":now": {"S": now_iso()}, ":stale": {"S": iso_in(LOCK_SECONDS[kind])},
                                       **(values or {})}))

    def release(self, job_id: str) -> None:
        """Releases the lock if `job_id` holds it (a no-op otherwise)."""
        conditional(lambda: self.ddb.update_item(
            TableName=self.table, Key={"id": {"S": LOCK_ID}}, UpdateExpression="SET #s = :idle, finished_at = :now",
            ConditionExpression="job_id = :j", ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":idle": {"S": IDLE}, ":now": {"S": now_iso()}, ":j": {"S": job_id}}))

    def running_import(self) -> str | None:
        """The id of an import that is queued or running (recent ones only), or None: an import
        waiting for the lock does not hold it yet, but a delete-all must not start under it."""
        values = {":k": {"S": "import"}, ":since": {"S": iso_in(-RECENT_IMPORT_HOURS * 3600)}}
        values.update({f":s{i}": {"S": s} for i, s in enumerate(RUNNING_IMPORT_STATUSES)})
        kwargs = dict(TableName=self.table, IndexName="history", ScanIndexForward=False,
                      KeyConditionExpression="kind = :k AND created_at >= :since",
                      FilterExpression=f"#s IN ({', '.join(f':s{i}' for i in range(len(RUNNING_IMPORT_STATUSES)))})",
                      ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues=values)
        while True:
            response = self.ddb.query(**kwargs)
            if response.get("Items"):
                return response["Items"][0]["id"]["S"]
            if "LastEvaluatedKey" not in response:
                return None
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
