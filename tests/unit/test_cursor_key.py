"""The shared cursor key: read from Secrets Manager once per container, the same in every
container of a deployment, refused after the key changes, and a clear error when none is set.

A "container" here is what a cold start gives: fresh settings, fresh boto3 clients, no key read
yet, and the API handler loaded afresh from its file."""
from __future__ import annotations

import boto3
import pytest

from catalog.shared import cursors
from catalog.shared.aws import client
from catalog.shared.settings import get_settings
from tests.support.handlers import load_function_module
from tests.support.products_api import Api


def cold_container() -> Api:
    get_settings.cache_clear()
    client.cache_clear()
    cursors.forget_key()
    return Api(load_function_module("api"))


def two_imports(api: Api) -> None:
    for name in ("a.csv", "b.csv"):
        status, _ = api("POST", "/imports", {"file_name": name})
        assert status == 201


def test_a_cursor_from_one_container_is_accepted_by_another_and_refused_after_the_key_changes(pipeline_aws):
    first = cold_container()
    two_imports(first)
    status, page = first("GET", "/imports", query={"limit": "1"})
    assert status == 200 and page["next"]

    second = cold_container()                                   # another container, same configuration
    status, rest = second("GET", "/imports", query={"limit": "1", "next": page["next"]})
    assert status == 200 and rest["items"][0]["id"] != page["items"][0]["id"]

    boto3.client("secretsmanager").put_secret_value(SecretId=get_settings().cursor_secret_arn,
                                                    SecretString="a-new-value-after-rotation-" + "x" * 37)
    third = cold_container()                                    # started after the change
    status, body = third("GET", "/imports", query={"limit": "1", "next": page["next"]})
    assert status == 400 and body["fields"] == {"next": body["error"]} and "not valid" in body["error"]
    status, page_after = third("GET", "/imports", query={"limit": "1"})
    assert status == 200
    status, _ = cold_container()("GET", "/imports", query={"limit": "1", "next": page_after["next"]})
    assert status == 200                                        # the new key is shared again


def test_the_key_is_read_once_per_container(pipeline_aws, monkeypatch):
    calls = []
    secretsmanager = client("secretsmanager")
    real = secretsmanager.get_secret_value
    monkeypatch.setattr(secretsmanager, "get_secret_value", lambda **kw: calls.append(kw) or real(**kw))
    cursor = cursors.encode({"after": "x"}, "imports")
    assert cursors.decode(cursor, "imports") == {"after": "x"}
    cursors.encode({"after": "y"}, "imports")
    assert calls == [{"SecretId": get_settings().cursor_secret_arn}]


def test_without_a_configured_key_cursors_fail_clearly(pipeline_aws, monkeypatch):
    monkeypatch.delenv("CURSOR_SECRET_ARN")
    get_settings.cache_clear()
    with pytest.raises(cursors.CursorKeyMissing, match="CURSOR_SECRET_ARN is not set"):
        cursors.encode({"after": "x"}, "imports")
