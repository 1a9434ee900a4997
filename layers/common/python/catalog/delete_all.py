"""Delete-all: a background job that empties the catalog, with a progress item and a lock.

start           API              -> lock + job item (kind "delete_all") + Step Functions execution
plan            state "Plan"     -> RUNNING; one work item per scan segment
delete_segment  Map item         -> for its group of shards, Query the slim `search` index (keys only)
                                    shard by shard and BatchWriteItem-delete; hands over a continuation
                                    when its time runs low (the state machine loops)
finish          state "Finish"   -> checks every group finished, sweeps stragglers with a Scan of the
                                    (by then empty) search index, resets the
                                    catalog stats, SUCCEEDED, products.deleted_all, lock released
fail            state "MarkFailed" -> FAILED with a readable message, lock released

Work is split by shard rather than by Scan segments: a shard is a key range in every index, so
each worker reads only its own keys (measured on dynalite, where a segmented Scan reads the whole
index once per segment). On AWS the shard queries spread over the index's partitions as well.

The lock is one item in the imports table (`catalog#delete_all`), taken with a conditional
update (no transactions: dynalite has none). While it is held, a second delete-all, product
writes through the API and new imports are refused; a delete-all is refused while an import runs.
The lock expires on its own after the state machine's timeout, so a lost execution cannot
block the catalog forever.
"""
from __future__ import annotations

import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

from botocore.exceptions import ClientError

from . import events
from .aws import client
from .imports import (from_item, is_conditional_failure, now_iso, parse_iso, to_item)
from .products import ProductStore
from .settings import Settings
from .stats import CatalogStats

KIND = "delete_all"
LOCK_ID = "catalog#delete_all"
QUEUED, RUNNING, SUCCEEDED, FAILED = "QUEUED", "RUNNING", "SUCCEEDED", "FAILED"
TERMINAL = (SUCCEEDED, FAILED)
LOCK_SECONDS = 7200                 # = the state machine's TimeoutSeconds
RUNNING_IMPORT_STATUSES = ("QUEUED", "PLANNING", "PROCESSING", "FINALIZING")
RECENT_IMPORT_HOURS = 6             # an import older than this and still "running" is considered dead
SCAN_PAGE = 5000                    # keys per scan call: progress is reported after each page
WRITE_THREADS = 4                   # concurrent BatchWriteItem calls per segment
RESERVE_MS = 60_000                 # a segment invocation hands over when less time than this is left
REFUSED_IMPORT_MESSAGE = "a delete-all is running; import again when it has finished"


class DeleteAllRunning(Exception):
    def __init__(self, job_id: str):
        super().__init__(f"a delete-all is already running ({job_id})")
        self.job_id = job_id


class ImportRunning(Exception):
    def __init__(self, import_id: str):
        super().__init__(f"an import is running ({import_id}); delete all when it has finished")
        self.import_id = import_id


class IncompleteDeleteAllError(Exception):
    pass


def segment_count() -> int:
    value = os.environ.get("DELETE_ALL_SEGMENTS", "").strip()
    return max(1, min(int(value), 1000)) if value else 8


def state_machine_arn(settings: Settings) -> str:
    """The delete-all state machine is named `<stack>-delete-all`, next to `<stack>-import`."""
    explicit = os.environ.get("DELETE_ALL_STATE_MACHINE_ARN", "").strip()
    if explicit:
        return explicit
    base = settings.state_machine_arn
    if not base.endswith("-import"):
        raise RuntimeError("cannot find the delete-all state machine (STATE_MACHINE_ARN does not end in -import)")
    return base[:-len("-import")] + "-delete-all"


def new_job_id() -> str:
    return "del_" + datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "_" + secrets.token_hex(6)


def _ddb():
    return client("dynamodb")


# --- lock ------------------------------------------------------------------------------------
def running_job(imports_table: str) -> str | None:
    """The id of the delete-all holding the lock, or None."""
    item = _ddb().get_item(TableName=imports_table, Key={"id": {"S": LOCK_ID}}, ConsistentRead=True).get("Item")
    if not item or item.get("status", {}).get("S") != RUNNING:
        return None
    if item.get("stale_at", {}).get("S", "") < now_iso():
        return None
    return item["job_id"]["S"]


def _acquire(imports_table: str, job_id: str) -> None:
    now = now_iso()
    stale = (datetime.now(timezone.utc) + timedelta(seconds=LOCK_SECONDS)).isoformat().replace("+00:00", "Z")
    try:
        _ddb().update_item(
            TableName=imports_table, Key={"id": {"S": LOCK_ID}},
            UpdateExpression="SET job_id = :j, #s = :running, started_at = :now, stale_at = :stale",
            ConditionExpression="attribute_not_exists(id) OR #s <> :running OR stale_at < :now",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":j": {"S": job_id}, ":running": {"S": RUNNING}, ":now": {"S": now},
                                       ":stale": {"S": stale}})
    except ClientError as error:
        if is_conditional_failure(error):
            raise DeleteAllRunning(running_job(imports_table) or "unknown") from None
        raise


def _release(imports_table: str, job_id: str) -> None:
    try:
        _ddb().update_item(TableName=imports_table, Key={"id": {"S": LOCK_ID}},
                           UpdateExpression="SET #s = :idle, finished_at = :now",
                           ConditionExpression="job_id = :j",
                           ExpressionAttributeNames={"#s": "status"},
                           ExpressionAttributeValues={":idle": {"S": "IDLE"}, ":now": {"S": now_iso()},
                                                      ":j": {"S": job_id}})
    except ClientError as error:
        if not is_conditional_failure(error):
            raise


# --- job item --------------------------------------------------------------------------------
def get_job(imports_table: str, job_id: str) -> dict | None:
    item = _ddb().get_item(TableName=imports_table, Key={"id": {"S": job_id}}, ConsistentRead=True).get("Item")
    return from_item(item) if item and item.get("kind", {}).get("S") == KIND else None


def _transition(imports_table: str, job_id: str, to: str, allowed: tuple[str, ...], values: dict | None = None) -> bool:
    names, expr = {"#s": "status"}, {":to": {"S": to}}
    sets = ["#s = :to"]
    for i, (k, v) in enumerate((values or {}).items()):
        names[f"#v{i}"] = k
        expr[f":v{i}"] = to_item({"v": v})["v"]
        sets.append(f"#v{i} = :v{i}")
    conds = []
    for i, status in enumerate(allowed):
        expr[f":f{i}"] = {"S": status}
        conds.append(f":f{i}")
    try:
        _ddb().update_item(TableName=imports_table, Key={"id": {"S": job_id}}, UpdateExpression="SET " + ", ".join(sets),
                           ConditionExpression=f"attribute_exists(id) AND #s IN ({', '.join(conds)})",
                           ExpressionAttributeNames=names, ExpressionAttributeValues=expr)
        return True
    except ClientError as error:
        if is_conditional_failure(error):
            return False
        raise


def view(item: dict, now: str | None = None) -> dict:
    """The job item plus percent and rate, as the page polls it."""
    total, deleted = item.get("total") or 0, item.get("deleted") or 0
    started = item.get("started_at")
    end = item.get("finished_at") or now or now_iso()
    seconds = max((parse_iso(end) - parse_iso(started)).total_seconds(), 0.0) if started else 0.0
    out = {k: v for k, v in item.items() if k not in ("kind", "execution_arn", "done_segments")}
    if item.get("status") == SUCCEEDED:
        percent = 100.0
    else:
        percent = round(min(100.0, 100.0 * deleted / total), 1) if total else 0.0
    out.update(percent=percent, elapsed_seconds=round(seconds, 3),
               items_per_second=round(deleted / seconds, 1) if seconds > 0 else 0.0)
    return out


def _active_import(imports_table: str) -> str | None:
    since = (datetime.now(timezone.utc) - timedelta(hours=RECENT_IMPORT_HOURS)).isoformat().replace("+00:00", "Z")
    values = {":k": {"S": "import"}, ":since": {"S": since}}
    values.update({f":s{i}": {"S": s} for i, s in enumerate(RUNNING_IMPORT_STATUSES)})
    kwargs = dict(TableName=imports_table, IndexName="history", ScanIndexForward=False,
                  KeyConditionExpression="kind = :k AND created_at >= :since",
                  FilterExpression=f"#s IN ({', '.join(f':s{i}' for i in range(len(RUNNING_IMPORT_STATUSES)))})",
                  ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues=values)
    while True:
        response = _ddb().query(**kwargs)
        if response.get("Items"):
            return response["Items"][0]["id"]["S"]
        if "LastEvaluatedKey" not in response:
            return None
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


# --- steps -----------------------------------------------------------------------------------
def start(settings: Settings) -> dict:
    """Starts a delete-all; raises DeleteAllRunning or ImportRunning when it must not start."""
    table = settings.imports_table
    running_import = _active_import(table)
    if running_import:
        raise ImportRunning(running_import)
    job_id = new_job_id()
    _acquire(table, job_id)
    total, _ = CatalogStats(table).get()
    now = now_iso()
    item = {"id": job_id, "kind": KIND, "status": QUEUED, "total": total, "deleted": 0, "segments_done": 0,
            "total_segments": segment_count(), "created_at": now, "started_at": now}
    _ddb().put_item(TableName=table, Item=to_item(item))
    try:
        execution = client("stepfunctions").start_execution(
            stateMachineArn=state_machine_arn(settings), name=job_id, input=f'{{"job_id": "{job_id}"}}')
    except Exception as error:
        fail(settings, job_id, {"Error": type(error).__name__, "Cause": str(error)})
        raise
    _ddb().update_item(TableName=table, Key={"id": {"S": job_id}}, UpdateExpression="SET execution_arn = :e",
                       ExpressionAttributeValues={":e": {"S": execution["executionArn"]}})
    return get_job(table, job_id)


def plan(settings: Settings, job_id: str) -> dict:
    """One work item per group of shards (from the catalog stats), shards dealt out round-robin."""
    item = get_job(settings.imports_table, job_id)
    if item is None:
        raise IncompleteDeleteAllError(f"delete-all {job_id} does not exist")
    _, shards = CatalogStats(settings.imports_table).get()
    n = max(1, min(int(item["total_segments"]), len(shards)))
    _transition(settings.imports_table, job_id, RUNNING, (QUEUED, RUNNING),
                {"started_at": now_iso(), "total_segments": n})
    return {"job_id": job_id, "max_concurrency": n,
            "segments": [{"job_id": job_id, "segment": i, "total_segments": n, "shards": shards[i::n],
                          "shard_index": 0, "start_key": None, "done": False} for i in range(n)]}


def _scan_keys(products_table: str, segment: int | None, total_segments: int | None, start_key: dict | None,
               limit: int | None = None) -> tuple[list[str], dict | None]:
    kwargs = dict(TableName=products_table, IndexName="search", ProjectionExpression="sku_key",
                  Limit=limit or SCAN_PAGE)
    if total_segments and total_segments > 1:
        kwargs.update(Segment=segment, TotalSegments=total_segments)
    if start_key:
        kwargs["ExclusiveStartKey"] = start_key
    response = _ddb().scan(**kwargs)
    return [i["sku_key"]["S"] for i in response.get("Items", [])], response.get("LastEvaluatedKey")


def _delete_keys(store: ProductStore, keys: list[str], pool: ThreadPoolExecutor) -> None:
    step = 25 * 8
    list(pool.map(store.delete_many, [keys[i:i + step] for i in range(0, len(keys), step)]))


def _add_deleted(imports_table: str, job_id: str, count: int) -> None:
    if count:
        _ddb().update_item(TableName=imports_table, Key={"id": {"S": job_id}}, UpdateExpression="ADD deleted :n",
                           ExpressionAttributeValues={":n": {"N": str(count)}})


def _query_keys(products_table: str, shard: str, start_key: str | None) -> tuple[list[str], str | None]:
    kwargs = dict(TableName=products_table, IndexName="search", KeyConditionExpression="#sh = :s",
                  ExpressionAttributeNames={"#sh": "shard"}, ExpressionAttributeValues={":s": {"S": shard}},
                  ProjectionExpression="sku_key", Limit=SCAN_PAGE)
    if start_key is not None:
        kwargs["ExclusiveStartKey"] = {"shard": {"S": shard}, "sku_key": {"S": start_key}}
    response = _ddb().query(**kwargs)
    last = response.get("LastEvaluatedKey")
    return [i["sku_key"]["S"] for i in response.get("Items", [])], (last["sku_key"]["S"] if last else None)


def delete_segment(settings: Settings, work: dict, remaining_ms=lambda: 900_000) -> dict:
    """Deletes the products of one group of shards (keys read from the slim `search` index, one
    Query per page); returns the work item, `done` or with where to go on when time runs low."""
    job_id, segment = work["job_id"], int(work["segment"])
    item = get_job(settings.imports_table, job_id)
    if item is None or item["status"] != RUNNING:
        return {**work, "start_key": None, "done": True}
    store = ProductStore(settings.products_table)
    shards, index, start_key = list(work.get("shards") or []), int(work.get("shard_index") or 0), work.get("start_key")
    with ThreadPoolExecutor(max_workers=WRITE_THREADS) as pool:
        while index < len(shards):
            keys, start_key = _query_keys(settings.products_table, shards[index], start_key)
            _delete_keys(store, keys, pool)
            _add_deleted(settings.imports_table, job_id, len(keys))
            if start_key is None:
                index += 1
            if index < len(shards) and remaining_ms() < RESERVE_MS:
                return {**work, "shard_index": index, "start_key": start_key, "done": False}
    try:
        _ddb().update_item(TableName=settings.imports_table, Key={"id": {"S": job_id}},
                           UpdateExpression="ADD segments_done :one, done_segments :seg",
                           ConditionExpression="NOT contains(done_segments, :i)",
                           ExpressionAttributeValues={":one": {"N": "1"}, ":seg": {"NS": [str(segment)]},
                                                      ":i": {"N": str(segment)}})
    except ClientError as error:
        if not is_conditional_failure(error):
            raise
    return {**work, "shard_index": len(shards), "start_key": None, "done": True}


def summary(item: dict) -> dict:
    fields = ("id", "status", "total", "deleted", "created_at", "started_at", "finished_at", "error")
    return {f: item.get(f) for f in fields}


def finish(settings: Settings, job_id: str) -> dict:
    table = settings.imports_table
    item = get_job(table, job_id)
    if item is None:
        raise IncompleteDeleteAllError(f"delete-all {job_id} does not exist")
    if item["status"] in TERMINAL:
        return summary(item)
    done, total = item.get("segments_done", 0), item.get("total_segments", 0)
    if done != total:
        raise IncompleteDeleteAllError(f"{total - done} of {total} segments did not finish")
    # Stragglers (e.g. written by a client that raced the lock) go too, so the catalog ends empty.
    store, start_key = ProductStore(settings.products_table), None
    with ThreadPoolExecutor(max_workers=WRITE_THREADS) as pool:
        while True:
            keys, start_key = _scan_keys(settings.products_table, None, None, start_key)
            _delete_keys(store, keys, pool)
            _add_deleted(table, job_id, len(keys))
            if start_key is None:
                break
    CatalogStats(table).reset()
    if _transition(table, job_id, SUCCEEDED, (RUNNING,), {"finished_at": now_iso()}):
        _release(table, job_id)
        done_item = get_job(table, job_id)
        events.publish(events.PRODUCTS_DELETED_ALL, summary(done_item), event_id=f"evt_{job_id}_done")
        return summary(done_item)
    return summary(get_job(table, job_id))


def fail(settings: Settings, job_id: str, error: dict | None) -> dict:
    from .lifecycle import readable_failure
    table = settings.imports_table
    message = readable_failure(error).replace("The import", "The delete-all").replace("the import", "the delete-all")
    if _transition(table, job_id, FAILED, (QUEUED, RUNNING), {"error": message, "finished_at": now_iso()}):
        item = get_job(table, job_id)
        # Products were deleted up to here: keep the count honest (shards stay; empty ones cost one query).
        CatalogStats(table).add(-int(item.get("deleted") or 0))
        _release(table, job_id)
        return summary(item)
    _release(table, job_id)
    item = get_job(table, job_id)
    return summary(item) if item else {"id": job_id, "status": "UNKNOWN"}


# --- imports during a delete-all -------------------------------------------------------------
def refuse_import(settings: Settings, *, bucket: str, key: str, size: int | None, version: str,
                  event_time: str):
    """When a delete-all runs: marks the arriving import FAILED with a clear message and returns the
    StartOutcome for lifecycle.start_from_object; None when no delete-all runs."""
    from .imports import PENDING, ImportStore, import_id_for_object
    from .lifecycle import _API_KEY, INCOMING_PREFIX, StartOutcome
    from .lifecycle import summary as import_summary
    if not key.startswith(INCOMING_PREFIX) or key.endswith("/"):
        return None
    if running_job(settings.imports_table) is None:
        return None
    imports = ImportStore(settings.imports_table)
    values = {"error": REFUSED_IMPORT_MESSAGE, "finished_at": now_iso()}
    match = _API_KEY.match(key)
    if match and imports.get(match.group(1)):
        import_id = match.group(1)
        refused = imports.transition(import_id, to="FAILED", allowed_from=(PENDING,), values={**values, "size": size})
    else:
        import_id = import_id_for_object(bucket, key, version, event_time)
        refused = imports.create(import_id, status="FAILED", source="s3", bucket=bucket, key=key,
                                 file_name=key.rsplit("/", 1)[-1], size=size)
        if refused:
            imports.transition(import_id, to="FAILED", allowed_from=("FAILED",), values=values)
    if refused:
        events.publish(events.UPLOAD_FAILED, import_summary(imports.get(import_id)),
                       event_id=f"evt_{import_id}_failed")
    return StartOutcome(import_id, False, REFUSED_IMPORT_MESSAGE)
