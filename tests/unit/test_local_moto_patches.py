"""The local cloud's faster moto SQS keeps SQS's semantics (moto in-process, patched as the local cloud does)."""
from __future__ import annotations

import threading
import time

import boto3
import pytest
from botocore.exceptions import ClientError

from local import moto_patches

REGION = "us-east-1"


@pytest.fixture
def sqs(moto_env):
    from moto import mock_aws
    moto_patches.apply()
    with mock_aws():
        yield boto3.client("sqs", region_name=REGION)


def send(sqs, url, bodies, **extra):
    for start in range(0, len(bodies), 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "MessageBody": body, **extra} for i, body in enumerate(bodies[start:start + 10])])


def receive(sqs, url, **kwargs):
    return sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, **kwargs).get("Messages", [])


def counts(sqs, url) -> tuple[int, int, int]:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return (int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"]),
            int(attrs["ApproximateNumberOfMessagesDelayed"]))


def test_receive_at_most_count_in_order_and_delete_each_once(sqs):
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    send(sqs, url, [f"m{i}" for i in range(25)])
    first = receive(sqs, url)
    assert [m["Body"] for m in first] == [f"m{i}" for i in range(10)]
    assert counts(sqs, url) == (15, 10, 0)
    sqs.delete_message_batch(QueueUrl=url, Entries=[
        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(first)])
    assert counts(sqs, url) == (15, 0, 0)
    rest = receive(sqs, url) + receive(sqs, url)
    assert sorted(m["Body"] for m in rest) == sorted(f"m{i}" for i in range(10, 25))
    assert receive(sqs, url) == []
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"])     # twice: still fine


def test_unknown_receipt_handle_is_refused(sqs):
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    send(sqs, url, ["x"])
    with pytest.raises(ClientError) as error:
        sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-handle")
    assert error.value.response["Error"]["Code"] == "ReceiptHandleIsInvalid"
    assert len(receive(sqs, url)) == 1


def test_delayed_messages_wait_for_their_delay(sqs):
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    send(sqs, url, ["later"], DelaySeconds=1)
    send(sqs, url, ["now"])
    assert [m["Body"] for m in receive(sqs, url)] == ["now"]
    assert counts(sqs, url) == (0, 1, 1)
    time.sleep(1.1)
    assert [m["Body"] for m in receive(sqs, url)] == ["later"]


def test_a_message_not_deleted_comes_back_after_its_visibility_timeout(sqs):
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    send(sqs, url, ["again"])
    first = receive(sqs, url, VisibilityTimeout=1)
    assert receive(sqs, url) == []
    time.sleep(1.1)
    second = receive(sqs, url, AttributeNames=["ApproximateReceiveCount"])
    assert [m["Body"] for m in second] == ["again"]
    assert second[0]["ReceiptHandle"] != first[0]["ReceiptHandle"]
    assert second[0]["Attributes"]["ApproximateReceiveCount"] == "2"
    sqs.delete_message(QueueUrl=url, ReceiptHandle=second[0]["ReceiptHandle"])
    assert counts(sqs, url) == (0, 0, 0)


def test_redrive_moves_a_message_to_the_dead_letter_queue_after_max_receives(sqs):
    dlq_url = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName="q", Attributes={
        "RedrivePolicy": f'{{"deadLetterTargetArn": "{dlq_arn}", "maxReceiveCount": 2}}'})["QueueUrl"]
    send(sqs, url, ["poison", "fine"])
    for _ in range(2):      # visibility timeout 0: visible again at once, as after a failed handler
        assert sorted(m["Body"] for m in receive(sqs, url, VisibilityTimeout=0)) == ["fine", "poison"]
    assert receive(sqs, url, VisibilityTimeout=0) == []
    assert sorted(m["Body"] for m in receive(sqs, dlq_url)) == ["fine", "poison"]


def test_long_poll_returns_a_message_sent_while_waiting(sqs):
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    threading.Timer(0.3, lambda: send(sqs, url, ["late"])).start()
    started = time.monotonic()
    messages = receive(sqs, url, WaitTimeSeconds=5)
    assert [m["Body"] for m in messages] == ["late"]
    assert time.monotonic() - started < 5


def test_fifo_group_in_flight_holds_back_its_later_messages(sqs):
    url = sqs.create_queue(QueueName="q.fifo", Attributes={"FifoQueue": "true",
                                                           "ContentBasedDeduplication": "true"})["QueueUrl"]
    for body, group in (("a1", "a"), ("a2", "a"), ("b1", "b")):
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group)
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]
    assert [m["Body"] for m in first] == ["a1"]
    assert [m["Body"] for m in receive(sqs, url)] == ["b1"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"])
    assert [m["Body"] for m in receive(sqs, url)] == ["a2"]



@pytest.fixture
def s3(moto_env):
    from moto import mock_aws
    moto_patches.apply()
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket="uploads")
        client.put_object(Bucket="uploads", Key="k", Body=BODY)
        yield client


BODY = bytes(range(256)) * 40_000      # 10 MB: spills moto's buffer to a file, as an upload does
SIZE = len(BODY)


@pytest.mark.parametrize("header, start, stop", [
    ("bytes=0-0", 0, 1),
    ("bytes=1000-2999999", 1000, 3_000_000),
    (f"bytes={SIZE - 10}-", SIZE - 10, SIZE),
    (f"bytes={SIZE - 10}-{SIZE * 2}", SIZE - 10, SIZE),
    ("bytes=-17", SIZE - 17, SIZE),
], ids=["first byte", "middle", "open end", "past the end", "suffix"])
def test_a_ranged_get_answers_exactly_its_range(s3, header, start, stop):
    response = s3.get_object(Bucket="uploads", Key="k", Range=header)
    assert response["Body"].read() == BODY[start:stop]
    assert response["ContentLength"] == stop - start
    assert response["ContentRange"] == f"bytes {start}-{stop - 1}/{SIZE}"


def test_a_ranged_get_reads_only_its_range(s3, monkeypatch):
    reads = []
    original = moto_patches._StoredBytes.__getitem__
    monkeypatch.setattr(moto_patches._StoredBytes, "__getitem__",
                        lambda self, part: reads.append(part) or original(self, part))
    monkeypatch.setattr(moto_patches._StoredBytes, "__bytes__", lambda self: pytest.fail("read the whole object"))
    assert s3.get_object(Bucket="uploads", Key="k", Range="bytes=10-19")["Body"].read() == BODY[10:20]
    assert reads == [slice(10, 20)]


def test_whole_and_unservable_range_gets_answer_the_whole_object(s3):
    assert s3.get_object(Bucket="uploads", Key="k")["Body"].read() == BODY
    assert s3.get_object(Bucket="uploads", Key="k", Range="bytes=0-1,5-6")["Body"].read() == BODY
    with pytest.raises(ClientError) as error:
        s3.get_object(Bucket="uploads", Key="k", Range=f"bytes={SIZE}-")
    assert error.value.response["Error"]["Code"] == "InvalidRange"


def test_step_functions_reuses_one_lambda_client_per_region():
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    moto_patches.apply()
    first = lambda_eval_utils.boto_client_for(region="us-east-1", service="lambda")
    assert lambda_eval_utils.boto_client_for(region="us-east-1", service="lambda") is first
    other = lambda_eval_utils.boto_client_for(region="eu-west-1", service="lambda")
    assert other is not first and other.meta.region_name == "eu-west-1"
