"""Delete-all job items (kind "delete_all" in the imports table): creation, status transitions,
progress counters and the view the page polls."""
from __future__ import annotations

import secrets

from botocore.exceptions import ClientError

from catalog.shared.clock import now_iso, parse_iso, stamp_id
from catalog.shared.dynamo import is_conditional_failure, to_item
from catalog.shared.job_items import QUEUED, SUCCEEDED, JobItems

KIND = "delete_all"
_HIDDEN_FIELDS = ("kind", "execution_arn", "done_segments")


def new_job_id() -> str:
    return stamp_id("del", secrets.token_hex(6))


class DeleteAllJobs(JobItems):
    kind = KIND

    def create(self, job_id: str, *, total: int, segments: int) -> dict:
        now = now_iso()
        item = {"id": job_id, "kind": KIND, "status": QUEUED, "total": total, "deleted": 0, "segments_done": 0,
                "total_segments": segments, "created_at": now, "started_at": now}
        self.ddb.put_item(TableName=self.table, Item=to_item(item))
        return item

    def set_execution(self, job_id: str, execution_arn: str) -> None:
        self.ddb.update_item(TableName=self.table, Key={"id": {"S": job_id}}, UpdateExpression="SET execution_arn = :e",
                             ExpressionAttributeValues={":e": {"S": execution_arn}})

    def add_deleted(self, job_id: str, count: int) -> None:
        if count:
            self.ddb.update_item(TableName=self.table, Key={"id": {"S": job_id}}, UpdateExpression="ADD deleted :n",
                                 ExpressionAttributeValues={":n": {"N": str(count)}})

    def segment_done(self, job_id: str, segment: int) -> None:
        """Counts a finished segment once, however often its last step runs."""
        try:
            self.ddb.update_item(TableName=self.table, Key={"id": {"S": job_id}},
                                 UpdateExpression="ADD segments_done :one, done_segments :seg",
                                 ConditionExpression="NOT contains(done_segments, :i)",
                                 ExpressionAttributeValues={":one": {"N": "1"}, ":seg": {"NS": [str(segment)]},
                                                            ":i": {"N": str(segment)}})
        except ClientError as error:
            if not is_conditional_failure(error):
                raise


def summary(job: dict) -> dict:
    """What webhooks and the state machine are told about a delete-all."""
    fields = ("id", "status", "total", "deleted", "created_at", "started_at", "finished_at", "error", "request_id")
    return {f: job.get(f) for f in fields}


def view(job: dict, now: str | None = None) -> dict:
    """The job item plus percent and rate, as the page polls it."""
    total, deleted = job.get("total") or 0, job.get("deleted") or 0
    started = job.get("started_at")
    end = job.get("finished_at") or now or now_iso()
    seconds = max((parse_iso(end) - parse_iso(started)).total_seconds(), 0.0) if started else 0.0
    out = {k: v for k, v in job.items() if k not in _HIDDEN_FIELDS}
    if job.get("status") == SUCCEEDED:
        percent = 100.0
    else:
        percent = round(min(100.0, 100.0 * deleted / total), 1) if total else 0.0
    out.update(percent=percent, elapsed_seconds=round(seconds, 3),
               items_per_second=round(deleted / seconds, 1) if seconds > 0 else 0.0)
    return out
