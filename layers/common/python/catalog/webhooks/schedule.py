"""The retry schedule: delays between attempts, jittered, delivered through SQS message delays.

SQS delays a message at most 15 minutes; longer waits are chained: the message carries the
time it is due (`not_before`) and is re-sent with the remaining delay until it is due.
"""
from __future__ import annotations

import math
import random
import time

SQS_MAX_DELAY = 900


def retry_delay(schedule: tuple[int, ...], failed_attempt: int, jitter: float = 0.1) -> float | None:
    """Seconds to wait after attempt number `failed_attempt` (1-based) failed; None when none is left."""
    if failed_attempt < 1 or failed_attempt > len(schedule):
        return None
    base = schedule[failed_attempt - 1]
    return max(0.0, base * (1 + random.uniform(-jitter, jitter)))


def sqs_delay(not_before: float | None, now: float | None = None) -> int:
    """The DelaySeconds for a message due at `not_before` (0..900)."""
    if not not_before:
        return 0
    remaining = not_before - (time.time() if now is None else now)
    return max(0, min(SQS_MAX_DELAY, math.ceil(remaining)))


def is_due(not_before: float | None, now: float | None = None, slack: float = 0.5) -> bool:
    return not not_before or (time.time() if now is None else now) >= not_before - slack
