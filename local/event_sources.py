"""SQS event source mappings: poll a queue, invoke the function with a batch, delete what succeeded.

Like Lambda's poller: a batch gathers up to BatchSize messages (SQS hands out 10 per receive)
while they keep coming, within MaximumBatchingWindowInSeconds; with ReportBatchItemFailures only
the reported messages stay on the queue; a handler that raises leaves the whole batch to come
back after the visibility timeout; the queue's redrive policy moves repeatedly failing messages
to its DLQ.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import boto3

from .lambdas import FunctionRegistry
from .template import REGION

log = logging.getLogger("local.sqs")


@dataclass
class SqsMapping:
    function: str
    queue_url: str
    queue_arn: str
    batch_size: int
    report_failures: bool
    pollers: int = 1
    batching_window: float = 0.0      # seconds a batch may wait to fill up


def lambda_record(message: dict, queue_arn: str) -> dict:
    attributes = message.get("MessageAttributes") or {}
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {
            name: {"stringValue": value.get("StringValue"), "binaryValue": value.get("BinaryValue"),
                   "stringListValues": [], "binaryListValues": [], "dataType": value["DataType"]}
            for name, value in attributes.items()
        },
        "md5OfBody": message.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


class SqsPoller:
    def __init__(self, mapping: SqsMapping, functions: FunctionRegistry, endpoint: str):
        self.mapping = mapping
        self.functions = functions
        self.sqs = boto3.session.Session().client("sqs", endpoint_url=endpoint, region_name=REGION)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for i in range(self.mapping.pollers):
            thread = threading.Thread(target=self._run, name=f"sqs-{self.mapping.function}-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once(wait_seconds=1)
            except Exception:  # noqa: BLE001 - a poller must survive anything and keep polling
                log.exception("polling %s failed", self.mapping.queue_url)
                self._stop.wait(1)

    def _receive(self, count: int, wait_seconds: int) -> list[dict]:
        return self.sqs.receive_message(
            QueueUrl=self.mapping.queue_url, MaxNumberOfMessages=min(count, 10), WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])

    def poll_once(self, wait_seconds: int = 0) -> int:
        m = self.mapping
        messages = self._receive(m.batch_size, wait_seconds)
        if not messages:
            return 0
        window_ends = time.monotonic() + m.batching_window
        while len(messages) < m.batch_size and time.monotonic() < window_ends:
            more = self._receive(m.batch_size - len(messages), 0)
            if not more:
                break       # the queue is drained: no reason to hold the batch back
            messages += more
        event = {"Records": [lambda_record(message, m.queue_arn) for message in messages]}
        try:
            result = self.functions.invoke(m.function, event)
        except Exception:  # noqa: BLE001 - the batch returns to the queue, as on AWS
            log.exception("%s failed on a batch of %d", m.function, len(messages))
            return len(messages)
        failed = set()
        if m.report_failures and isinstance(result, dict):
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures") or []}
        done = [msg for msg in messages if msg["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            self.sqs.delete_message_batch(QueueUrl=m.queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": msg["ReceiptHandle"]} for i, msg in enumerate(done[start:start + 10])])
        return len(messages)
