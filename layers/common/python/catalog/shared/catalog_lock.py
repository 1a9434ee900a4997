"""The catalog lock that delete-all and imports share.

A delete-all holds one item in the imports table (`catalog#delete_all`), taken with a conditional
update (no transactions: dynalite has none). While it is held, new imports and product writes
through the API are refused; a delete-all is refused while an import runs (`running_import`).
The lock goes stale on its own after the delete-all machine's timeout, so a lost execution
cannot block the catalog forever.
"""
from __future__ import annotations

from botocore.exceptions import ClientError

from catalog.shared.aws import client
from catalog.shared.clock import iso_in, now_iso
from catalog.shared.dynamo import is_conditional_failure

LOCK_ID = "catalog#delete_all"
HELD, IDLE = "RUNNING", "IDLE"
LOCK_SECONDS = 7200                 # = the delete-all state machine's TimeoutSeconds
RUNNING_IMPORT_STATUSES = ("QUEUED", "PLANNING", "PROCESSING", "FINALIZING")
RECENT_IMPORT_HOURS = 6             # an import older than this and still "running" is considered dead


class CatalogLock:
    def __init__(self, imports_table: str):
        self.table = imports_table
        self.ddb = client("dynamodb")

    def holder(self) -> str | None:
        """The id of the delete-all holding the lock, or None."""
        item = self.ddb.get_item(TableName=self.table, Key={"id": {"S": LOCK_ID}}, ConsistentRead=True).get("Item")
        if not item or item.get("status", {}).get("S") != HELD:
            return None
        if item.get("stale_at", {}).get("S", "") < now_iso():
            return None
        return item["job_id"]["S"]

    def acquire(self, job_id: str) -> str | None:
        """Takes the lock for `job_id`: None when taken, else the id of the job holding it."""
        try:
            self.ddb.update_item(
                TableName=self.table, Key={"id": {"S": LOCK_ID}},
                UpdateExpression="SET job_id = :j, #s = :held, started_at = :now, stale_at = :stale",
                ConditionExpression="attribute_not_exists(id) OR #s <> :held OR stale_at < :now",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":j": {"S": job_id}, ":held": {"S": HELD}, ":now": {"S": now_iso()},
                                           ":stale": {"S": iso_in(LOCK_SECONDS)}})
            return None
        except ClientError as error:
            if is_conditional_failure(error):
                return self.holder() or "unknown"
            raise

    def release(self, job_id: str) -> None:
        """Releases the lock if `job_id` holds it (a no-op otherwise)."""
        try:
            self.ddb.update_item(TableName=self.table, Key={"id": {"S": LOCK_ID}},
                                 UpdateExpression="SET #s = :idle, finished_at = :now",
                                 ConditionExpression="job_id = :j",
                                 ExpressionAttributeNames={"#s": "status"},
                                 ExpressionAttributeValues={":idle": {"S": IDLE}, ":now": {"S": now_iso()},
                                                            ":j": {"S": job_id}})
        except ClientError as error:
            if not is_conditional_failure(error):
                raise

    def running_import(self) -> str | None:
        """The id of an import that is queued or running (recent ones only), or None."""
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
