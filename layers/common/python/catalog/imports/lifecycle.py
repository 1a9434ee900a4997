"""An import's life from the file's arrival to its end: the steps the functions call.

start_from_object   S3 event        -> import item + Step Functions execution (once per object write)
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

from catalog.imports.columns import MAX_HEADER_CHARS
from catalog.imports.error_report import write_error_report
from catalog.imports.errors import (
    BadFileError,
    CatalogBusy,
    ImportEnded,
    ImportNotFound,
    ImportRefused,
    IncompleteImportError,
    MissingColumns,
)
from catalog.imports.planner import plan_import
from catalog.imports.presets import PresetStore, mapping_for_import
from catalog.imports.progress import (
    ACTIVE,
    CANCELLED,
    FAILED,
    FINALIZING,
    PENDING,
    PLANNING,
    PROCESSING,
    QUEUED,
    SUCCEEDED,
    TERMINAL,
    ImportStore,
    chunk_map,
    import_id_for_object,
)
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
    ROWS_FAILED,
    ROWS_IMPORTED,
    SECONDS,
    MetricsSink,
)
from catalog.shared.settings import Settings

INCOMING_PREFIX = "incoming/"
MAX_HEADERS_SHOWN = 500     # of a file whose required columns are missing: keeps its item far under 400 KB
_INTERNAL_FIELDS = ("done_chunks", "started_chunks", "failed_chunks", "retried_chunks", "kind", "execution_arn",
                    "bucket", "error_report_key", "columns", "planned_duplicates")
_API_KEY = re.compile(r"^incoming/(imp_[0-9]{8}T[0-9]{6}_[0-9a-f]{12})/[^/]+$")
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
    """Starts the import of one uploaded object. Safe to call again for the same event."""
    if not key.startswith(INCOMING_PREFIX) or key.endswith("/"):
        return StartOutcome(None, False, "not under incoming/")
    imports = ImportStore(settings.imports_table)
    holder = CatalogLock(settings.imports_table).holder()
    if holder and holder.kind == DELETE_ALL:
        # No import is interleaved into a half-deleted catalog.
        return _refuse(imports, metrics, bucket=bucket, key=key, size=size, version=version,
                       event_time=event_time)
    import_id, _ = _claim(imports, QUEUED, bucket=bucket, key=key, size=size, version=version,
                          event_time=event_time)
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
                             file_name=key.rsplit("/", 1)[-1], size=size)
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
        events.publish(events.UPLOAD_FAILED, summary(item), event_id=f"evt_{import_id}_failed")
    return StartOutcome(import_id, False, REFUSED_DURING_DELETE_ALL)


def run_plan(settings: Settings, import_id: str) -> dict:
    imports = ImportStore(settings.imports_table)
    item = imports.get(import_id)
    if item is None:
        raise BadFileError(f"import {import_id} does not exist")
    if item["status"] not in (QUEUED, PLANNING):
        raise BadFileError(f"the import is {item['status']}, not waiting to be planned")
    lock = CatalogLock(settings.imports_table)
    holder = lock.acquire(import_id, IMPORT)
    if holder and holder.kind == DELETE_ALL:
        raise ImportRefused(REFUSED_DURING_DELETE_ALL)
    if holder:
        arn = (imports.get(holder.job_id) or {}).get("execution_arn")
        state = _execution_state(arn) if arn else "RUNNING"     # no execution known yet: it is starting
        if state == "RUNNING":
            # One import at a time per catalog: this one waits, queued (the state machine retries).
            imports.transition(import_id, to=QUEUED, allowed_from=(QUEUED,), values={"waiting_for": holder.job_id})
            raise CatalogBusy(holder.job_id)
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
                           into_empty_catalog=catalog_store(settings).is_empty(), mapping=mapping)
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
        events.publish(events.UPLOAD_FAILED, summary(item), event_id=f"evt_{import_id}_failed")
        return item
    return imports.get(import_id) or {"id": import_id, "status": "UNKNOWN"}


def summary(item: dict) -> dict:
    """What users and webhooks are told about an import."""
    fields = ("id", "status", "file_name", "source", "total_rows", "rows_processed", "created", "updated",
              "unchanged", "failed", "duplicates", "created_at", "started_at", "finished_at", "error",
              "request_id", "unknown_columns")
    return {f: item.get(f) for f in fields}


def record_end(metrics: MetricsSink, item: dict, outcome: str) -> None:
    """An import that just ended: its outcome (IMPORTS_SUCCEEDED, _FAILED or _CANCELLED), its rows
    (imported = created, updated or already identical; failed = bad rows) and how long it ran."""
    metrics.add_metric(outcome, COUNT, 1)
    metrics.add_metric(ROWS_IMPORTED, COUNT, sum(int(item.get(k) or 0) for k in ("created", "updated", "unchanged")))
    metrics.add_metric(ROWS_FAILED, COUNT, int(item.get("failed") or 0))
    started, finished = item.get("started_at") or item.get("created_at"), item.get("finished_at")
    if started and finished:
        metrics.add_metric(IMPORT_DURATION, SECONDS, max((parse_iso(finished) - parse_iso(started)).total_seconds(), 0.0))


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
    catalog_store(settings).import_finished(int(item.get("created") or 0) + int(item.get("updated") or 0))
    report = write_error_report(item["bucket"], import_id, item.get("columns", []))
    values = {"finished_at": now_iso()}
    if report:
        values["error_report_key"] = report
    ended = imports.transition(import_id, to=SUCCEEDED, allowed_from=(FINALIZING,), values=values)
    CatalogLock(settings.imports_table).release(import_id)
    if ended:
        done_item = imports.get(import_id)
        record_end(metrics, done_item, IMPORTS_SUCCEEDED)
        events.publish(events.UPLOAD_COMPLETED, summary(done_item), event_id=f"evt_{import_id}_completed")
        return summary(done_item)
    return summary(imports.get(import_id))


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
        events.publish(events.UPLOAD_FAILED, summary(item), event_id=f"evt_{import_id}_failed")
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
    if item["status"] != QUEUED:
        view.pop("waiting_for", None)       # only a queued import waits for another
    if item.get("total_chunks"):
        view["chunk_map"] = chunk_map(item)
    view.update(percent=round(100.0 * done / total, 1) if total else (100.0 if item["status"] == SUCCEEDED else 0.0),
                elapsed_seconds=round(seconds, 3), rows_per_second=round(rate, 1),
                eta_seconds=round(remaining, 1) if remaining is not None else None)
    return view
