"""Webhook settings, from the environment the template (or the local cloud) sets."""
from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_SCHEDULE = (60, 300, 1800, 7200, 43200)


@dataclass(frozen=True)
class WebhookConfig:
    table: str
    deliveries_queue_url: str
    slow_queue_url: str
    dead_letter_queue_url: str
    retry_schedule: tuple[int, ...]      # delay before attempt 2, 3, ...; attempts = len + 1
    allow_private_targets: bool          # loopback/private targets (local development only)
    timeout_seconds: float               # per attempt
    slow_cooldown_seconds: int           # how long an endpoint that timed out stays in the slow lane
    disable_after_seconds: int           # an endpoint failing continuously this long is disabled
    log_ttl_seconds: int                 # how long delivery records are kept
    max_response_bytes: int = 4096

    @property
    def max_attempts(self) -> int:
        return len(self.retry_schedule) + 1


def parse_schedule(text: str) -> tuple[int, ...]:
    values = tuple(int(float(v)) for v in text.replace(" ", "").split(",") if v)
    if any(v < 0 for v in values):
        raise ValueError("retry delays must not be negative")
    return values


def _bool(value: str | None, default: bool) -> bool:
    if value is None or not value.strip():
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _num(env, name: str, default: float) -> float:
    value = env.get(name, "")
    return float(value) if value.strip() else default


def get_config() -> WebhookConfig:
    """Read on every call: it is cheap, and tests change the environment between cases."""
    env = os.environ
    schedule = env.get("WEBHOOK_RETRY_SCHEDULE", "")
    return WebhookConfig(
        table=env.get("WEBHOOKS_TABLE", "webhooks"),
        deliveries_queue_url=env.get("WEBHOOK_DELIVERIES_QUEUE_URL", ""),
        slow_queue_url=env.get("WEBHOOK_SLOW_QUEUE_URL", "") or env.get("WEBHOOK_DELIVERIES_QUEUE_URL", ""),
        dead_letter_queue_url=env.get("WEBHOOK_DEAD_LETTER_QUEUE_URL", ""),
        retry_schedule=parse_schedule(schedule) if schedule.strip() else DEFAULT_SCHEDULE,
        allow_private_targets=_bool(env.get("WEBHOOK_ALLOW_PRIVATE_TARGETS"), False),
        timeout_seconds=_num(env, "WEBHOOK_TIMEOUT_SECONDS", 10.0),
        slow_cooldown_seconds=int(_num(env, "WEBHOOK_SLOW_COOLDOWN_SECONDS", 300)),
        disable_after_seconds=int(_num(env, "WEBHOOK_DISABLE_AFTER_SECONDS", 5 * 86400)),
        log_ttl_seconds=int(_num(env, "WEBHOOK_LOG_TTL_SECONDS", 30 * 86400)),
    )
