"""Delete-all: a background job that empties the catalog, its steps as the functions call them.

start           API              -> catalog lock + job item + Step Functions execution
plan            state "Plan"     -> RUNNING; one work item per group of shards
delete_segment  Map item         -> for its group of shards, Query the slim `search` index (keys only)
                                    shard by shard and BatchWriteItem-delete; hands over a continuation
                                    when its time runs low (the state machine loops)
finish          state "Finish"   -> checks every group finished, sweeps stragglers with a Scan of the
                                    (by then empty) search index, resets the catalog stats,
                                    SUCCEEDED, products.deleted_all, lock released
fail            state "MarkFailed" -> FAILED with a readable message, lock released

How the products go is the catalog store's (catalog_store.CatalogStore): on DynamoDB by groups of
shards, each worker reading only its own keys from the slim index; on PostgreSQL one segment, one
statement. The job item, the lock, the state machine and the event are the same for both.
"""
from __future__ import annotations

import json

from catalog.products.catalogs import catalog_store
from catalog.products.delete_all_jobs import DeleteAllJobs, new_job_id, summary
from catalog.products.errors import DeleteAllRunning, ImportRunning, IncompleteDeleteAllError
from catalog.shared import events
from catalog.shared.aws import client
from catalog.shared.catalog_lock import DELETE_ALL, IMPORT, CatalogLock
from catalog.shared.clock import now_iso
from catalog.shared.failures import readable_failure
from catalog.shared.job_items import ENDED, FAILED, QUEUED, RUNNING, SUCCEEDED
from catalog.shared.settings import Settings

RESERVE_MS = 60_000                 # a segment invocation hands over when less time than this is left


def start(settings: Settings) -> dict:
    """Starts a delete-all; raises ImportRunning or DeleteAllRunning when it must not start."""
    lock, jobs = CatalogLock(settings.imports_table), DeleteAllJobs(settings.imports_table)
    running_import = lock.running_import()
    if running_import:
        raise ImportRunning(running_import)
    job_id = new_job_id()
    holder = lock.acquire(job_id, DELETE_ALL)
    if holder:
        raise ImportRunning(holder.job_id) if holder.kind == IMPORT else DeleteAllRunning(holder.job_id)
    jobs.create(job_id, total=catalog_store(settings).count(), segments=settings.delete_all_segments)
    try:
        execution = client("stepfunctions").start_execution(
            stateMachineArn=settings.delete_all_state_machine_arn, name=job_id, input=json.dumps({"job_id": job_id}))
    except Exception as error:
        fail(settings, job_id, {"Error": type(error).__name__, "Cause": str(error)})
        raise
    jobs.set_execution(job_id, execution["executionArn"])
    return jobs.get(job_id)


def plan(settings: Settings, job_id: str) -> dict:
    """One work item per segment the store cuts (at most the job's `total_segments`); `position` is
    the store's own state of the segment, carried between invocations by the state machine."""
    jobs = DeleteAllJobs(settings.imports_table)
    job = jobs.get(job_id)
    if job is None:
        raise IncompleteDeleteAllError(f"delete-all {job_id} does not exist")
    segments = catalog_store(settings).delete_all_segments(int(job["total_segments"]))
    n = len(segments)
    jobs.transition(job_id, RUNNING, (QUEUED, RUNNING), {"started_at": now_iso(), "total_segments": n})
    return {"job_id": job_id, "max_concurrency": n,
            "segments": [{"job_id": job_id, "segment": i, "total_segments": n, "position": position, "done": False}
                         for i, position in enumerate(segments)]}


def delete_segment(settings: Settings, work: dict, remaining_ms=lambda: 900_000) -> dict:
    """Deletes one segment's products; returns the work item, `done` or with where to go on when
    time runs low (the state machine loops)."""
    job_id, segment = work["job_id"], int(work["segment"])
    jobs = DeleteAllJobs(settings.imports_table)
    job = jobs.get(job_id)
    if job is None or job["status"] != RUNNING:
        return {**work, "done": True}
    position, done = catalog_store(settings).delete_segment(
        work.get("position") or {}, lambda count: jobs.add_deleted(job_id, count), lambda: remaining_ms() < RESERVE_MS)
    if done:
        jobs.segment_done(job_id, segment)
    return {**work, "position": position, "done": done}


def finish(settings: Settings, job_id: str) -> dict:
    jobs = DeleteAllJobs(settings.imports_table)
    job = jobs.get(job_id)
    if job is None:
        raise IncompleteDeleteAllError(f"delete-all {job_id} does not exist")
    if job["status"] in ENDED:
        return summary(job)
    done, total = job.get("segments_done", 0), job.get("total_segments", 0)
    if done != total:
        raise IncompleteDeleteAllError(f"{total - done} of {total} segments did not finish")
    # Stragglers (e.g. written by a client that raced the lock) go too, so the catalog ends empty.
    store = catalog_store(settings)
    store.delete_stragglers(lambda count: jobs.add_deleted(job_id, count))
    store.reset_counts()
    if jobs.transition(job_id, SUCCEEDED, (RUNNING,), {"finished_at": now_iso()}):
        CatalogLock(settings.imports_table).release(job_id)
        done_job = jobs.get(job_id)
        events.publish(events.PRODUCTS_DELETED_ALL, summary(done_job), event_id=f"evt_{job_id}_done")
        return summary(done_job)
    return summary(jobs.get(job_id))


def fail(settings: Settings, job_id: str, error: dict | None, request_id: str = "") -> dict:
    """FAILED with a readable message and the request id under which the caller logs the raw error."""
    jobs, lock = DeleteAllJobs(settings.imports_table), CatalogLock(settings.imports_table)
    message = readable_failure(error, job="delete-all", request_id=request_id)
    values = {"error": message, "finished_at": now_iso(), **({"request_id": request_id} if request_id else {})}
    if jobs.transition(job_id, FAILED, (QUEUED, RUNNING), values):
        job = jobs.get(job_id)
        catalog_store(settings).forget_deleted(int(job.get("deleted") or 0))
        lock.release(job_id)
        return summary(job)
    lock.release(job_id)
    job = jobs.get(job_id)
    return summary(job) if job else {"id": job_id, "status": "UNKNOWN"}
