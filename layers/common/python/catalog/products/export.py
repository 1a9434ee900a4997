"""Export: a background job that writes the catalog (or the products a filter matches) as a CSV in S3,
its steps as the functions call them.

start   API                  -> job item (QUEUED) + Step Functions execution (named after the job)
begin   state "Begin"        -> RUNNING; the S3 multipart upload (exports/<job id>/<file>)
write   state "Write" (loop) -> big pages from the catalog store (CatalogStore.export_pages) into CSV
                                parts of at least `export_part_bytes`; when its time runs short (or
                                after `export_invocation_seconds`) it hands back where the next page
                                starts, the upload's ETags and the counts, and the state machine calls
                                it again: no invocation runs near its timeout
finish  state "Finish"       -> completes the upload, SUCCEEDED with rows and bytes
fail    state "MarkFailed"   -> aborts the upload, FAILED with a readable message

Every write invocation uploads at least one part, so the loop always moves on. A retried write
starts from the same position and uploads the same part numbers again (S3 keeps the last), and
progress is SET from the carried counts, never added: retries change nothing. The export reads the
catalog page by page while it may change: a product written during the export appears as its page
found it (the file is not a point-in-time snapshot).
"""
from __future__ import annotations

import json
import time
from typing import Callable

from botocore.exceptions import ClientError

from catalog.products.catalogs import catalog_store
from catalog.products.errors import IncompleteExportError
from catalog.products.export_jobs import ExportJobs, new_job_id
from catalog.products.export_parts import PartWriter
from catalog.products.pages import ProductFilter
from catalog.shared.aws import client
from catalog.shared.clock import now_iso
from catalog.shared.failures import readable_failure
from catalog.shared.job_items import ENDED, FAILED, QUEUED, RUNNING, SUCCEEDED
from catalog.shared.settings import Settings

RESERVE_MS = 120_000             # a write invocation hands over when less time than this is left
LINK_SECONDS = 900               # how long a download link stays valid (a new one with every read)


def filters_of(f: ProductFilter) -> dict:
    return {k: v for k, v in (("sku", f.sku or None), ("q", f.q or None), ("active", f.active)) if v is not None}


def filter_of(job: dict) -> ProductFilter:
    filters = job.get("filters") or {}
    return ProductFilter(filters.get("sku") or "", filters.get("q") or "", filters.get("active"))


def start(settings: Settings, f: ProductFilter) -> dict:
    """Creates the job and starts its execution; the job item (QUEUED)."""
    jobs = ExportJobs(settings.imports_table)
    job_id = new_job_id()
    file_name = f"products-{job_id.split('_')[1]}.csv"
    total = catalog_store(settings).count() if f.empty else None     # a filtered count is not cheap on every store
    jobs.create(job_id, filters=filters_of(f), total=total, bucket=settings.uploads_bucket,
                key=f"exports/{job_id}/{file_name}", file_name=file_name)
    try:
        execution = client("stepfunctions").start_execution(
            stateMachineArn=settings.export_state_machine_arn, name=job_id, input=json.dumps({"job_id": job_id}))
    except Exception as error:
        fail(settings, job_id, {"Error": type(error).__name__, "Cause": str(error)})
        raise
    jobs.set_values(job_id, {"execution_arn": execution["executionArn"]})
    return jobs.get(job_id)


def _job(jobs: ExportJobs, job_id: str) -> dict:
    job = jobs.get(job_id)
    if job is None:
        raise IncompleteExportError(f"export {job_id} does not exist")
    return job


def begin(settings: Settings, job_id: str) -> dict:
    """RUNNING, and the multipart upload (the same one when the step is retried after making it)."""
    jobs = ExportJobs(settings.imports_table)
    job = _job(jobs, job_id)
    upload_id = job.get("upload_id") or client("s3").create_multipart_upload(
        Bucket=job["bucket"], Key=job["key"], ContentType="text/csv; charset=utf-8",
        ContentDisposition=f'attachment; filename="{job["file_name"]}"')["UploadId"]
    jobs.transition(job_id, RUNNING, (QUEUED, RUNNING), {"started_at": job.get("started_at") or now_iso(),
                                                         "upload_id": upload_id})
    return {"job_id": job_id, "upload_id": upload_id, "position": {}, "etags": [], "rows": 0, "bytes": 0,
            "done": False}


def write(settings: Settings, work: dict, remaining_ms: Callable[[], int] = lambda: 900_000) -> dict:
    """Writes parts from `work["position"]` on; returns the work item, `done` or with where to go on."""
    job_id = work["job_id"]
    jobs = ExportJobs(settings.imports_table)
    job = _job(jobs, job_id)
    if job["status"] != RUNNING:
        return {**work, "done": True}
    s3 = client("s3")
    etags, rows, size = list(work["etags"]), int(work["rows"]), int(work["bytes"])
    parts = PartWriter(settings.export_part_bytes, header=not etags)
    started = time.monotonic()

    def upload() -> None:
        nonlocal rows, size
        body, part_rows = parts.take()
        answer = s3.upload_part(Bucket=job["bucket"], Key=job["key"], UploadId=work["upload_id"],
                                PartNumber=len(etags) + 1, Body=body)
        etags.append(answer["ETag"])
        rows, size = rows + part_rows, size + len(body)
        jobs.set_values(job_id, {"rows": rows, "bytes": size, "parts": len(etags)})

    def time_is_short() -> bool:
        return remaining_ms() < RESERVE_MS or time.monotonic() - started >= settings.export_invocation_seconds

    pages = catalog_store(settings).export_pages(filter_of(job), work.get("position") or {})
    try:
        for page in pages:
            parts.add(page.text, page.rows)
            if parts.full and page.position is not None:
                upload()
                if time_is_short():
                    return {**work, "position": page.position, "etags": etags, "rows": rows, "bytes": size,
                            "done": False}
    finally:
        pages.close()
    if not parts.empty or not etags:
        upload()                 # the last part (S3 takes any size for it)
    return {**work, "position": {}, "etags": etags, "rows": rows, "bytes": size, "done": True}


def finish(settings: Settings, work: dict) -> dict:
    """Completes the upload; SUCCEEDED with the rows and bytes written."""
    job_id = work["job_id"]
    jobs = ExportJobs(settings.imports_table)
    job = _job(jobs, job_id)
    if job["status"] in ENDED:
        return summary(job)
    s3 = client("s3")
    parts = [{"PartNumber": i + 1, "ETag": etag} for i, etag in enumerate(work["etags"])]
    if not parts:
        raise IncompleteExportError("no part of the file was written")
    try:
        s3.complete_multipart_upload(Bucket=job["bucket"], Key=job["key"], UploadId=work["upload_id"],
                                     MultipartUpload={"Parts": parts})
    except ClientError as error:
        # A retried Finish whose first attempt completed the upload: the object is there.
        if error.response["Error"]["Code"] != "NoSuchUpload":
            raise
        s3.head_object(Bucket=job["bucket"], Key=job["key"])
    jobs.transition(job_id, SUCCEEDED, (RUNNING,), {"finished_at": now_iso(), "rows": int(work["rows"]),
                                                    "bytes": int(work["bytes"]), "parts": len(parts)})
    return summary(jobs.get(job_id))


def fail(settings: Settings, job_id: str, error: dict | None, request_id: str = "") -> dict:
    """FAILED with a readable message (the raw error is logged by the caller under `request_id`); the
    upload's parts are dropped."""
    jobs = ExportJobs(settings.imports_table)
    job = jobs.get(job_id)
    if job is None:
        return {"id": job_id, "status": "UNKNOWN"}
    if job.get("upload_id") and job["status"] not in ENDED:
        try:
            client("s3").abort_multipart_upload(Bucket=job["bucket"], Key=job["key"], UploadId=job["upload_id"])
        except ClientError as abort_error:
            if abort_error.response["Error"]["Code"] != "NoSuchUpload":
                raise
    message = readable_failure(error, job="export", request_id=request_id)
    values = {"error": message, "finished_at": now_iso(), **({"request_id": request_id} if request_id else {})}
    jobs.transition(job_id, FAILED, (QUEUED, RUNNING), values)
    return summary(jobs.get(job_id))


def summary(job: dict) -> dict:
    """What the state machine is told about an export."""
    fields = ("id", "status", "rows", "bytes", "parts", "created_at", "started_at", "finished_at", "error")
    return {f: job.get(f) for f in fields}


def download_link(job: dict, seconds: int = LINK_SECONDS) -> str | None:
    """A signed GET of the finished file (attachment, text/csv), or None before it is finished."""
    if job.get("status") != SUCCEEDED:
        return None
    return client("s3").generate_presigned_url(
        "get_object", ExpiresIn=seconds,
        Params={"Bucket": job["bucket"], "Key": job["key"], "ResponseContentType": "text/csv; charset=utf-8",
                "ResponseContentDisposition": f'attachment; filename="{job["file_name"]}"'})
