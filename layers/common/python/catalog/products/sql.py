"""SQL through the RDS Data API: the Lambdas need no VPC and no driver. Locally the same calls
reach the local cloud's Data API endpoint on an embedded PostgreSQL (AWS_ENDPOINT_URL_RDS_DATA).

Parameters are named (`:name`); Python values become Data API fields (str, int, float, bool,
None; dict/list as JSON; Decimal as DECIMAL). Rows come back as dicts (formatRecordsAs=JSON)."""
from __future__ import annotations

import json
import time
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, Callable, Iterator

from botocore.exceptions import ClientError

from catalog.shared.aws import client

REQUEST_LIMIT = 4 * 1024 * 1024     # the Data API refuses larger requests
RESUME_WAITS = (2, 4, 8, 8, 8, 8, 8)  # seconds between tries while a paused cluster resumes (46 s in all)


def field(name: str, value: Any) -> dict:
    if value is None:
        return {"name": name, "value": {"isNull": True}}
    if isinstance(value, bool):
        return {"name": name, "value": {"booleanValue": value}}
    if isinstance(value, int):
        return {"name": name, "value": {"longValue": value}}
    if isinstance(value, float):
        return {"name": name, "value": {"doubleValue": value}}
    if isinstance(value, Decimal):
        return {"name": name, "value": {"stringValue": str(value)}, "typeHint": "DECIMAL"}
    if isinstance(value, (dict, list)):
        return {"name": name, "value": {"stringValue": json.dumps(value, separators=(",", ":"))},
                "typeHint": "JSON"}
    return {"name": name, "value": {"stringValue": str(value)}}


def resuming(call: Callable[[], dict], waits: tuple[float, ...] = RESUME_WAITS) -> dict:
    """Runs a Data API call, waiting while a paused cluster (MinCapacity 0) resumes: the Data API
    refuses calls with DatabaseResumingException until it has, which boto3 does not retry."""
    for wait in (*waits, None):
        try:
            return call()
        except ClientError as error:
            if error.response["Error"]["Code"] != "DatabaseResumingException" or wait is None:
                raise
            time.sleep(wait)
    raise AssertionError("unreachable")


class SqlClient:
    def __init__(self, cluster_arn: str, secret_arn: str, database: str, transaction_id: str | None = None):
        self.cluster_arn, self.secret_arn, self.database = cluster_arn, secret_arn, database
        self.transaction_id = transaction_id
        self.rds = client("rds-data")

    def _call(self, sql: str, params: dict | None, *, rows: bool) -> dict:
        kwargs = dict(resourceArn=self.cluster_arn, secretArn=self.secret_arn, database=self.database, sql=sql,
                      parameters=[field(k, v) for k, v in (params or {}).items()])
        if rows:
            kwargs["formatRecordsAs"] = "JSON"
        if self.transaction_id:
            kwargs["transactionId"] = self.transaction_id
        return resuming(lambda: self.rds.execute_statement(**kwargs))

    def execute(self, sql: str, params: dict | None = None) -> int:
        """Runs a statement; the number of rows it changed."""
        return self._call(sql, params, rows=False).get("numberOfRecordsUpdated", 0)

    def query(self, sql: str, params: dict | None = None) -> list[dict]:
        response = self._call(sql, params, rows=True)
        return json.loads(response.get("formattedRecords") or "[]")

    def one(self, sql: str, params: dict | None = None) -> dict | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    @contextmanager
    def transaction(self) -> Iterator["SqlClient"]:
        begun = resuming(lambda: self.rds.begin_transaction(resourceArn=self.cluster_arn, secretArn=self.secret_arn,
                                                            database=self.database))
        tx = SqlClient(self.cluster_arn, self.secret_arn, self.database, begun["transactionId"])
        try:
            yield tx
        except BaseException:
            self.rds.rollback_transaction(resourceArn=self.cluster_arn, secretArn=self.secret_arn,
                                          transactionId=tx.transaction_id)
            raise
        self.rds.commit_transaction(resourceArn=self.cluster_arn, secretArn=self.secret_arn,
                                    transactionId=tx.transaction_id)
