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

Work is split by shard rather than by Scan segments: a shard is a key range in every index, so
each worker reads only its own keys (measured on dynalite, where a segmented Scan reads the whole
index once per segment). On AWS the shard queries spread over the index's partitions as well.
"""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from catalog.products.delete_all_jobs import ENDED, FAILED, QUEUED, RUNNING, SUCCEEDED, DeleteAllJobs, new_job_id, summary
from catalog.products.errors import DeleteAllRunning, ImportRunning, IncompleteDeleteAllError
from catalog.products.stats import CatalogStats
from catalog.products.store import ProductStore
from catalog.shared import events
from catalog.shared.aws import client
from catalog.shared.catalog_lock import CatalogLock
from catalog.shared.clock import now_iso
from catalog.shared.failures import readable_failure
from catalog.shared.settings import Settings

SCAN_PAGE = 5000                    # keys per read: progress is reported after each page
WRITE_THREADS = 4                   # concurrent BatchWriteItem calls per segment
RESERVE_MS = 60_000                 # a segment invocation hands over when less time than this is left


def start(settings: Settings) -> dict:
    """Starts a delete-all; raises ImportRunning or DeleteAllRunning when it must not start."""
    lock, jobs = CatalogLock(settings.imports_table), DeleteAllJobs(settings.imports_table)
    running_import = lock.running_import()
    if running_import:
        raise ImportRunning(running_import)
    job_id = new_job_id()
    holder = lock.acquire(job_id)
    if holder:
        raise DeleteAllRunning(holder)
    total, _ = CatalogStats(settings.imports_table).get()
    jobs.create(job_id, total=total, segments=settings.delete_all_segments)
    try:
        execution = client("stepfunctions").start_execution(
            stateMachineArn=settings.delete_all_state_machine_arn, name=job_id, input=json.dumps({"job_id": job_id}))
    except Exception as error:
        fail(settings, job_id, {"Error": type(error).__name__, "Cause": str(error)})
        raise
    jobs.set_execution(job_id, execution["executionArn"])
    return jobs.get(job_id)


def plan(settings: Settings, job_id: str) -> dict:
    """One work item per group of shards (from the catalog stats), shards dealt out round-robin."""
    jobs = DeleteAllJobs(settings.imports_table)
    job = jobs.get(job_id)
    if job is None:
        raise IncompleteDeleteAllError(f"delete-all {job_id} does not exist")
    _, shards = CatalogStats(settings.imports_table).get()
    n = max(1, min(int(job["total_segments"]), len(shards)))
    jobs.transition(job_id, RUNNING, (QUEUED, RUNNING), {"started_at": now_iso(), "total_segments": n})
    return {"job_id": job_id, "max_concurrency": n,
            "segments": [{"job_id": job_id, "segment": i, "total_segments": n, "shards": shards[i::n],
                          "shard_index": 0, "start_key": None, "done": False} for i in range(n)]}


def _scan_keys(products_table: str, start_key: dict | None) -> tuple[list[str], dict | None]:
    kwargs = dict(TableName=products_table, IndexName="search", ProjectionExpression="sku_key", Limit=SCAN_PAGE)
    if start_key:
        kwargs["ExclusiveStartKey"] = start_key
    response = client("dynamodb").scan(**kwargs)
    return [i["sku_key"]["S"] for i in response.get("Items", [])], response.get("LastEvaluatedKey")


def _query_keys(products_table: str, shard: str, start_key: str | None) -> tuple[list[str], str | None]:
    kwargs = dict(TableName=products_table, IndexName="search", KeyConditionExpression="#sh = :s",
                  ExpressionAttributeNames={"#sh": "shard"}, ExpressionAttributeValues={":s": {"S": shard}},
                  ProjectionExpression="sku_key", Limit=SCAN_PAGE)
    if start_key is not None:
        kwargs["ExclusiveStartKey"] = {"shard": {"S": shard}, "sku_key": {"S": start_key}}
    response = client("dynamodb").query(**kwargs)
    last = response.get("LastEvaluatedKey")
    return [i["sku_key"]["S"] for i in response.get("Items", [])], (last["sku_key"]["S"] if last else None)


def _delete_keys(store: ProductStore, keys: list[str], pool: ThreadPoolExecutor) -> None:
    step = 25 * 8
    list(pool.map(store.delete_many, [keys[i:i + step] for i in range(0, len(keys), step)]))


def delete_segment(settings: Settings, work: dict, remaining_ms=lambda: 900_000) -> dict:
    """Deletes the products of one group of shards (keys read from the slim `search` index, one
    Query per page); returns the work item, `done` or with where to go on when time runs low."""
    job_id, segment = work["job_id"], int(work["segment"])
    jobs = DeleteAllJobs(settings.imports_table)
    job = jobs.get(job_id)
    if job is None or job["status"] != RUNNING:
        return {**work, "start_key": None, "done": True}
    store = ProductStore(settings.products_table)
    shards, index, start_key = list(work.get("shards") or []), int(work.get("shard_index") or 0), work.get("start_key")
    with ThreadPoolExecutor(max_workers=WRITE_THREADS) as pool:
        while index < len(shards):
            keys, start_key = _query_keys(settings.products_table, shards[index], start_key)
            _delete_keys(store, keys, pool)
            jobs.add_deleted(job_id, len(keys))
            if start_key is None:
                index += 1
            if index < len(shards) and remaining_ms() < RESERVE_MS:
                return {**work, "shard_index": index, "start_key": start_key, "done": False}
    jobs.segment_done(job_id, segment)
    return {**work, "shard_index": len(shards), "start_key": None, "done": True}


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
    store, start_key = ProductStore(settings.products_table), None
    with ThreadPoolExecutor(max_workers=WRITE_THREADS) as pool:
        while True:
            keys, start_key = _scan_keys(settings.products_table, start_key)
            _delete_keys(store, keys, pool)
            jobs.add_deleted(job_id, len(keys))
            if start_key is None:
                break
    CatalogStats(settings.imports_table).reset()
    if jobs.transition(job_id, SUCCEEDED, (RUNNING,), {"finished_at": now_iso()}):
        CatalogLock(settings.imports_table).release(job_id)
        done_job = jobs.get(job_id)
        events.publish(events.PRODUCTS_DELETED_ALL, summary(done_job), event_id=f"evt_{job_id}_done")
        return summary(done_job)
    return summary(jobs.get(job_id))


def fail(settings: Settings, job_id: str, error: dict | None) -> dict:
    jobs, lock = DeleteAllJobs(settings.imports_table), CatalogLock(settings.imports_table)
    message = readable_failure(error, job="delete-all")
    if jobs.transition(job_id, FAILED, (QUEUED, RUNNING), {"error": message, "finished_at": now_iso()}):
        job = jobs.get(job_id)
        # Products were deleted up to here: keep the count honest (shards stay; empty ones cost one query).
        CatalogStats(settings.imports_table).add(-int(job.get("deleted") or 0))
        lock.release(job_id)
        return summary(job)
    lock.release(job_id)
    job = jobs.get(job_id)
    return summary(job) if job else {"id": job_id, "status": "UNKNOWN"}
