"""DynamoDB helpers every context uses: item conversion, conditional status transitions and one
bounded batch writer with jittered backoff."""
from __future__ import annotations

import random
import time
from decimal import Decimal
from typing import Any, Callable, Iterable

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

BATCH_WRITE_MAX = 25
BATCH_GET_MAX = 100
MAX_ATTEMPTS = 12

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class UnprocessedItemsError(RuntimeError):
    """DynamoDB kept refusing part of a batch (throttling) through every attempt."""


def to_item(values: dict) -> dict:
    return {k: _serializer.serialize(v) for k, v in values.items() if v is not None}


def to_value(value: Any) -> dict:
    return _serializer.serialize(value)


def from_item(item: dict) -> dict:
    return {k: _plain(_deserializer.deserialize(v)) for k, v in item.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set):
        return sorted(_plain(v) for v in value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def is_conditional_failure(error: ClientError) -> bool:
    return error.response["Error"]["Code"] == "ConditionalCheckFailedException"


def conditional(write: Callable[[], Any]) -> bool:
    """Runs a conditional write: True when it was made, False when its condition did not hold."""
    try:
        write()
        return True
    except ClientError as error:
        if is_conditional_failure(error):
            return False
        raise


def backoff(attempt: int) -> None:
    time.sleep(min(5.0, 0.05 * 2 ** attempt) * random.uniform(0.5, 1.0))


def transition(ddb, table: str, key: dict, *, to: str, allowed_from: Iterable[str],
               values: dict | None = None) -> bool:
    """Sets `status` to `to` (and `values`) only when the item exists with a status in
    `allowed_from`; False otherwise. The one conditional status change of every job item."""
    names = {"#status": "status"}
    expr_values = {":to": to_value(to)}
    sets = ["#status = :to"]
    for i, (name, value) in enumerate((values or {}).items()):
        names[f"#v{i}"] = name
        expr_values[f":v{i}"] = to_value(value)
        sets.append(f"#v{i} = :v{i}")
    allowed = []
    for i, status in enumerate(allowed_from):
        expr_values[f":from{i}"] = to_value(status)
        allowed.append(f":from{i}")
    key_name = next(iter(key))
    return conditional(lambda: ddb.update_item(
        TableName=table, Key=key, UpdateExpression="SET " + ", ".join(sets),
        ConditionExpression=f"attribute_exists({key_name}) AND #status IN ({', '.join(allowed)})",
        ExpressionAttributeNames=names, ExpressionAttributeValues=expr_values))


def batch_write(ddb, table: str, requests: list[dict], max_attempts: int = MAX_ATTEMPTS) -> None:
    """BatchWriteItem in calls of 25; unprocessed items are retried with jittered backoff, at most
    `max_attempts` times, then UnprocessedItemsError (never a silent loss, never a loop forever)."""
    for start in range(0, len(requests), BATCH_WRITE_MAX):
        pending = {table: requests[start:start + BATCH_WRITE_MAX]}
        for attempt in range(max_attempts):
            pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if not pending:
                break
            backoff(attempt)
        else:
            raise UnprocessedItemsError(f"DynamoDB kept {len(pending[table])} writes unprocessed")


def batch_get(ddb, table: str, keys: list[dict], *, consistent: bool = True,
              max_attempts: int = MAX_ATTEMPTS) -> list[dict]:
    """BatchGetItem in calls of 100, unprocessed keys retried with backoff; items in no order."""
    found: list[dict] = []
    for start in range(0, len(keys), BATCH_GET_MAX):
        request = {table: {"Keys": keys[start:start + BATCH_GET_MAX], "ConsistentRead": consistent}}
        for attempt in range(max_attempts):
            response = ddb.batch_get_item(RequestItems=request)
            found.extend(response.get("Responses", {}).get(table, ()))
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
            backoff(attempt)
        else:
            raise UnprocessedItemsError(f"DynamoDB kept {len(request[table]['Keys'])} keys unprocessed")
    return found
