"""Export job items (kind "export" in the imports table): creation, status transitions, progress
and the view the API answers with."""
from __future__ import annotations

import secrets
import time

from catalog.shared import dynamo
from catalog.shared.clock import now_iso, parse_iso, stamp_id
from catalog.shared.dynamo import to_item
from catalog.shared.job_items import QUEUED, SUCCEEDED, JobItems

KIND = "export"
KEEP_DAYS = 7                    # the item's TTL; the bucket's `exports/` lifecycle rule matches it
_HIDDEN_FIELDS = ("kind", "execution_arn", "upload_id", "bucket", "key", "expires_at")


def new_job_id() -> str:
    return stamp_id("exp", secrets.token_hex(6))


class ExportJobs(JobItems):
    kind = KIND

    def create(self, job_id: str, *, filters: dict, total: int | None, bucket: str, key: str, file_name: str) -> dict:
        now = now_iso()
        item = {"id": job_id, "kind": KIND, "status": QUEUED, "filters": filters, "total": total, "rows": 0,
                "parts": 0, "bytes": 0, "bucket": bucket, "key": key, "file_name": file_name, "created_at": now,
                "expires_at": int(time.time()) + KEEP_DAYS * 86400}
        self.ddb.put_item(TableName=self.table, Item=to_item(item))
        return self.get(job_id)

    def set_values(self, job_id: str, values: dict) -> None:
        """SET of plain values: progress is set from what the state machine carries (never added), so a
        retried step writes the same numbers again."""
        names = {f"#v{i}": name for i, name in enumerate(values)}
        expr = {f":v{i}": dynamo.to_value(value) for i, value in enumerate(values.values())}
        self.ddb.update_item(TableName=self.table, Key={"id": {"S": job_id}},
                             UpdateExpression="SET " + ", ".join(f"#v{i} = :v{i}" for i in range(len(values))),
                             ExpressionAttributeNames=names, ExpressionAttributeValues=expr)


def view(job: dict, now: str | None = None) -> dict:
    """The job item as the API shows it: progress, rate and where to poll; the download link is added
    by the caller (it is signed per request)."""
    rows, total = int(job.get("rows") or 0), job.get("total")
    started = job.get("started_at")
    end = job.get("finished_at") or now or now_iso()
    seconds = max((parse_iso(end) - parse_iso(started)).total_seconds(), 0.0) if started else 0.0
    out = {k: v for k, v in job.items() if k not in _HIDDEN_FIELDS}
    out["filters"] = {"sku": None, "q": None, "active": None, **(job.get("filters") or {})}
    out["total"] = total
    if job.get("status") == SUCCEEDED:
        percent = 100.0
    elif total:
        percent = round(min(99.9, 100.0 * rows / total), 1)
    else:
        percent = 0.0
    out.update(percent=percent, elapsed_seconds=round(seconds, 3),
               rows_per_second=round(rows / seconds, 1) if seconds > 0 else 0.0,
               url=f"/products/exports/{job['id']}")
    return out
