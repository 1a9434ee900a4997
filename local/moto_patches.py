"""Fixes to moto for the local cloud, applied once before its server starts.

- Step Functions: StartExecution deep-copies the state machine, running executions (and their
  locks) included, so a second import while one runs failed with "cannot pickle RLock".
- SQS: moto scans every message of a queue, reading the clock twice per message, on each send,
  receive and delete (and once more per received message, through the queue's attributes). With
  tens of thousands of webhook deliveries queued that made each call cost a noticeable fraction
  of a second and the whole local cloud crawl. Receives now stop at the first `count` visible
  messages, deletes find their message through the receipt handle, and the queue's attributes
  count its messages only when a count is read (in one pass).
  The semantics are SQS's: visibility timeout, delays, redrive to the DLQ after maxReceiveCount,
  FIFO message groups, retention period.
- The server matched each request's host against a directory listing of moto's package.
- S3: a ranged GetObject read the whole object and then sliced it. Chunk workers each read their
  own byte range of one upload, so a 500k-row import read the 78 MB upload once per chunk (about
  4 GB of copying inside the one local-cloud process). A ranged GET now reads only its range.
- Step Functions: each Lambda task built a new boto3 client (and a new connection) to invoke its
  function: about 20 ms of CPU per task, a second of an import's 500k rows in the one local-cloud
  process. The Lambda client is built once per region and reused (boto3 clients are thread-safe).
"""
from __future__ import annotations

import copy
import functools
import json
import threading
from collections.abc import Mapping

_applied = False


def apply() -> None:
    global _applied
    if _applied:
        return
    _patch_state_machine_copy()
    _patch_sqs()
    _patch_module_listing()
    _patch_s3_ranged_get()
    _patch_step_functions_lambda_client()
    _applied = True


def _patch_state_machine_copy() -> None:
    from moto.stepfunctions.models import StateMachineInstance

    def deepcopy_without_executions(self, memo):
        clone = copy.copy(self)
        for name, value in self.__dict__.items():
            if name not in ("executions", "backend"):
                setattr(clone, name, copy.deepcopy(value, memo))
        clone.executions = []
        return clone

    StateMachineInstance.__deepcopy__ = deepcopy_without_executions


def _patch_step_functions_lambda_client() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    build = lambda_eval_utils.boto_client_for
    clients: dict[tuple[str, str], object] = {}
    lock = threading.Lock()

    def reused_client(region: str, service: str, state_credentials=None):
        with lock:
            if (region, service) not in clients:
                clients[(region, service)] = build(region=region, service=service, state_credentials=state_credentials)
            return clients[(region, service)]

    lambda_eval_utils.boto_client_for = reused_client


def _patch_module_listing() -> None:
    from moto import backends

    listing = backends.list_of_moto_modules
    backends.list_of_moto_modules = functools.lru_cache(maxsize=1)(lambda: tuple(listing()))


def _patch_sqs() -> None:
    from moto.core.utils import camelcase_to_underscores, unix_time, unix_time_millis
    from moto.sqs import models
    from moto.sqs.exceptions import ReceiptHandleIsInvalid

    Queue, SQSBackend = models.Queue, models.SQSBackend

    def handle_index(queue) -> dict:
        return queue.__dict__.setdefault("_local_by_handle", {})

    def ready(message, now: float) -> bool:
        """Visible (not in flight) and not delayed: what SQS may hand out at `now` (ms)."""
        return now > message.visible_at and now >= message.delayed_until

    def counts(queue) -> tuple[int, int, int]:
        """(visible, delayed, not visible), from one pass over the queue with one clock reading."""
        now = unix_time_millis()
        visible = delayed = not_visible = 0
        for message in queue._messages:
            is_visible = now > message.visible_at
            is_delayed = now < message.delayed_until
            delayed += is_delayed
            not_visible += not is_visible
            visible += is_visible and not is_delayed
        return visible, delayed, not_visible

    counted = {"ApproximateNumberOfMessages": 0, "ApproximateNumberOfMessagesDelayed": 1,
               "ApproximateNumberOfMessagesNotVisible": 2}

    def settings(queue) -> dict:
        """Queue.attributes as moto builds it, the message counts left as None."""
        names = list(queue.BASE_ATTRIBUTES)
        if queue.fifo_queue:
            names += queue.FIFO_ATTRIBUTES
        if queue.kms_master_key_id:
            names += queue.KMS_ATTRIBUTES
        result = {name: None if name in counted else getattr(queue, camelcase_to_underscores(name))
                  for name in names}
        if queue.policy:
            result["Policy"] = queue.policy
        if queue.redrive_policy:
            result["RedrivePolicy"] = json.dumps(queue.redrive_policy)
        return {name: str(value).lower() if isinstance(value, bool) else value for name, value in result.items()}

    class LazyAttributes(Mapping):
        """A queue's attributes whose message counts are taken when read: sending a message reads one
        setting and must not count the whole queue; reading them all counts it once, not three times."""

        def __init__(self, queue):
            self.queue = queue
            self.values = settings(queue)
            self.counts = None

        def __getitem__(self, name):
            if name in counted:
                if self.counts is None:
                    self.counts = counts(self.queue)
                return self.counts[counted[name]]
            return self.values[name]

        def __iter__(self):
            return iter(self.values)

        def __len__(self):
            return len(self.values)

    def messages(self):
        now = unix_time_millis()
        return [m for m in self._messages if ready(m, now)]

    def wait_for_messages(self, timeout: int) -> None:
        def any_ready() -> bool:
            now = unix_time_millis()
            return any(ready(m, now) for m in self._messages)

        with self._messages_lock:
            self._messages_lock.wait_for(any_ready, timeout=timeout)

    def delete_message(self, receipt_handle: str) -> None:
        if receipt_handle in self.deleted_messages:
            return      # deleting twice is fine on SQS
        message = handle_index(self).get(receipt_handle)
        if message is None:
            message = next((m for m in self._messages if m.had_receipt_handle(receipt_handle)), None)
            if message is None:
                raise ReceiptHandleIsInvalid()
        self.pending_messages.discard(message)
        self.deleted_messages.update(message.all_receipt_handles)
        index = handle_index(self)
        for handle in message.all_receipt_handles:
            index.pop(handle, None)
        try:
            self._messages.remove(message)      # oldest first: received messages sit near the front
        except ValueError:
            pass                                # purged meanwhile

    def receive_message(self, queue_name: str, count: int, wait_seconds_timeout: int, visibility_timeout: int,
                        message_attribute_names: list[str] | None = None) -> list:
        queue = self.get_queue(queue_name)
        names = message_attribute_names or []
        retention_ms = int(queue.message_retention_period) * 1000
        redrive = queue.redrive_policy if queue.dead_letter_queue is not None else None
        polling_end = unix_time() + wait_seconds_timeout
        index = handle_index(queue)
        result: list = []
        while True:
            now = unix_time_millis()
            pending_groups = queue.pending_message_groups if queue.fifo_queue else set()
            to_dead_letter, expired = [], []
            for message in list(queue._messages):
                if not ready(message, now):
                    continue
                if message in queue.pending_messages:
                    queue.pending_messages.discard(message)     # its consumer timed out
                    pending_groups = queue.pending_message_groups if queue.fifo_queue else set()
                if queue.fifo_queue and message.group_id and message.group_id in pending_groups:
                    continue
                if redrive and message.approximate_receive_count >= redrive["maxReceiveCount"]:
                    to_dead_letter.append(message)
                    continue
                if message.sent_timestamp + retention_ms <= now:
                    expired.append(message)
                    continue
                queue.pending_messages.add(message)
                message.mark_received(visibility_timeout=visibility_timeout)
                index[message.receipt_handle] = message
                received = copy.deepcopy(message)      # attribute filtering must not touch the stored one
                models._filter_message_attributes(received, names)
                result.append(received)
                if len(result) >= count:
                    break
            for message in to_dead_letter:
                queue._messages.remove(message)
                queue.dead_letter_queue.add_message(message)
            for message in expired:
                queue._messages.remove(message)
            if result or not wait_seconds_timeout or unix_time() > polling_end:
                return result
            queue.wait_for_messages(1)

    Queue.messages = property(messages)
    Queue.attributes = property(LazyAttributes)
    Queue.wait_for_messages = wait_for_messages
    Queue.delete_message = delete_message
    SQSBackend.receive_message = receive_message


class _StoredBytes:
    """A stored object's bytes, read from its buffer only where sliced: moto's range handling takes
    len() and one slice of what GetObject returns."""

    def __init__(self, key):
        self.key = key

    def __len__(self) -> int:
        return self.key.size

    def __getitem__(self, part: slice) -> bytes:
        start, stop, _ = part.indices(len(self))
        with self.key.lock:
            self.key._value_buffer.seek(start)
            return self.key._value_buffer.read(max(0, stop - start))

    def __bytes__(self) -> bytes:
        return self[:]


def _patch_s3_ranged_get() -> None:
    from moto.s3.models import FakeKey
    from moto.s3.responses import S3Response

    ranged = threading.local()
    read_all = FakeKey.value.fget

    def value(self):
        return _StoredBytes(self) if getattr(ranged, "active", False) else read_all(self)

    FakeKey.value = property(value, FakeKey.value.fset)

    original_get_object = S3Response.get_object

    def get_object(self):
        ranged.active = bool(self.headers.get("range"))
        try:
            return original_get_object(self)
        finally:
            ranged.active = False

    original_key_response = S3Response.key_response

    def key_response(self, *args, **kwargs):
        status, headers, body = original_key_response(self, *args, **kwargs)
        # a range moto declined to serve (several ranges, unparsable) answers the whole object
        return status, headers, bytes(body) if isinstance(body, _StoredBytes) else body

    S3Response.get_object = get_object
    S3Response.key_response = key_response
