"""Signing per the Standard Webhooks specification (https://www.standardwebhooks.com/).

`webhook-signature` = space-separated `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, where
the key is the base64-decoded part of the `whsec_...` secret. During a secret rotation both the new
and the previous secret sign, so receivers can switch over at their pace.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

PREFIX = "whsec_"


def generate_secret(num_bytes: int = 32) -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(num_bytes)).decode()


def secret_hint(secret: str) -> str:
    """What may be shown after creation: the prefix and the last four characters."""
    return f"{PREFIX}…{secret[-4:]}"


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def sign(secret: str, msg_id: str, timestamp: int, body: str | bytes) -> str:
    if isinstance(body, bytes):
        body = body.decode()
    content = f"{msg_id}.{timestamp}.{body}".encode()
    return "v1," + base64.b64encode(hmac.new(_key(secret), content, hashlib.sha256).digest()).decode()


def headers(secrets_: list[str], msg_id: str, body: str | bytes, timestamp: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(s, msg_id, timestamp, body) for s in secrets_ if s),
    }
