"""An import's life from the file's arrival to its end: the steps the functions call.

start_from_object   S3 event        -> import item + Step Functions execution (once per object write);
                                       under preview/ a preview (mode "preview": writes nothing)
start_again         API from_import -> a new import (or preview) of an earlier import's uploaded file
run_plan            state "Plan"    -> manifest in S3, totals on the item
finish              state "Finish"  -> error report, SUCCEEDED, upload.completed
fail                state "MarkFailed" -> FAILED with a readable message, upload.failed
cancel              API             -> CANCELLED; chunks not yet started skip themselves
close_if_abandoned  API read        -> FAILED when the upload never came or the execution no longer runs

The call that moves an import to its end (SUCCEEDED, FAILED, CANCELLED) records it in the metrics
sink its caller passes: once per import, however often a step is retried.
"""
from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass

from botocore.exceptions import ClientError

from catalog.imports.chunks import sample_part_key
from catalog.imports.columns import MAX_HEADER_CHARS
from catalog.imports.error_report import write_error_report
from catalog.imports.errors import (
    BadFileError,
    CatalogBusy,
    DeleteAllRunning,
    ImportEnded,
    ImportNotFound,
    ImportRefused,
    IncompleteImportError,
    MissingColumns,
    SourceFileGone,
    SourceImportNotFound,
    SourceNotUploaded,
)
from catalog.imports.planner import plan_import
from catalog.imports.presets import PresetStore, drop_folder, mapping_for_import
from catalog.imports.progress import (
    ACTIVE,
    CANCELLED,
    FAILED,
    FINALIZING,
    IMPORT_ID,
    IMPORT_MODE,
    PENDING,
    PLANNING,
    PREVIEW_MODE,
    PROCESSING,
    QUEUED,
    SUCCEEDED,
    TERMINAL,
    ImportStore,
    chunk_map,
    import_id_for_object,
    new_import_id,
)
from catalog.products.catalog_store import SAMPLE_SIZE
from catalog.products.catalogs import catalog_store
from catalog.shared import events
from catalog.shared.aws import client
from catalog.shared.catalog_lock import DELETE_ALL, IMPORT, CatalogLock
from catalog.shared.clock import now_iso, parse_iso
from catalog.shared.failures import readable_failure
from catalog.shared.metrics import (
    COUNT,
    IMPORT_DURATION,
    IMPORTS_CANCELLED,
    IMPORTS_FAILED,
    IMPORTS_SUCCEEDED,
    NO_METRICS,
    PREVIEWS_CANCELLED,
    PREVIEWS_FAILED,
    PREVIEWS_SUCCEEDED,
    ROWS_FAILED,
    ROWS_IMPORTED,
    ROWS_PREVIEWED,
    SECONDS,
    MetricsSink,
)
from catalog.shared.settings import Settings

INCOMING_PREFIX = "incoming/"
PREVIEW_PREFIX = "preview/"         # a file dropped here gets a preview, not an import
MAX_HEADERS_SHOWN = 500     # of a file whose required columns are missing: keeps its item far under 400 KB
_INTERNAL_FIELDS = ("done_chunks", "started_chunks", "failed_chunks", "retried_chunks", "kind", "execution_arn",
                    "bucket", "error_report_key", "columns", "planned_duplicates")
_API_KEY = re.compile(rf"^incoming/({IMPORT_ID})/[^/]+$")
REFUSED_DURING_DELETE_ALL = "a delete-all is running; import again when it has finished"
EXECUTION_GONE = ("The import was interrupted: its workflow {state} before the import finished. Products "
                  "written so far are kept; import the file again to complete it.")
EXECUTION_CHECK_SECONDS = 30        # how often one container asks whether an active import's execution still runs
_execution_checked: dict[str, float] = {}     # import id -> when this container last asked
_execution_checked_lock = threading.Lock()


@dataclass
class StartOutcome:
    import_id: str | None
    started: bool
    reason: str = ""


def start_from_object(settings: Settings, *, bucket: str, key: str, size: int | None,
                      version: str, event_time: str, metrics: MetricsSink = NO_METRICS) -> StartOutcome:
    """Starts the import (under preview/: the preview) of one uploaded object. Safe to call again
    for the same event."""
    if not key.startswith((INCOMING_PREFIX, PREVIEW_PREFIX)) or key.endswith("/"):
        return StartOutcome(None, False, "not under incoming/ or preview/")
    imports = ImportStore(settings.imports_table)
    holder = CatalogLock(settings.imports_table).holder()
    if holder and holder.kind == DELETE_ALL:
        # No import is interleaved into a half-deleted catalog.
        return _refuse(imports, metrics, bucket=bucket, key=key, size=size, version=version,
                       event_time=event_time)
    import_id, _ = _claim(imports, QUEUED, bucket=bucket, key=key, size=size, version=version,
                          event_time=event_time)
    return _start_execution(settings, imports, import_id)


def _start_execution(settings: Settings, imports: ImportStore, import_id: str) -> StartOutcome:
    """Starts the execution of a QUEUED import, named after it (so once), and records its ARN."""
    if imports.status_of(import_id) != QUEUED:
        return StartOutcome(import_id, False, "already started or finished")
    try:
        execution = client("stepfunctions").start_execution(
            stateMachineArn=settings.import_state_machine_arn, name=import_id,
            input=json.dumps({"import_id": import_id}))
    except ClientError as error:
        if error.response["Error"]["Code"] == "ExecutionAlreadyExists":
            return StartOutcome(import_id, False, "execution already exists")
        raise
    imports.transition(import_id, to=QUEUED, allowed_from=(QUEUED,),
                       values={"execution_arn": execution["executionArn"]})
    return StartOutcome(import_id, True)


def start_again(settings: Settings, from_import: str, mode: str = IMPORT_MODE, *,
                mapping: dict[str, str] | None = None, preset: str | None = None) -> dict:
    """A new import (or preview) of the file an earlier import or preview uploaded, without a second
    upload: same bucket, key, file name; started at once. Its item, QUEUED. The column mapping and
    preset are the earlier import's unless given (a preview's "Import this file" imports as it previewed)."""
    imports = ImportStore(settings.imports_table)
    earlier = imports.get(from_import)
    if earlier is None:
        raise SourceImportNotFound(from_import)
    if earlier["status"] == PENDING:
        raise SourceNotUploaded(from_import)
    try:
        head = client("s3").head_object(Bucket=earlier["bucket"], Key=earlier["key"])
    except ClientError as error:
        if error.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            raise SourceFileGone(from_import, earlier["key"]) from None
        raise
    holder = CatalogLock(settings.imports_table).holder()
    if holder and holder.kind == DELETE_ALL:
        raise DeleteAllRunning(REFUSED_DURING_DELETE_ALL)
    import_id = new_import_id()
    imports.create(import_id, status=QUEUED, source="api", bucket=earlier["bucket"], key=earlier["key"],
                   file_name=earlier["file_name"], size=head["ContentLength"], mode=mode, from_import=from_import,
                   mapping=(mapping if mapping else earlier.get("mapping")) or None,
                   preset=preset if preset is not None else earlier.get("preset"))
    try:
        _start_execution(settings, imports, import_id)
    except Exception:
        # No execution: nothing would ever end the item, so it ends here (the caller sees the error).
        imports.transition(import_id, to=FAILED, allowed_from=(QUEUED,),
                           values={"error": "The import could not be started; try again", "finished_at": now_iso()})
        raise
    return imports.get(import_id)


def _claim(imports: ImportStore, status: str, *, bucket: str, key: str, size: int | None, version: str,
           event_time: str, values: dict | None = None) -> tuple[str, bool]:
    """The import item for this object, moved to `status`: the API's PENDING item when the key is
    one it handed out, else one created for the drop. (import id, whether this call moved it)."""
    match = _API_KEY.match(key)
    if match and imports.get(match.group(1)):
        import_id = match.group(1)
        return import_id, imports.transition(import_id, to=status, allowed_from=(PENDING,),
                                             values={**(values or {}), "size": size})
    import_id = import_id_for_object(bucket, key, version, event_time)
    created = imports.create(import_id, status=status, source="s3", bucket=bucket, key=key,
                             file_name=key.rsplit("/", 1)[-1], size=size,
                             mode=PREVIEW_MODE if key.startswith(PREVIEW_PREFIX) else IMPORT_MODE, drop_folder=drop_folder(key))
    if created and values:
        imports.transition(import_id, to=status, allowed_from=(status,), values=values)
    return import_id, created


def _refuse(imports: ImportStore, metrics: MetricsSink, **obj) -> StartOutcome:
    """Marks the arriving import FAILED with a clear message (once) and tells its subscribers."""
    import_id, refused = _claim(imports, FAILED, **obj,
                                values={"error": REFUSED_DURING_DELETE_ALL, "finished_at": now_iso()})
    if refused:
        item = imports.get(import_id)
        record_end(metrics, item, IMPORTS_FAILED)
        _publish_end(events.UPLOAD_FAILED, item, "failed")
    return StartOutcome(import_id, False, REFUSED_DURING_DELETE_ALL)


def run_plan(settings: Settings, import_id: str) -> dict:
    imports = ImportStore(settings.imports_table)
    item = imports.get(import_id)
    if item is None:
        raise BadFileError(f"import {import_id} does not exist")
    if item["status"] not in (QUEUED, PLANNING):
        raise BadFileError(f"the import is {item['status']}, not waiting to be planned")
    lock = CatalogLock(settings.imports_table)
    preview = item.get("mode") == PREVIEW_MODE
    # A preview writes nothing, so it takes no lock (it never holds up an import, a delete-all or a
    # product write); it waits, as an import does, while another import or a delete-all holds the
    # catalog, so that it does not start against a half-written one.
    holder = lock.holder() if preview else lock.acquire(import_id, IMPORT)
    if holder and holder.kind == DELETE_ALL:
        raise ImportRefused(REFUSED_DURING_DELETE_ALL)
    if holder:
        arn = (imports.get(holder.job_id) or {}).get("execution_arn")
        state = _execution_state(arn) if arn else "RUNNING"     # no execution known yet: it is starting
        if state == "RUNNING":
            # One import at a time per catalog: this one waits, queued (the state machine retries).
            imports.transition(import_id, to=QUEUED, allowed_from=(QUEUED,), values={"waiting_for": holder.job_id})
            raise CatalogBusy(holder.job_id)
        if not preview:
            if not lock.take_over(import_id, IMPORT, previous=holder.job_id):
                raise CatalogBusy(holder.job_id)
            _close_lost(settings, holder.job_id, state, NO_METRICS)    # its execution ended: it never will
    if not imports.transition(import_id, to=PLANNING, allowed_from=(QUEUED, PLANNING),
                              values={"started_at": now_iso()}):
        lock.release(import_id)
        raise BadFileError(f"the import is {imports.status_of(import_id)}, not waiting to be planned")
    mapping, preset = mapping_for_import(PresetStore(settings.imports_table), item)
    try:
        plan = plan_import(import_id, item["bucket"], item["key"], chunk_rows=settings.chunk_rows,
                           max_bytes=settings.max_upload_bytes,
                           into_empty_catalog=catalog_store(settings).is_empty(),
                           mode=item.get("mode") or IMPORT_MODE, mapping=mapping)
    except MissingColumns as missing:
        # The import fails (MarkFailed), and its item shows the file's headers for a mapping form.
        imports.transition(import_id, to=PLANNING, allowed_from=(PLANNING,), values={
            "headers": [h[:MAX_HEADER_CHARS] for h in missing.headers[:MAX_HEADERS_SHOWN]],
            "missing_columns": missing.missing, "column_mapping": missing.mapping})
        raise BadFileError(missing.message) from None     # the error type failures.readable_failure words
    planned = {
        "total_rows": plan.total_rows, "total_chunks": plan.chunk_count, "planned_duplicates": plan.duplicates,
        "unknown_columns": plan.unknown_columns, "columns": plan.columns, "bytes_processed": plan.header_bytes,
        "column_mapping": plan.column_mapping, "preset": preset, "file_layout": plan.layout,
    }
    imports.transition(import_id, to=PROCESSING, allowed_from=(PLANNING,),
                       values={k: v for k, v in planned.items() if v is not None})
    return {"import_id": import_id, "bucket": item["bucket"], "manifest_key": plan.manifest_key,
            "chunk_count": plan.chunk_count, "max_concurrency": settings.chunk_concurrency}


def _execution_state(arn: str) -> str | None:
    """The Step Functions execution's status (RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED), or
    None when it does not exist."""
    try:
        return client("stepfunctions").describe_execution(executionArn=arn)["status"]
    except ClientError as error:
        if error.response["Error"]["Code"] == "ExecutionDoesNotExist":
            return None
        raise


def close_if_execution_gone(settings: Settings, item: dict, metrics: MetricsSink = NO_METRICS) -> dict:
    """An import still marked active whose execution no longer runs (it was aborted, timed out
    before its timeout rule ran, or was lost with the service that ran it) would stay active
    forever: close it as FAILED with a readable message, give the catalog back if it holds it, and
    tell subscribers (upload.failed). Lazily, when the import is read; each container asks Step
    Functions about one import at most every EXECUTION_CHECK_SECONDS. Returns the item as it is now."""
    if item.get("status") not in ACTIVE or item["status"] == PENDING or not item.get("execution_arn"):
        return item
    now = time.monotonic()
    with _execution_checked_lock:
        if now - _execution_checked.get(item["id"], float("-inf")) < EXECUTION_CHECK_SECONDS:
            return item
        if len(_execution_checked) > 10_000:
            _execution_checked.clear()
        _execution_checked[item["id"]] = now
    state = _execution_state(item["execution_arn"])
    if state == "RUNNING":
        return item
    return _close_lost(settings, item["id"], state, metrics)


def _close_lost(settings: Settings, import_id: str, state: str | None, metrics: MetricsSink) -> dict:
    imports = ImportStore(settings.imports_table)
    how = "no longer exists" if state is None else f"ended ({state})"
    if imports.transition(import_id, to=FAILED, allowed_from=ACTIVE,
                          values={"error": EXECUTION_GONE.format(state=how), "finished_at": now_iso()}):
        CatalogLock(settings.imports_table).release(import_id)
        item = imports.get(import_id)
        record_end(metrics, item, IMPORTS_FAILED)
        _publish_end(events.UPLOAD_FAILED, item, "failed")
        return item
    return imports.get(import_id) or {"id": import_id, "status": "UNKNOWN"}


def _publish_end(event_type: str, item: dict, suffix: str) -> None:
    """upload.completed / upload.failed tell subscribers the catalog changed (or did not); a
    preview changes nothing, so it publishes neither."""
    if item.get("mode") != PREVIEW_MODE:
        events.publish(event_type, summary(item), event_id=f"evt_{item['id']}_{suffix}")


def summary(item: dict) -> dict:
    """What users and webhooks are told about an import."""
    fields = ("id", "status", "file_name", "source", "total_rows", "rows_processed", "created", "updated",
              "unchanged", "failed", "duplicates", "created_at", "started_at", "finished_at", "error",
              "request_id", "unknown_columns")
    return {f: item.get(f) for f in fields}


def record_end(metrics: MetricsSink, item: dict, outcome: str) -> None:
    """An import that just ended: its outcome (IMPORTS_SUCCEEDED, _FAILED or _CANCELLED), its rows
    (imported = created, updated or already identical; failed = bad rows) and how long it ran.
    A preview imports nothing: its outcome and the rows it read are metrics of their own."""
    if item.get("mode") == PREVIEW_MODE:
        metrics.add_metric(_PREVIEW_OUTCOMES[outcome], COUNT, 1)
        metrics.add_metric(ROWS_PREVIEWED, COUNT, int(item.get("rows_processed") or 0))
        return
    metrics.add_metric(outcome, COUNT, 1)
    metrics.add_metric(ROWS_IMPORTED, COUNT, sum(int(item.get(k) or 0) for k in ("created", "updated", "unchanged")))
    metrics.add_metric(ROWS_FAILED, COUNT, int(item.get("failed") or 0))
    started, finished = item.get("started_at") or item.get("created_at"), item.get("finished_at")
    if started and finished:
        metrics.add_metric(IMPORT_DURATION, SECONDS, max((parse_iso(finished) - parse_iso(started)).total_seconds(), 0.0))


_PREVIEW_OUTCOMES = {IMPORTS_SUCCEEDED: PREVIEWS_SUCCEEDED, IMPORTS_FAILED: PREVIEWS_FAILED,
                     IMPORTS_CANCELLED: PREVIEWS_CANCELLED}


def finish(settings: Settings, import_id: str, metrics: MetricsSink = NO_METRICS) -> dict:
    imports = ImportStore(settings.imports_table)
    item = imports.get(import_id)
    if item is None:
        raise IncompleteImportError(f"import {import_id} does not exist")
    if item["status"] == CANCELLED:
        report = write_error_report(item["bucket"], import_id, item.get("columns", []))
        if report:
            imports.transition(import_id, to=CANCELLED, allowed_from=(CANCELLED,),
                               values={"error_report_key": report})
        CatalogLock(settings.imports_table).release(import_id)     # every chunk has returned
        return summary(imports.get(import_id))
    done, total = item.get("chunks_done", 0), item.get("total_chunks", 0)
    if done != total:
        raise IncompleteImportError(f"{total - done} of {total} chunks did not finish")
    imports.transition(import_id, to=FINALIZING, allowed_from=(PROCESSING, FINALIZING))
    preview = item.get("mode") == PREVIEW_MODE
    if not preview:
        catalog_store(settings).import_finished(int(item.get("created") or 0) + int(item.get("updated") or 0))
    report = write_error_report(item["bucket"], import_id, item.get("columns", []))
    values = {"finished_at": now_iso()}
    if report:
        values["error_report_key"] = report
    if preview:
        values["sample_changes"] = merged_sample(item["bucket"], import_id)
    ended = imports.transition(import_id, to=SUCCEEDED, allowed_from=(FINALIZING,), values=values)
    CatalogLock(settings.imports_table).release(import_id)
    if ended:
        done_item = imports.get(import_id)
        record_end(metrics, done_item, IMPORTS_SUCCEEDED)
        _publish_end(events.UPLOAD_COMPLETED, done_item, "completed")
        return summary(done_item)
    return summary(imports.get(import_id))


def merged_sample(bucket: str, import_id: str) -> list[dict]:
    """A preview's chunks' samples joined in chunk order (so in file order), the first SAMPLE_SIZE.
    One listing, then a GET per chunk that had changes, stopping once enough are in."""
    s3 = client("s3")
    prefix = sample_part_key(import_id, 0).rsplit("/", 1)[0] + "/"
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    sample: list[dict] = []
    for key in sorted(keys):
        if len(sample) >= SAMPLE_SIZE:
            break
        sample += json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    return sample[:SAMPLE_SIZE]


def fail(settings: Settings, import_id: str, error: dict | None, request_id: str = "",
         metrics: MetricsSink = NO_METRICS) -> dict:
    """FAILED with a readable message and the request id under which the caller logs the raw
    `error` (which users never see: it can name roles and accounts), and upload.failed."""
    imports = ImportStore(settings.imports_table)
    message = readable_failure(error, request_id=request_id)
    values = {"error": message, "finished_at": now_iso()}
    if request_id:
        values["request_id"] = request_id
    ended = imports.transition(import_id, to=FAILED, allowed_from=ACTIVE, values=values)
    CatalogLock(settings.imports_table).release(import_id)     # the execution ends here
    if ended:
        item = imports.get(import_id)
        record_end(metrics, item, IMPORTS_FAILED)
        _publish_end(events.UPLOAD_FAILED, item, "failed")
        return summary(item)
    item = imports.get(import_id)
    return summary(item) if item else {"id": import_id, "status": "UNKNOWN"}


def cancel(settings: Settings, import_id: str, metrics: MetricsSink = NO_METRICS) -> dict:
    """Cancels a running import and returns its item; ImportEnded when it had already ended.
    Chunks not yet started skip themselves. A queued import's execution is stopped at once; one
    that holds the catalog runs on to its Finish step, which gives the catalog back only when
    every chunk has returned, so the next import never overlaps a cancelled one's last writes."""
    imports = ImportStore(settings.imports_table)
    before = imports.get(import_id)
    if before is None:
        raise ImportNotFound(import_id)
    if not imports.transition(import_id, to=CANCELLED, allowed_from=ACTIVE,
                              values={"finished_at": now_iso(), "error": "Cancelled by the user"}):
        raise ImportEnded(imports.status_of(import_id) or before["status"])
    item = imports.get(import_id)
    record_end(metrics, item, IMPORTS_CANCELLED)
    if before["status"] in (PENDING, QUEUED) and item.get("execution_arn"):
        try:
            client("stepfunctions").stop_execution(executionArn=item["execution_arn"], cause="Cancelled by the user")
        except ClientError:
            pass  # the execution may have ended on its own; the item's status already rules the chunks
    return item


def close_if_abandoned(settings: Settings, item: dict) -> dict:
    """An import that can no longer end on its own is closed as FAILED, lazily, when it is read:
    a PENDING one whose upload link has expired (its file will never arrive), or an active one
    whose execution no longer runs (close_if_execution_gone). Returns the item as it is now."""
    if item.get("status") != PENDING:
        return close_if_execution_gone(settings, item)
    age = (parse_iso(now_iso()) - parse_iso(item["created_at"])).total_seconds()
    if age <= settings.upload_url_seconds + 60:
        return item
    ImportStore(settings.imports_table).transition(
        item["id"], to=FAILED, allowed_from=(PENDING,),
        values={"error": "The file never arrived: the upload link expired", "finished_at": now_iso()})
    return ImportStore(settings.imports_table).get(item["id"]) or item


def progress(item: dict, now: str | None = None) -> dict:
    """The import item plus what the page shows: percent, rate and ETA."""
    total, done = item.get("total_rows") or 0, item.get("rows_processed") or 0
    started = item.get("started_at")
    end = item.get("finished_at") or now or now_iso()
    seconds = max((parse_iso(end) - parse_iso(started)).total_seconds(), 0.0) if started else 0.0
    rate = done / seconds if seconds > 0 else 0.0
    remaining = (total - done) / rate if rate > 0 and item["status"] not in TERMINAL else None
    view = {k: v for k, v in item.items() if k not in _INTERNAL_FIELDS}
    view["mode"] = item.get("mode") or IMPORT_MODE       # items from before previews existed were imports
    if item["status"] != QUEUED:
        view.pop("waiting_for", None)       # only a queued import waits for another
    if item.get("total_chunks"):
        view["chunk_map"] = chunk_map(item)
    view.update(percent=round(100.0 * done / total, 1) if total else (100.0 if item["status"] == SUCCEEDED else 0.0),
                elapsed_seconds=round(seconds, 3), rows_per_second=round(rate, 1),
                eta_seconds=round(remaining, 1) if remaining is not None else None)
    return view
