"""Background jobs' items (delete-all, export): one item per job in the imports table, told apart
by `kind`, moving between statuses by conditional transitions."""
from __future__ import annotations

from catalog.shared import dynamo
from catalog.shared.aws import client
from catalog.shared.dynamo import from_item

QUEUED, RUNNING, SUCCEEDED, FAILED = "QUEUED", "RUNNING", "SUCCEEDED", "FAILED"
ENDED = (SUCCEEDED, FAILED)


class JobItems:
    kind: str       # set by each kind of job

    def __init__(self, imports_table: str):
        self.table = imports_table
        self.ddb = client("dynamodb")

    def get(self, job_id: str) -> dict | None:
        item = self.ddb.get_item(TableName=self.table, Key={"id": {"S": job_id}}, ConsistentRead=True).get("Item")
        return from_item(item) if item and item.get("kind", {}).get("S") == self.kind else None

    def transition(self, job_id: str, to: str, allowed_from: tuple[str, ...], values: dict | None = None) -> bool:
        return dynamo.transition(self.ddb, self.table, {"id": {"S": job_id}}, to=to, allowed_from=allowed_from,
                                 values=values)
