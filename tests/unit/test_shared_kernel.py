"""The shared kernel: bounded batch writes, settings read once, readable failures per job."""
from __future__ import annotations

import json

import pytest

from catalog.shared import dynamo
from catalog.shared.failures import readable_failure
from catalog.shared.settings import settings_from
from catalog.webhooks.endpoints import EndpointStore
from catalog.webhooks.log import DeliveryLog


class AlwaysThrottled:
    """A DynamoDB client that never processes anything (sustained throttling)."""

    def __init__(self):
        self.calls = 0

    def batch_write_item(self, RequestItems):
        self.calls += 1
        return {"UnprocessedItems": RequestItems}

    def batch_get_item(self, RequestItems):
        self.calls += 1
        return {"Responses": {}, "UnprocessedKeys": RequestItems}


@pytest.fixture
def no_sleep(monkeypatch):
    monkeypatch.setattr(dynamo, "backoff", lambda attempt: None)


def test_delivery_log_writes_give_up_after_bounded_attempts(moto_env, no_sleep):
    log = DeliveryLog("webhooks", 60)
    log.ddb = AlwaysThrottled()
    with pytest.raises(dynamo.UnprocessedItemsError, match="1 writes unprocessed"):
        log.record([{"pk": "log#wh_1", "sk": "1#msg_1#1"}])
    assert log.ddb.calls == dynamo.MAX_ATTEMPTS


def test_endpoint_reads_give_up_after_bounded_attempts(moto_env, no_sleep):
    store = EndpointStore("webhooks")
    store.ddb = AlwaysThrottled()
    with pytest.raises(dynamo.UnprocessedItemsError, match="2 keys unprocessed"):
        store.get_many(["wh_1", "wh_2", "wh_1"])
    assert store.ddb.calls == dynamo.MAX_ATTEMPTS


def test_batch_write_sends_calls_of_25_and_retries_only_what_was_left(no_sleep):
    class HalfThrottledOnce:
        def __init__(self):
            self.sizes = []

        def batch_write_item(self, RequestItems):
            (requests,) = RequestItems.values()
            self.sizes.append(len(requests))
            left = requests[len(requests) // 2:] if len(self.sizes) == 1 else []
            return {"UnprocessedItems": {"t": left} if left else {}}
    ddb = HalfThrottledOnce()
    dynamo.batch_write(ddb, "t", [{"PutRequest": {"Item": {"k": {"S": str(i)}}}} for i in range(60)])
    assert ddb.sizes == [25, 13, 25, 10]


def test_settings_carry_every_resource_by_its_own_variable():
    settings = settings_from({"IMPORT_STATE_MACHINE_ARN": "arn:import", "DELETE_ALL_STATE_MACHINE_ARN": "arn:del",
                              "WEBHOOK_DELIVERIES_QUEUE_URL": "q", "DELETE_ALL_SEGMENTS": "5000"})
    assert (settings.import_state_machine_arn, settings.delete_all_state_machine_arn) == ("arn:import", "arn:del")
    assert settings.webhooks.slow_queue_url == "q"          # no slow lane configured: the main queue
    assert settings.delete_all_segments == 1000             # clamped


def test_failures_read_for_the_job_that_failed():
    incomplete = {"Error": "IncompleteDeleteAllError",
                  "Cause": json.dumps({"errorType": "IncompleteDeleteAllError",
                                       "errorMessage": "2 of 8 segments did not finish"})}
    assert readable_failure(incomplete, job="delete-all") == \
        "The delete-all did not complete: 2 of 8 segments did not finish"
    assert readable_failure({"Error": "States.Timeout"}, job="delete-all") == \
        "The delete-all took too long and was stopped"
    assert readable_failure(None) == "the import failed"
