"""Fault injection for the local cloud: a fault plan applied in the request path of the emulators,
never in the functions (they make the same calls as on AWS and see the same errors AWS sends).

A plan is a list of rules; each request to moto (S3, SQS, Step Functions), DynamoDB or the RDS Data
API is checked against them, first match wins:

    {"service": "dynamodb", "operation": "BatchWriteItem", "error": "ProvisionedThroughputExceededException",
     "share": 0.3}
    {"service": "s3", "operation": "GetObject", "error": "truncate", "match": "incoming/", "after": 1, "times": 2}
    {"service": "s3", "operation": "GetObject", "delay": 30}

- service: dynamodb, s3, sqs, stepfunctions, rds-data; operation: the API's name (GetObject,
  BatchWriteItem, ExecuteStatement, ...).
- error: the error code answered, in the service's protocol and with AWS's HTTP status (400 for
  DynamoDB's and the Data API's errors unless `status` says otherwise, 500/503 for S3's); or
  "truncate": the response's headers and half of its body, then the connection closes (a dropped
  download). Without `error` the request goes through (after `delay`).
- share: the fraction of matching requests that fail (default 1, drawn from a generator seeded
  with `seed`, default 0); after: let the first N matching requests through; times: fail at most N.
- match: a substring the request must contain (its path and query, its Range header or its body:
  a table name, a key, a byte range).
- delay: seconds to wait before answering (or failing).

Set a plan in-process with `cloud.faults.set([...])` (tests), or give `python -m local` the
environment variable LOCAL_FAULTS naming a JSON file with the list; the file is read again
whenever it changes, so a running local cloud can be given faults (and have them cleared) from
outside. DynamoDB faults need the local cloud's proxy in front of dynalite, which it starts only
when faults are enabled (LocalCloud(faults=FaultPlan()) or LOCAL_FAULTS set).
"""
from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import urllib3

log = logging.getLogger("local.faults")

ENVIRONMENT_VARIABLE = "LOCAL_FAULTS"
TRUNCATE = "truncate"


@dataclass
class Fault:
    service: str
    operation: str
    error: str | None = None
    share: float = 1.0
    after: int = 0
    times: int | None = None
    match: str = ""
    delay: float = 0.0
    status: int | None = None
    message: str = ""
    seed: int = 0
    seen: int = 0                 # matching requests so far
    injected: int = 0             # requests that got the fault
    _random: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self):
        self._random.seed(self.seed)

    def applies(self, service: str, operation: str, text: str) -> bool:
        """Whether this request gets the fault (counts it either way)."""
        if service != self.service or operation != self.operation or (self.match and self.match not in text):
            return False
        self.seen += 1
        if self.seen <= self.after or (self.times is not None and self.injected >= self.times):
            return False
        if self.share < 1 and self._random.random() >= self.share:
            return False
        self.injected += 1
        return True


class FaultPlan:
    """The rules in force; thread-safe. `file`: a JSON file read again whenever it changes."""

    def __init__(self, faults: list[dict] | None = None, file: Path | None = None):
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.file = Path(file) if file else None
        self._file_mtime: float | None = None
        self.set(faults or [])

    @classmethod
    def from_environment(cls) -> "FaultPlan | None":
        path = os.environ.get(ENVIRONMENT_VARIABLE)
        return cls(file=Path(path)) if path else None

    def set(self, faults: list[dict]) -> list[Fault]:
        rules = [Fault(**f) for f in faults]
        with self._lock:
            self._faults = rules
        return rules

    def clear(self) -> None:
        self.set([])

    def _reload(self) -> None:
        if self.file is None:
            return
        try:
            mtime = self.file.stat().st_mtime
        except FileNotFoundError:
            mtime = None
        if mtime == self._file_mtime:
            return
        self._file_mtime = mtime
        faults = json.loads(self.file.read_text() or "[]") if mtime is not None else []
        self._faults = [Fault(**f) for f in faults]
        log.warning("fault plan from %s: %s", self.file, faults)

    def check(self, service: str, operation: str, text: str) -> Fault | None:
        with self._lock:
            self._reload()
            for fault in self._faults:
                if fault.applies(service, operation, text):
                    return fault
        return None


# --- recognising requests -----------------------------------------------------------------
def _target(environ) -> tuple[str, str] | None:
    """(service, operation) of a JSON-protocol request (X-Amz-Target: Prefix.Operation)."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if "." not in target:
        return None
    prefix, operation = target.split(".", 1)
    service = {"DynamoDB_20120810": "dynamodb", "AmazonSQS": "sqs", "AWSStepFunctions": "stepfunctions"}.get(prefix)
    return (service, operation) if service else None


def _s3_operation(environ) -> str | None:
    """The S3 operations the tests fault (path-style requests): GetObject, HeadObject, PutObject."""
    path = environ.get("PATH_INFO", "").lstrip("/")
    if "/" not in path or environ.get("QUERY_STRING", "").split("=")[0] in ("uploads", "uploadId", "tagging", "acl"):
        return None
    method = environ["REQUEST_METHOD"]
    return {"GET": "GetObject", "HEAD": "HeadObject", "PUT": "PutObject"}.get(method)


def _text(environ, body: bytes) -> str:
    return "\n".join((unquote(environ.get("PATH_INFO", "")), environ.get("QUERY_STRING", ""),
                      environ.get("HTTP_RANGE", ""), body.decode("utf-8", "replace")))


def _read_body(environ) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = _Replay(body)
    return body


class _Replay:
    def __init__(self, body: bytes):
        self.body, self.position = body, 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.body) if size is None or size < 0 else self.position + size
        chunk, self.position = self.body[self.position:end], min(end, len(self.body))
        return chunk

    def readline(self, size: int = -1) -> bytes:
        end = self.body.find(b"\n", self.position)
        end = len(self.body) if end < 0 else end + 1
        return self.read(end - self.position if size < 0 else min(size, end - self.position))


# --- answering ----------------------------------------------------------------------------
_S3_STATUS = {"InternalError": 500, "SlowDown": 503, "ServiceUnavailable": 503, "AccessDenied": 403,
              "NoSuchKey": 404, "PreconditionFailed": 412}
_JSON_STATUS = {"ThrottlingException": 400, "ProvisionedThroughputExceededException": 400,
                "InternalServerError": 500, "ServiceUnavailableException": 503, "ServiceUnavailable": 503,
                "InternalServerErrorException": 500, "StatementTimeoutException": 400,
                "DatabaseUnavailableException": 504, "DatabaseResumingException": 400}


def _error_response(service: str, fault: Fault, start_response) -> list[bytes]:
    message = fault.message or f"injected by the local cloud's fault plan ({fault.error})"
    if service == "s3":
        status = fault.status or _S3_STATUS.get(fault.error, 500)
        body = (f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{fault.error}</Code>"
                f"<Message>{message}</Message></Error>").encode()
        headers = [("Content-Type", "application/xml")]
    elif service == "rds-data":
        status = fault.status or _JSON_STATUS.get(fault.error, 400)
        body = json.dumps({"message": message}).encode()
        headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", fault.error)]
    else:   # JSON 1.0 (DynamoDB, SQS, Step Functions)
        status = fault.status or _JSON_STATUS.get(fault.error, 400)
        prefix = "com.amazonaws.dynamodb.v20120810#" if service == "dynamodb" else ""
        body = json.dumps({"__type": prefix + fault.error, "message": message}).encode()
        headers = [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-ErrorType", fault.error)]
    start_response(f"{status} Error", [*headers, ("Content-Length", str(len(body)))])
    return [body]


class _Truncating:
    """Starts the real response, then sends only half of its body and closes the connection."""

    def __init__(self, app, environ, start_response):
        self.app, self.environ, self.start_response = app, environ, start_response

    def __iter__(self):
        captured = {}

        def capture(status, headers, exc_info=None):
            captured.update(status=status, headers=headers)
            return lambda data: None

        body = b"".join(self.app(self.environ, capture))
        headers = [(k, v) for k, v in captured["headers"] if k.lower() not in ("content-length", "connection")]
        self.start_response(captured["status"], [*headers, ("Content-Length", str(len(body))), ("Connection", "close")])
        yield body[:len(body) // 2]


_DATA_API_OPERATIONS = {"Execute": "ExecuteStatement", "BatchExecute": "BatchExecuteStatement"}


class FaultMiddleware:
    """Wraps a WSGI app (moto's, the Data API's, the DynamoDB proxy) with the plan. `service`: the
    service every request is for (rds-data, dynamodb), or None to tell S3 from the JSON services."""

    def __init__(self, app, plan: FaultPlan, service: str | None = None):
        self.app, self.plan, self.service = app, plan, service

    def __call__(self, environ, start_response):
        body = _read_body(environ) if environ["REQUEST_METHOD"] in ("POST", "PUT") else b""
        if self.service == "rds-data":
            path = environ.get("PATH_INFO", "").strip("/")
            found = ("rds-data", _DATA_API_OPERATIONS.get(path, path))
        else:
            found = _target(environ)
            if found is None and self.service is None:
                operation = _s3_operation(environ)
                found = ("s3", operation) if operation else None
        fault = self.plan.check(*found, _text(environ, body)) if found else None
        if fault is None:
            return self.app(environ, start_response)
        if fault.delay:
            time.sleep(fault.delay)
        if fault.error is None:
            return self.app(environ, start_response)
        log.info("fault injected: %s %s -> %s", *found, fault.error)
        if fault.error == TRUNCATE:
            return _Truncating(self.app, environ, start_response)
        return _error_response(found[0], fault, start_response)


class Proxy:
    """A WSGI app forwarding every request to another HTTP server (dynalite), so the fault plan
    sits in DynamoDB's request path too."""

    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")
        self.pool = urllib3.PoolManager(maxsize=64, retries=False, timeout=urllib3.Timeout(connect=5, read=120))

    def __call__(self, environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0) or 0)
        headers = {key[5:].replace("_", "-").title(): value for key, value in environ.items()
                   if key.startswith("HTTP_") and key not in ("HTTP_CONNECTION", "HTTP_HOST")}
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        url = self.upstream + environ.get("PATH_INFO", "/") + (f"?{environ['QUERY_STRING']}" if environ.get("QUERY_STRING") else "")
        response = self.pool.request(environ["REQUEST_METHOD"], url, body=body, headers=headers, preload_content=True)
        out = [(k, v) for k, v in response.headers.items()
               if k.lower() not in ("connection", "transfer-encoding", "content-length", "keep-alive")]
        data: Any = response.data
        start_response(f"{response.status} {response.reason or ''}".strip(), [*out, ("Content-Length", str(len(data)))])
        return [data]
