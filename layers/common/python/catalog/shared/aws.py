"""boto3 clients, created once per process and reused across invocations.

Endpoints come from the standard AWS_ENDPOINT_URL* variables, which is all the local
cloud changes: the same code talks to AWS or to the emulators.
"""
from __future__ import annotations

import threading
from functools import lru_cache

import boto3
from botocore.config import Config

_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 8},
    max_pool_connections=50,
    connect_timeout=5,
    read_timeout=60,
)
_lock = threading.Lock()


@lru_cache(maxsize=None)
def client(service: str):
    # boto3's default session is not thread-safe to create clients from; the local cloud
    # runs several handlers in threads.
    with _lock:
        return boto3.session.Session().client(service, config=_CONFIG)
