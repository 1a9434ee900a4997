"""Signing (checked with the independent `standardwebhooks` package), retry schedule, configuration."""
import base64
import json
import os

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from catalog.shared.settings import settings_from
from catalog.webhooks import schedule, signing


def test_secret_format_is_standard_webhooks():
    secret = signing.generate_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) >= 24
    assert signing.generate_secret() != secret
    assert signing.secret_hint(secret).endswith(secret[-4:]) and secret not in signing.secret_hint(secret)


def test_headers_verify_with_standardwebhooks():
    secret = signing.generate_secret()
    body = json.dumps({"type": "product.created", "timestamp": "2024-01-01T00:00:00Z", "data": {"sku": "a-1"}})
    headers = signing.headers([secret], "msg_123", body)
    assert Webhook(secret).verify(body, headers) == json.loads(body)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.generate_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace("a-1", "a-2"), headers)


def test_rotation_signs_with_both_secrets():
    old, new = signing.generate_secret(), signing.generate_secret()
    body = '{"type":"x","timestamp":"t","data":{}}'
    headers = signing.headers([new, old], "msg_1", body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(body, headers)
    Webhook(new).verify(body, headers)


def test_retry_delays_follow_schedule_with_jitter():
    sched = (60, 300, 1800)
    for attempt, base in enumerate(sched, start=1):
        for _ in range(50):
            delay = schedule.retry_delay(sched, attempt)
            assert base * 0.9 <= delay <= base * 1.1
    assert schedule.retry_delay(sched, 4) is None
    assert schedule.retry_delay((), 1) is None


def test_long_delays_are_chained_in_15_minute_steps():
    now = 1_000_000.0
    assert schedule.sqs_delay(None, now) == 0
    assert schedule.sqs_delay(now + 42.2, now) == 43
    assert schedule.sqs_delay(now + 7200, now) == 900
    assert not schedule.is_due(now + 7200, now)
    assert schedule.is_due(now + 0.2, now)


def test_config_from_environment(monkeypatch):
    monkeypatch.setenv("WEBHOOK_RETRY_SCHEDULE", "1, 1,2")
    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")
    monkeypatch.setenv("WEBHOOK_TIMEOUT_SECONDS", "1.5")
    cfg = settings_from(os.environ).webhooks
    assert cfg.retry_schedule == (1, 1, 2) and cfg.max_attempts == 4
    assert cfg.allow_private_targets is True and cfg.timeout_seconds == 1.5
    monkeypatch.delenv("WEBHOOK_RETRY_SCHEDULE")
    monkeypatch.delenv("WEBHOOK_ALLOW_PRIVATE_TARGETS")
    cfg = settings_from(os.environ).webhooks
    assert cfg.retry_schedule == (60, 300, 1800, 7200, 43200) and cfg.allow_private_targets is False
